//! F16 and BF16 weights, kept in their 16 bits, as GGUF stores them.
//!
//! `y[r][j] = Σ_i x̃[r][i] · W[j][i]`, where `x̃` is each activation rounded to the weights'
//! own format first, as llama.cpp rounds them for these types. The sum has one fixed
//! order, the same on every ISA:
//!
//! ```text
//! lane l (0..8):  a_l = Σ_{i ≡ l (mod 8)} x̃_i · w_i     in increasing i, from 0
//! y = ((a_0 + a_4) + (a_2 + a_6)) + ((a_1 + a_5) + (a_3 + a_7))
//! ```
//!
//! Each product of two F16 (or two BF16) values is exact in f32 away from BF16's extreme
//! exponents, and the multiply and the add round apart (never fused), so a portable loop
//! and 8-lane SIMD give the same bits, for any batch and any thread count.

use crate::bytes::WeightBytes;
use crate::error::QuantError;
use crate::isa::Isa;
use half::{bf16, f16};
use rayon::prelude::*;

/// Lanes of the fixed summation order.
const LANES: usize = 8;

/// A 16-bit float format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HalfFormat {
    /// IEEE half precision.
    F16,
    /// bfloat16: f32's exponent, 8 bits of significand.
    Bf16,
}

impl HalfFormat {
    /// The format of GGML type id `id` (1 F16, 30 BF16), if it is one.
    pub fn from_ggml(id: u32) -> Option<Self> {
        match id {
            1 => Some(HalfFormat::F16),
            30 => Some(HalfFormat::Bf16),
            _ => None,
        }
    }

    /// GGML's name.
    pub fn name(self) -> &'static str {
        match self {
            HalfFormat::F16 => "F16",
            HalfFormat::Bf16 => "BF16",
        }
    }

    fn widen(self, bits: u16) -> f32 {
        match self {
            HalfFormat::F16 => f16::from_bits(bits).to_f32(),
            HalfFormat::Bf16 => bf16::from_bits(bits).to_f32(),
        }
    }

    /// `x` rounded to this format (to nearest, ties to even), as an f32.
    fn round(self, x: f32) -> f32 {
        match self {
            HalfFormat::F16 => f16::from_f32(x).to_f32(),
            HalfFormat::Bf16 => bf16::from_f32(x).to_f32(),
        }
    }
}

/// `n` rows of `k` weights in F16 or BF16.
#[derive(Debug, Clone)]
pub struct HalfMatrix {
    format: HalfFormat,
    n: usize,
    k: usize,
    bytes: WeightBytes,
}

impl HalfMatrix {
    /// Checks that `bytes` hold `n × k` values of `format`.
    pub fn new(
        format: HalfFormat,
        n: usize,
        k: usize,
        bytes: impl Into<WeightBytes>,
    ) -> Result<Self, QuantError> {
        let bytes = bytes.into();
        let expected = n * k * 2;
        if bytes.len() != expected || k == 0 {
            return Err(QuantError::WrongSize {
                format: format.name(),
                n,
                k,
                expected,
                got: bytes.len(),
            });
        }
        Ok(HalfMatrix {
            format,
            n,
            k,
            bytes,
        })
    }

    /// Output rows.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Inputs per row.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The weights' format.
    pub fn format(&self) -> HalfFormat {
        self.format
    }

    fn row_bits(&self, j: usize) -> impl Iterator<Item = u16> + '_ {
        self.bytes[2 * j * self.k..2 * (j + 1) * self.k]
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    /// Row `j` as f32 values (an embedding row).
    pub fn row(&self, j: usize) -> Vec<f32> {
        self.row_bits(j).map(|b| self.format.widen(b)).collect()
    }

    /// `rows × n` outputs of `rows × k` activations (`x.len()` a multiple of `k`) on the
    /// default ISA ([`crate::default_isa`]).
    pub fn matmul_f32(&self, x: &[f32]) -> Result<Vec<f32>, QuantError> {
        self.matmul_f32_on(crate::default_isa(), x)
    }

