//! The f32 pieces of the forward pass, each in one fixed order of operations, so a row's
//! result never depends on the rows around it.

/// `Σ a_i b_i` in 8 interleaved partial sums (vectorizes), then a fixed tree.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7])) + tail
}

/// [`dot`] of each of 4 rows `a` with `b`, with exactly its arithmetic (the same bits).
/// On AVX the 4 sums run side by side, each one chain of dependent adds in a register of
/// its own, and `b` is read once for all of them.
pub(crate) fn dots4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") && a.iter().all(|a| a.len() == b.len()) {
        // SAFETY: AVX is present; every row is as long as `b`.
        return unsafe { x86::dots4(a, b) };
    }
    a.map(|a| dot(a, b))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX; every row of `a` is `b.len()` long.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn dots4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
        let whole = b.len() / 8 * 8;
        let mut acc = [_mm256_setzero_ps(); 4];
        for c in (0..whole).step_by(8) {
            // SAFETY: c + 8 ≤ whole ≤ every row's length.
            unsafe {
                let y = _mm256_loadu_ps(b.as_ptr().add(c));
                for (acc, a) in acc.iter_mut().zip(&a) {
                    let x = _mm256_loadu_ps(a.as_ptr().add(c));
                    // Unfused, as `dot` computes each lane.
                    *acc = _mm256_add_ps(*acc, _mm256_mul_ps(x, y));
                }
            }
        }
        let mut out = [0f32; 4];
        for ((o, acc), a) in out.iter_mut().zip(acc).zip(a) {
            let mut lanes = [0f32; 8];
            // SAFETY: 8 floats into 8 slots.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
            let tail: f32 = a[whole..].iter().zip(&b[whole..]).map(|(x, y)| x * y).sum();
            *o = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6]))
                + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))
                + tail;
        }
        out
    }
}

/// RMSNorm of each `weight.len()`-wide row of `x`, in place:
/// `x ← x / √(mean(x²) + ε) · weight`.
pub(crate) fn rms_norm(x: &mut [f32], weight: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(weight.len()) {
        let mean = dot(row, row) / row.len() as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for (v, w) in row.iter_mut().zip(weight) {
            *v = *v * scale * w;
        }
    }
}

/// GELU, tanh form: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`, computed as the equal
/// `x / (1 + e^(−2u))`: one `expf` instead of `tanhf` (which costs an `expm1f` and
/// more), a third of the prefill time before. (dial's own vectorized `exp` was as fast
/// but moved a near-tie in the llama.cpp reference continuation.)
pub(crate) fn gelu(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    x / (1.0 + (-2.0 * u).exp())
}

/// Rotates one head (`x.len() = 2 · cos.len()`) by RoPE's half-split form:
/// `(x₁, x₂) ← (x₁ cos − x₂ sin, x₁ sin + x₂ cos)`.
pub(crate) fn rope(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    for i in 0..half {
        let (a, b) = (x[i], x[i + half]);
        x[i] = a * cos[i] - b * sin[i];
        x[i + half] = a * sin[i] + b * cos[i];
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dots4_is_dot_bit_for_bit() {
        // Lengths with and without a tail; values over many magnitudes.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2f32.powi((state % 9) as i32)
        };
        for len in [1, 7, 8, 9, 64, 255, 256, 259] {
            let b: Vec<f32> = (0..len).map(|_| next()).collect();
            let a: Vec<Vec<f32>> = (0..4).map(|_| (0..len).map(|_| next()).collect()).collect();
            let got = super::dots4([&a[0][..], &a[1][..], &a[2][..], &a[3][..]], &b);
            for (g, a) in got.iter().zip(&a) {
                assert_eq!(g.to_bits(), super::dot(a, &b).to_bits(), "length {len}");
            }
        }
    }
}
