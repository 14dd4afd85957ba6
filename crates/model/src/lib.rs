//! # dial-model
//!
//! Real language models for dial: a GGUF file mapped into memory, its tokenizer rebuilt
//! from the file's metadata, generation through dial's sampler, batched steps for the
//! server's engine, and llama.cpp's perplexity protocol. Gemma 3 (the default, 270M) runs
//! on dial's own forward pass and quantized kernels (dial-quant), batch-invariant; llama,
//! qwen2 and qwen3 files run on candle-transformers' quantized models, one sequence at a
//! time.

mod batch;
mod candle_net;
mod error;
mod explain;
mod gemma3;
mod generate;
mod hidden;
mod linear;
mod math;
mod model;
mod perplexity;
pub mod tiny;
mod tokenizer;

pub use batch::{BatchStep, StepOutcome, step_batch};
pub use error::{ModelError, panic_message};
pub use gemma3::{Config as Gemma3Config, Gemma3, Gemma3Cache, MAX_ROWS_PER_SEQUENCE};
pub use generate::{FinishReason, GenerateOptions, Generation, Step};
pub use hidden::Hidden;
pub use model::{Model, PREFILL_CHUNK, Session, StepInput};
pub use perplexity::{Perplexity, token_nll};
pub use tokenizer::{TextStream, Tokenizer};
