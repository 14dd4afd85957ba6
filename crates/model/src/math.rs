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
