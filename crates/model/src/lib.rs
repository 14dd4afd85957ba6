//! # dial-model
//!
//! Real language models for dial: a GGUF file mapped into memory, its tokenizer rebuilt
//! from the file's metadata, generation through dial's sampler, batched steps for the
//! server's engine, and llama.cpp's perplexity protocol. Every architecture (Gemma 3, the
//! default 270M; llama; qwen2; qwen3) runs on dial's own forward pass and quantized
//! kernels (dial-quant), batched and batch-invariant, each one implementation of a trait
//! (`arch/`) over a shared transformer.

mod arch;
mod batch;
mod error;
mod explain;
mod generate;
mod hidden;
mod linear;
mod math;
mod model;
mod perplexity;
mod pre_tokenizer;
mod prompt_logprob;
pub mod tiny;
mod tokenizer;
mod transformer;

pub use batch::{BatchStep, StepOutcome, step_batch};
pub use error::{ModelError, panic_message};
pub use generate::{FinishReason, GenerateOptions, Generation, MAX_REWINDS, Step};
pub use hidden::Hidden;
pub use model::{Model, PREFILL_CHUNK, Session, StepInput};
pub use perplexity::{Perplexity, token_nll};
pub use prompt_logprob::{PromptLogprob, PromptScoring};
pub use tokenizer::{TextStream, Tokenizer};
pub use transformer::{
    Activation, Blueprint, KvCache, MAX_ROWS_PER_SEQUENCE, RopeFrequencies, RopeLayout,
    Transformer, Windows,
};