    /// As [`HalfMatrix::matmul_f32`], on `isa`: AVX2 (with F16C) has its own kernel, every
    /// other ISA the portable loop; all give the same bits.
    pub fn matmul_f32_on(&self, isa: Isa, x: &[f32]) -> Result<Vec<f32>, QuantError> {
        if !x.len().is_multiple_of(self.k) {
            return Err(QuantError::Shape {
                expected: self.k,
                got: x.len() % self.k,
            });
        }
        if let Some(at) = x.iter().position(|v| !v.is_finite()) {
            return Err(QuantError::NonFinite {
                row: at / self.k,
                col: at % self.k,
                value: x[at],
            });
        }
        if !crate::isa_available(isa) {
            return Err(QuantError::Unsupported(isa.name()));
        }
        let rounded: Vec<f32> = x.iter().map(|&v| self.format.round(v)).collect();
        let rows = x.len() / self.k;
        let mut out = vec![0f32; rows * self.n];
        // Weight rows in parallel; each output is one row's own sum, whoever computes it.
        let mut columns = vec![0f32; self.n * rows];
        columns
            .par_chunks_mut(rows)
            .enumerate()
            .for_each(|(j, outputs)| {
                let w = &self.bytes[2 * j * self.k..2 * (j + 1) * self.k];
                for (r, y) in outputs.iter_mut().enumerate() {
                    let xr = &rounded[r * self.k..(r + 1) * self.k];
                    *y = dot(isa, self.format, w, xr);
                }
            });
        for (j, outputs) in columns.chunks_exact(rows).enumerate() {
            for (r, y) in outputs.iter().enumerate() {
                out[r * self.n + j] = *y;
            }
        }
        Ok(out)
    }
}

fn dot(isa: Isa, format: HalfFormat, w: &[u8], x: &[f32]) -> f32 {
    let lanes = match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `matmul_f32_on` checked that this CPU runs `isa`, which has AVX2 and F16C;
        // `w` holds `x.len()` 16-bit values.
        Isa::Avx2 | Isa::Avx512Vnni => unsafe { x86::lanes(format, w, x) },
        _ => portable_lanes(format, w, x),
    };
    ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6]))
        + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))
}

/// The 8 lane sums of the definition, plainly.
fn portable_lanes(format: HalfFormat, w: &[u8], x: &[f32]) -> [f32; LANES] {
    let mut lanes = [0f32; LANES];
    for (i, (b, xi)) in w.chunks_exact(2).zip(x).enumerate() {
        let wi = format.widen(u16::from_le_bytes([b[0], b[1]]));
        let product = wi * xi;
        lanes[i % LANES] += product;
    }
    lanes
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{HalfFormat, LANES};
    use std::arch::x86_64::*;

    /// The 8 lane sums: whole groups of 8 in registers, the tail as the portable loop.
    ///
    /// # Safety
    /// AVX2 and F16C; `w` holds `x.len()` 16-bit values.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn lanes(format: HalfFormat, w: &[u8], x: &[f32]) -> [f32; LANES] {
        let whole = x.len() / LANES * LANES;
        let mut acc = _mm256_setzero_ps();
        for i in (0..whole).step_by(LANES) {
            // SAFETY: 16 bytes of weights and 8 floats lie at `i` (i + 8 ≤ whole).
            unsafe {
                let bits = _mm_loadu_si128(w.as_ptr().add(2 * i).cast());
                let wv = match format {
                    HalfFormat::F16 => _mm256_cvtph_ps(bits),
                    HalfFormat::Bf16 => {
                        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16))
                    }
                };
                let xv = _mm256_loadu_ps(x.as_ptr().add(i));
                acc = _mm256_add_ps(acc, _mm256_mul_ps(wv, xv));
            }
        }
        let mut lanes = [0f32; LANES];
        // SAFETY: 8 floats into 8 slots.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        for i in whole..x.len() {
            let wi = format.widen(u16::from_le_bytes([w[2 * i], w[2 * i + 1]]));
            lanes[i % LANES] += wi * x[i];
        }
        lanes
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bad_sizes_and_values_are_typed_errors() {
        assert!(matches!(
            HalfMatrix::new(HalfFormat::F16, 2, 4, vec![0u8; 15]),
            Err(QuantError::WrongSize { expected: 16, .. })
        ));
        let m = HalfMatrix::new(HalfFormat::Bf16, 2, 4, vec![0u8; 16]).unwrap();
        assert!(matches!(
            m.matmul_f32(&[0.0; 5]),
            Err(QuantError::Shape { .. })
        ));
        assert!(matches!(
            m.matmul_f32(&[0.0, f32::NAN, 0.0, 0.0]),
            Err(QuantError::NonFinite { row: 0, col: 1, .. })
        ));
    }
}
