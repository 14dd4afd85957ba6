//! # dial-model
//!
//! Real language models for dial: a GGUF file loaded with candle's quantized tensors,
//! its tokenizer rebuilt from the file's metadata, generation through dial's sampler,
//! and llama.cpp's perplexity protocol. Gemma 3 (the default, 270M) runs on dial's own
//! forward pass.

mod error;
mod gemma3;
mod model;
mod tokenizer;

pub use error::ModelError;
pub use gemma3::{Config as Gemma3Config, Gemma3};
pub use model::Model;
pub use tokenizer::{TextStream, Tokenizer};
