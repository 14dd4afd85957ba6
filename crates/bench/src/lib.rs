//! Rows and contenders shared by dial's benchmarks, so every contender sees the same
//! logits. The benchmarks live in `benches/`; `scripts/bench-table` turns their output into
//! the table in `BENCHMARKS.md`.

use dial_sampling::DialRng;
mod cephes;
pub use cephes::cephes_log_sum_exp;

/// Vocabulary sizes benchmarked: Llama 2, Llama 3, Qwen 2, Gemma 3.
pub const VOCABS: [usize; 4] = [32_000, 128_256, 151_936, 262_144];

/// The shape of a benchmark row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Gumbel noise with scale β = 1.5: a few tokens stand out, like a confident model.
    Peaked,
    /// Normal noise with σ = 3: a broad head, like an unsure model.
    Flat,
}

impl Shape {
    /// Name used in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Peaked => "peaked",
            Shape::Flat => "flat",
        }
    }
}

/// A deterministic row of `v` logits of the given shape.
pub fn row(shape: Shape, v: usize, seed: u64) -> Vec<f32> {
    let mut rng = DialRng::new(seed);
    (0..v)
        .map(|_| match shape {
            Shape::Peaked => {
                let u = 1.0 - rng.uniform(); // (0, 1]
                (-1.5 * (-(u.ln())).max(f64::MIN_POSITIVE).ln()) as f32
            }
            Shape::Flat => {
                let u1 = 1.0 - rng.uniform();
                let u2 = rng.uniform();
                (3.0 * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            }
        })
        .collect()
}

/// One plain read of the row: its max in 16 lanes, with dial's portable scalar kernel
/// (compiled for the baseline target, so the compiler vectorises it with SSE only).
pub fn read_max(xs: &[f32]) -> f32 {
    dial_sampling::kernels::max(xs, dial_sampling::Isa::Scalar)
}

/// Settings of the naive reference.
#[derive(Debug, Clone, Copy)]
pub struct Naive {
    /// Temperature.
    pub temperature: f32,
    /// `0` = off.
    pub top_k: usize,
    /// `1` = off.
    pub top_p: f32,
    /// `0` = off.
    pub min_p: f32,
}

/// The textbook sampler: softmax with libm `exp`, a full sort of the vocabulary, then
/// top_k, top_p and min_p on the sorted list, renormalise, and an inverse-CDF draw.
/// Allocates per call, like most hand-written samplers.
pub fn naive_sample(logits: &[f32], s: Naive, u: f64) -> u32 {
    let inv_t = 1.0 / s.temperature;
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &x)| (i as u32, ((x - m) * inv_t).exp()))
        .collect();
    let z: f32 = probs.iter().map(|p| p.1).sum();
    for p in &mut probs {
        p.1 /= z;
    }
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if s.top_k > 0 {
        probs.truncate(s.top_k);
    }
    if s.top_p < 1.0 {
        let mut cum = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            cum += p.1;
            if cum >= s.top_p {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep);
    }
    if s.min_p > 0.0 {
        let bar = s.min_p * probs[0].1;
        probs.retain(|p| p.1 >= bar);
    }
    let total: f64 = probs.iter().map(|p| f64::from(p.1)).sum();
    let target = u * total;
    let mut cum = 0.0;
    for p in &probs {
        cum += f64::from(p.1);
        if cum > target {
            return p.0;
        }
    }
    probs.last().map_or(0, |p| p.0)
}

/// A deterministic spread of `len` values in `[-scale, scale)` (xorshift32 from `seed`),
/// for the quantized-matmul benchmarks' weights and activations.
pub fn spread(len: usize, scale: f32, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Every quantized matrix shape of Gemma 3 270M's Q4_K_M file: (tensor, format, k, n).
pub const GEMMA3_SHAPES: &[(&str, dial_quant::QuantFormat, usize, usize)] = &[
    ("attn_q", dial_quant::QuantFormat::Q5_0, 640, 1024),
    ("attn_k", dial_quant::QuantFormat::Q5_0, 640, 256),
    ("ffn_up", dial_quant::QuantFormat::Q5_0, 640, 2048),
    ("attn_output", dial_quant::QuantFormat::Q4K, 1024, 640),
    ("ffn_down", dial_quant::QuantFormat::Q6K, 2048, 640),
    ("ffn_down", dial_quant::QuantFormat::Q4K, 2048, 640),
    ("attn_v", dial_quant::QuantFormat::Q8_0, 640, 256),
    ("token_embd", dial_quant::QuantFormat::Q8_0, 640, 262_144),
];

/// candle's name for a dial-quant format (the benchmarks quantize with candle).
#[cfg(feature = "candle")]
pub fn ggml_type(format: dial_quant::QuantFormat) -> candle_core::quantized::GgmlDType {
    use candle_core::quantized::GgmlDType;
    use dial_quant::QuantFormat;
    match format {
        QuantFormat::Q4_0 => GgmlDType::Q4_0,
        QuantFormat::Q4_1 => GgmlDType::Q4_1,
        QuantFormat::Q5_0 => GgmlDType::Q5_0,
        QuantFormat::Q5_1 => GgmlDType::Q5_1,
        QuantFormat::Q8_0 => GgmlDType::Q8_0,
        QuantFormat::Q2K => GgmlDType::Q2K,
        QuantFormat::Q3K => GgmlDType::Q3K,
        QuantFormat::Q4K => GgmlDType::Q4K,
        QuantFormat::Q5K => GgmlDType::Q5K,
        QuantFormat::Q6K => GgmlDType::Q6K,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_deterministic_and_shaped() {
        let peaked = row(Shape::Peaked, 4096, 1);
        assert_eq!(peaked, row(Shape::Peaked, 4096, 1));
        assert!(peaked.iter().all(|x| x.is_finite()));
        let flat = row(Shape::Flat, 4096, 1);
        let mean = flat.iter().map(|&x| f64::from(x)).sum::<f64>() / 4096.0;
        let var = flat
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / 4096.0;
        assert!((var.sqrt() - 3.0).abs() < 0.2, "σ = {}", var.sqrt());
        assert_eq!(
            read_max(&flat),
            flat.iter().copied().fold(f32::MIN, f32::max)
        );
    }

    #[test]
    fn naive_reference_keeps_the_top_token_at_p_zero() {
        let r = row(Shape::Flat, 1000, 2);
        let best = r
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i as u32);
        let s = Naive {
            temperature: 1.0,
            top_k: 0,
            top_p: 0.0,
            min_p: 0.0,
        };
        assert_eq!(Some(naive_sample(&r, s, 0.7)), best);
    }
}
