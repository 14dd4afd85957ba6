//! # dial-model
//!
//! Real language models for dial: a GGUF file loaded with candle's quantized tensors,
//! its tokenizer rebuilt from the file's metadata, generation through dial's sampler,
//! and llama.cpp's perplexity protocol. Gemma 3 (the default, 270M) runs on dial's own
//! forward pass; llama, qwen2 and qwen3 files run on candle-transformers' quantized models.

mod candle_net;
mod error;
mod explain;
mod gemma3;
mod generate;
mod model;
mod perplexity;
pub mod tiny;
mod tokenizer;

pub use error::ModelError;
pub use gemma3::{Config as Gemma3Config, Gemma3, Gemma3Cache};
pub use generate::{FinishReason, GenerateOptions, Generation, Step};
pub use model::{Model, PREFILL_CHUNK, Session};
pub use perplexity::Perplexity;
pub use tokenizer::{TextStream, Tokenizer};
