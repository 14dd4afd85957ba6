//! dial's quantized matmul, for GGML's block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, the
//! k-quants Q2_K to Q6_K, IQ4_NL and IQ4_XS), and F16 and BF16 weights ([`HalfMatrix`]).
//!
//! `y[r][n] = Σ_k x[r][k] · W[n][k]`, with `W` stored as GGUF stores it: `n` rows of `k`
//! values, block-quantized along `k`. What makes it dial's:
//!
//! - **One activation quantization.** Each activation row is quantized to int8 blocks with
//!   one f32 scale (`d = max|x| / 127`, `q = round(x / d)`): 32 values a block for the
//!   32-value formats, 256 for the k-quants and IQ4_XS ([`QuantizedActivations`]), the same way
//!   whatever the number of rows in the batch.
//! - **A fixed reduction order.** Each output is one row's blocks in order: exact integer
//!   dot products (a k-quant super-block's sub-block scales folded in integers), combined
//!   with the scales in f32, summed from the first block to the last. The definition is
//!   [`QuantMatrix::matmul_reference`] (`reference.rs`). No output depends on the other
//!   rows, on where its row sits in the batch, or on how many threads share the work.
//! - **The same bits on every ISA.** The kernels run on AVX-512 VNNI, AVX2, NEON with
//!   `sdot`, or portable Rust ([`Isa`]), chosen at run time; all compute the same exact
//!   integer dots and the same unfused f32 operations in the same order.
//! - **Weights read once per step.** At load the rows are laid out in panels of 8
//!   (`panels`; as compact as the file) or, for AVX-512's 32-value formats, tiles of 16
//!   (`tiles.rs`): one instruction feeds 8 or 16 outputs, and each panel or tile is read
//!   once for every activation row of the step.

mod activations;
mod bytes;
mod error;
mod format;
mod half_matrix;
mod isa;
mod matrix;
mod panels;
mod reference;
mod target;
mod tiles;
mod unpacked;

pub use activations::{ACT_BLOCK, K_ACT_BLOCK, QuantizedActivations};
pub use bytes::WeightBytes;
pub use error::QuantError;
pub use format::QuantFormat;
pub use half_matrix::{HalfFormat, HalfMatrix};
pub use isa::Isa;
pub use matrix::QuantMatrix;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

/// What [`QuantMatrix::matmul`] runs on: 0 until first use, then 1 + the index in
/// [`Isa::available`].
static DEFAULT_ISA: AtomicU8 = AtomicU8::new(0);

fn available() -> &'static [Isa] {
    static AVAILABLE: OnceLock<Vec<Isa>> = OnceLock::new();
    AVAILABLE.get_or_init(Isa::available)
}

pub(crate) fn isa_available(isa: Isa) -> bool {
    available().contains(&isa)
}

/// The ISA [`QuantMatrix::matmul`] uses: the one set by [`set_default_isa`], else the
/// `DIAL_ISA` environment variable (`portable`, `avx2`, `avx512vnni`, `neon-dot`, `neon-i8mm`) when
/// this CPU has it, else the fastest.
pub fn default_isa() -> Isa {
    let isas = available();
    match DEFAULT_ISA.load(Ordering::Relaxed) {
        0 => {
            let asked = std::env::var("DIAL_ISA")
                .ok()
                .as_deref()
                .and_then(Isa::from_name);
            let chosen = isas
                .iter()
                .position(|isa| Some(*isa) == asked)
                .unwrap_or(isas.len() - 1);
            DEFAULT_ISA.store(chosen as u8 + 1, Ordering::Relaxed);
            isas[chosen]
        }
        i => isas[usize::from(i) - 1],
    }
}

/// Makes [`QuantMatrix::matmul`] run on `isa` from now on, process-wide.
pub fn set_default_isa(isa: Isa) -> Result<(), QuantError> {
    let i = available()
        .iter()
        .position(|a| *a == isa)
        .ok_or(QuantError::Unsupported(isa.name()))?;
    DEFAULT_ISA.store(i as u8 + 1, Ordering::Relaxed);
    Ok(())
}
