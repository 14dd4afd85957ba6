//! The noise one sentence of one take runs with, drawn from dial's pinned RNG.
//!
//! - Stream: sentence `k` of a take with seed `s` (a `u32`, as ElevenLabs' seeds are)
//!   draws from `DialRng::new(k · 2^32 + s)`: ChaCha8 keyed by SplitMix64, the sampler's
//!   generator.
//! - Normals: Box–Muller on the pinned uniforms, `u₁ = 1 − uniform()` (so `u₁ ∈ (0, 1]`),
//!   `u₂ = uniform()`, giving `r·cos 2πu₂` then `r·sin 2πu₂` with `r = √(−2 ln u₁)`,
//!   computed in f64 and rounded to f32.
//! - Order: first the duration noise, `2·N` values for `[1, 2, N]` in row-major order;
//!   then the prior noise frame by frame, `C` values per frame, so the value at
//!   `(channel, frame)` does not depend on how many frames the take has.

use dial_sampling::DialRng;

/// The noise source for one sentence of one take.
#[derive(Debug, Clone)]
pub struct SentenceNoise {
    rng: DialRng,
    spare: Option<f64>,
}

impl SentenceNoise {
    /// Sentence `sentence` of the take seeded `seed`.
    pub fn new(seed: u32, sentence: u32) -> Self {
        SentenceNoise {
            rng: DialRng::new((u64::from(sentence) << 32) | u64::from(seed)),
            spare: None,
        }
    }

    /// The next standard normal.
    pub fn normal(&mut self) -> f32 {
        if let Some(z) = self.spare.take() {
            return z as f32;
        }
        let u1 = 1.0 - self.rng.uniform();
        let u2 = self.rng.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (sin, cos) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some(r * sin);
        (r * cos) as f32
    }

    /// The duration predictor's noise for `n` phoneme ids, `[1, 2, n]` row-major.
    pub fn duration_noise(&mut self, n: usize) -> Vec<f32> {
        (0..2 * n).map(|_| self.normal()).collect()
    }

    /// The prior's noise for `frames` frames of `channels` channels, `[1, channels,
    /// frames]` row-major, drawn frame by frame.
    pub fn prior_noise(&mut self, channels: usize, frames: usize) -> Vec<f32> {
        let mut out = vec![0f32; channels * frames];
        for t in 0..frames {
            for c in 0..channels {
                out[c * frames + t] = self.normal();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_noise_and_frames_do_not_shift_values() {
        let draw = |seed, sentence| {
            let mut n = SentenceNoise::new(seed, sentence);
            (n.duration_noise(5), n.prior_noise(3, 4))
        };
        assert_eq!(draw(7, 0), draw(7, 0));
        assert_ne!(draw(7, 0).0, draw(8, 0).0);
        assert_ne!(draw(7, 0).0, draw(7, 1).0);
        // More frames: the first frames' values are unchanged.
        let mut a = SentenceNoise::new(7, 0);
        let mut b = SentenceNoise::new(7, 0);
        let (_, short) = (a.duration_noise(5), a.prior_noise(3, 4));
        let (_, long) = (b.duration_noise(5), b.prior_noise(3, 9));
        for c in 0..3 {
            assert_eq!(short[c * 4..c * 4 + 4], long[c * 9..c * 9 + 4]);
        }
    }

    #[test]
    fn the_normals_have_unit_moments() {
        let mut n = SentenceNoise::new(1, 0);
        let xs: Vec<f64> = (0..200_000).map(|_| f64::from(n.normal())).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        // 5 standard errors: 5/√200000 ≈ 0.011 for the mean, ≈ 0.016 for the variance.
        assert!(mean.abs() < 0.011, "{mean}");
        assert!((var - 1.0).abs() < 0.016, "{var}");
        assert!(xs.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn value_stability() {
        // Pinned: changing the stream, the seed layout or Box–Muller breaks this.
        let mut n = SentenceNoise::new(42, 0);
        let first: Vec<u32> = (0..4).map(|_| n.normal().to_bits()).collect();
        let mut again = SentenceNoise::new(42, 0);
        let replay: Vec<u32> = (0..4).map(|_| again.normal().to_bits()).collect();
        assert_eq!(first, replay);
        assert_eq!(first, PINNED);
    }

    const PINNED: [u32; 4] = [1057776106, 1052051855, 3202453929, 3223686821];
}
