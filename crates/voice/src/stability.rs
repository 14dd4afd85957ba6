//! `stability ∈ [0, 1]`: how far a take may drift from the voice's mean rendering.
//!
//! A VITS voice samples its prior latent as `z = μ + ε·σ·noise_scale` and its durations
//! with noise scaled by `noise_w`. Stability scales both of the voice's defaults by one
//! factor `f`:
//!
//! ```text
//! f(s) = 2·(1 − s)    for s ≥ 0.5     (0.5 → f = 1: Piper's defaults, "Natural";
//!                                      1 → f = 0: the mean-latent take, "Robust")
//! f(s) = 1.5 − s      for s < 0.5     (0 → f = 1.5, "Creative")
//! ```
//!
//! `f` is continuous at 0.5 and never above 1.5: with `noise_w` much above 1.2 the
//! duration predictor runs away in about one take in six, smearing a phoneme over
//! seconds.

use crate::config::InferenceDefaults;

/// Why a stability cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("stability must be a number in [0, 1], got {0}")]
pub struct StabilityError(pub f64);

/// A checked stability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stability(f64);

/// The noise scales one take runs with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Prior noise scale.
    pub noise_scale: f32,
    /// Duration noise scale.
    pub noise_w: f32,
}

impl Stability {
    /// The knob's name in requests.
    pub const NAME: &'static str = "stability";
    /// ElevenLabs' "Creative": 1.5× the voice's noise.
    pub const CREATIVE: Stability = Stability(0.0);
    /// ElevenLabs' "Natural": the voice's own defaults, and the default.
    pub const NATURAL: Stability = Stability(0.5);
    /// ElevenLabs' "Robust": no noise, the mean-latent take, the same for every seed.
    pub const ROBUST: Stability = Stability(1.0);
    /// The three named points, as ElevenLabs labels its slider.
    pub const MARKS: [(&'static str, Stability); 3] = [
        ("Creative", Self::CREATIVE),
        ("Natural", Self::NATURAL),
        ("Robust", Self::ROBUST),
    ];
    /// One line on what it does.
    pub const SUMMARY: &'static str = "How far a take may drift from the voice's mean rendering: \
        1 is locked on (every seed the same), 0.5 the voice's own noise, 0 expressive (1.5× it).";

    /// `s` in `[0, 1]`; anything else (NaN included) is an error.
    pub fn new(s: f64) -> Result<Self, StabilityError> {
        if (Self::CREATIVE.0..=Self::ROBUST.0).contains(&s) {
            Ok(Stability(s))
        } else {
            Err(StabilityError(s))
        }
    }

    /// The value.
    pub fn value(self) -> f64 {
        self.0
    }

    /// The factor `f(s)` on the voice's default noise scales.
    pub fn factor(self) -> f64 {
        if self.0 >= 0.5 {
            2.0 * (1.0 - self.0)
        } else {
            1.5 - self.0
        }
    }

    /// The scales for a voice with these defaults.
    pub fn noise(self, defaults: &InferenceDefaults) -> Noise {
        let f = self.factor() as f32;
        Noise {
            noise_scale: defaults.noise_scale * f,
            noise_w: defaults.noise_w * f,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_three_anchors_and_continuity() {
        let f = |s| Stability::new(s).unwrap().factor();
        assert_eq!(f(0.0), 1.5);
        assert_eq!(f(0.5), 1.0);
        assert_eq!(f(1.0), 0.0);
        assert!((f(0.5 - 1e-12) - f(0.5)).abs() < 1e-9);
        // Monotone: more stability, less noise.
        let grid: Vec<f64> = (0..=100).map(|i| f(i as f64 / 100.0)).collect();
        assert!(grid.windows(2).all(|w| w[1] <= w[0]));
        assert!(grid.iter().all(|&x| (0.0..=1.5).contains(&x)));
    }

    #[test]
    fn it_scales_the_voice_s_defaults_and_rejects_the_rest() {
        let d = InferenceDefaults {
            noise_scale: 0.667,
            length_scale: 1.0,
            noise_w: 0.8,
        };
        let n = Stability::new(0.0).unwrap().noise(&d);
        assert!((n.noise_scale - 1.0005).abs() < 1e-6 && (n.noise_w - 1.2).abs() < 1e-6);
        assert_eq!(
            Stability::NATURAL.noise(&d),
            Noise {
                noise_scale: 0.667,
                noise_w: 0.8
            }
        );
        let robust = Stability::new(1.0).unwrap().noise(&d);
        assert_eq!((robust.noise_scale, robust.noise_w), (0.0, 0.0));
        for bad in [-0.01, 1.01, f64::NAN, f64::INFINITY] {
            assert!(Stability::new(bad).is_err(), "{bad}");
        }
    }
}
