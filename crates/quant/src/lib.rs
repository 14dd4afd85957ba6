//! dial's quantized matmul, for the GGML block formats of the default model (Q4_K, Q5_0,
//! Q6_K, Q8_0) and Q4_0.
//!
//! `y[r][n] = Σ_k x[r][k] · W[n][k]`, with `W` stored as GGUF stores it: `n` rows of `k`
//! values, block-quantized along `k`. What makes it dial's:
//!
//! - **One activation quantization.** Each activation row is quantized to blocks of 32
//!   int8 values with one f32 scale (`d = max|x| / 127`, `q = round(x / d)`), the same way
//!   whatever the number of rows in the batch ([`QuantizedActivations`]).
//! - **A fixed reduction order.** Each output is one row's blocks in order: an exact
//!   integer dot product per 32-value block, combined with its scales in f32, summed from
//!   the first block to the last. No output depends on the other rows, on where its row
//!   sits in the batch, or on how many threads share the work.
//!
//! This is the scalar reference; SIMD paths must give the same bits.

mod activations;
mod error;
mod format;
mod matrix;

pub use activations::{ACT_BLOCK, QuantizedActivations};
pub use error::QuantError;
pub use format::QuantFormat;
pub use matrix::QuantMatrix;
