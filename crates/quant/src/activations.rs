//! Activation rows quantized once, the same way for every batch size.

use crate::error::QuantError;

/// Values per activation block for the 32-value formats (Q4_0, Q5_0, Q8_0).
pub const ACT_BLOCK: usize = 32;

/// Values per activation block for the k-quants (Q2_K to Q6_K) and IQ4_XS: one scale per 256-value
/// super-block, so their sub-block scales fold in integers.
pub const K_ACT_BLOCK: usize = 256;

/// `y.round()` (halves away from zero), bit for bit, from `trunc` and a compare, which
/// vectorize where `round` is a libm call per value. `y − trunc(y)` is exact.
#[inline]
fn round_half_away(y: f32) -> f32 {
    let t = y.trunc();
    if (y - t).abs() >= 0.5 {
        t + 1f32.copysign(y)
    } else {
        t
    }
}

/// Rows of activations as int8 blocks of [`ACT_BLOCK`] (or [`K_ACT_BLOCK`]) values with
/// one scale each.
///
/// For a block `x`: `d = max|x| / 127`, `q_i = round(x_i / d)` (halves away from zero; 0
/// when `d = 0`), and `x_i ≈ d · q_i`. A 32-value block keeps `d` rounded to f16 and a
/// 256-value block keeps it in f32, as ggml's Q8_0/Q8_1 and Q8_K do, so dial's rounding
/// matches llama.cpp's. Each row is quantized alone, so a row's blocks do not depend on
/// the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedActivations {
    rows: usize,
    k: usize,
    block: usize,
    quants: Vec<i8>,
    scales: Vec<f32>,
    /// The sum of every 16 values (exact): what the tiled kernels take a weight bias (and
    /// Q4_K's offsets) back out with.
    sums16: Vec<i32>,
}

impl QuantizedActivations {
    /// Quantizes `rows` rows of `k` values each (`x.len() == rows · k`, `k` a multiple of
    /// [`ACT_BLOCK`]) in blocks of [`ACT_BLOCK`]. NaN or infinite values are an error.
    pub fn new(x: &[f32], k: usize) -> Result<Self, QuantError> {
        Self::with_block(x, k, ACT_BLOCK)
    }

    /// [`QuantizedActivations::new`] in blocks of `block` values: [`ACT_BLOCK`] or
    /// [`K_ACT_BLOCK`] (what [`crate::QuantFormat::activation_block`] asks for).
    pub fn with_block(x: &[f32], k: usize, block: usize) -> Result<Self, QuantError> {
        if block != ACT_BLOCK && block != K_ACT_BLOCK {
            return Err(QuantError::ActivationBlock {
                expected: ACT_BLOCK,
                got: block,
            });
        }
        if k == 0 || !k.is_multiple_of(block) {
            return Err(QuantError::RaggedRow {
                k,
                block,
                format: "activation",
            });
        }
        if !x.len().is_multiple_of(k) {
            return Err(QuantError::Shape {
                expected: k,
                got: x.len(),
            });
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(QuantError::NonFinite {
                row: i / k,
                col: i % k,
                value: x[i],
            });
        }
        let mut quants = vec![0i8; x.len()];
        let mut scales = Vec::with_capacity(x.len() / block);
        for (values, out) in x.chunks_exact(block).zip(quants.chunks_exact_mut(block)) {
            let amax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let inverse = if d > 0.0 { 1.0 / d } else { 0.0 };
            for (q, v) in out.iter_mut().zip(values) {
                *q = round_half_away(v * inverse).clamp(-127.0, 127.0) as i8;
            }
            scales.push(if block == ACT_BLOCK {
                half::f16::from_f32(d).to_f32()
            } else {
                d
            });
        }
        let sums16 = quants
            .chunks_exact(16)
            .map(|run| run.iter().map(|&q| i32::from(q)).sum::<i32>())
            .collect();
        Ok(QuantizedActivations {
            rows: x.len() / k,
            k,
            block,
            quants,
            scales,
            sums16,
        })
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Values per block (one scale each).
    pub fn block(&self) -> usize {
        self.block
    }

    /// Row `r`'s int8 values.
    pub fn quants(&self, r: usize) -> &[i8] {
        &self.quants[r * self.k..(r + 1) * self.k]
    }

    /// Row `r`'s block scales.
    pub fn scales(&self, r: usize) -> &[f32] {
        let per = self.k / self.block;
        &self.scales[r * per..(r + 1) * per]
    }

    /// Row `r`'s sums of every 16 values (exact).
    pub(crate) fn sums16(&self, r: usize) -> &[i32] {
        let per = self.k / 16;
        &self.sums16[r * per..(r + 1) * per]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_half_away_is_round_bit_for_bit() {
        let mut cases = vec![
            0.0f32, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, 126.5, -126.5, 127.49,
        ];
        // Around every half-integer in the activation range, a few ulps each way.
        for h in -255..=255 {
            let half = h as f32 * 0.5;
            let mut v = half;
            for _ in 0..4 {
                v = v.next_down();
            }
            for _ in 0..8 {
                cases.push(v);
                v = v.next_up();
            }
        }
        for v in cases {
            assert_eq!(
                super::round_half_away(v).to_bits(),
                v.round().to_bits(),
                "{v}"
            );
        }
    }
}
