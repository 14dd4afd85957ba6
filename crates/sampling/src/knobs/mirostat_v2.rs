use super::{Applied, ApplyResult, Ctx};
use crate::error::ParamError;
use crate::work::Work;

/// Mirostat v2: keep the tokens whose surprise is at most `μ` bits,
/// `kept = { i : -log₂ p_i ≤ μ }` (at least the top token); after each accepted token of
/// probability `p`, `μ ← μ - η · (-log₂ p - τ)`. `μ` starts at `2τ`.
///
/// Follows llama.cpp's `mirostat_v2`. It is stateful: [`crate::Sampler::accept`] updates `μ`.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, MirostatV2, Sampler};
/// let probs = [0.5f32, 0.25, 0.125, 0.125];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// // τ = 1 bit: μ = 2 keeps tokens of surprise ≤ 2 bits, i.e. p ≥ 0.25.
/// let knobs = Knobs { mirostat_v2: Some(MirostatV2::new(1.0, 0.1)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![0, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MirostatV2 {
    tau: f32,
    eta: f32,
    mu: f64,
}

impl MirostatV2 {
    /// Target surprise `tau ≥ 0` bits and learning rate `eta ≥ 0`.
    pub fn new(tau: f32, eta: f32) -> Result<Self, ParamError> {
        if !(tau.is_finite() && tau >= 0.0) {
            return Err(ParamError::new(
                "mirostat_v2",
                "tau",
                tau,
                "a finite value ≥ 0",
            ));
        }
        if !(eta.is_finite() && eta >= 0.0) {
            return Err(ParamError::new(
                "mirostat_v2",
                "eta",
                eta,
                "a finite value ≥ 0",
            ));
        }
        Ok(MirostatV2 {
            tau,
            eta,
            mu: 2.0 * f64::from(tau),
        })
    }

    /// The current `μ`.
    pub fn mu(&self) -> f64 {
        self.mu
    }

    pub(crate) fn accept(&mut self, p: f64) {
        self.mu -= f64::from(self.eta) * (-p.log2() - f64::from(self.tau));
    }

    pub(crate) fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        w.materialize(input);
        let (z, _) = w.sparse_weights();
        // Surprise tolerance: exact powers of two (0.25 → 2 bits) survive float rounding.
        let mu = self.mu + 1e-9;
        let passing =
            w.es.iter()
                .filter(|&&e| -(f64::from(e) / z).log2() <= mu)
                .count();
        if passing == 0 {
            w.keep_best_k(1);
        } else {
            let es = std::mem::take(&mut w.es);
            let mut i = 0;
            w.retain(|_, _| {
                let keep = -(f64::from(es[i]) / z).log2() <= mu;
                i += 1;
                keep
            });
            w.es = es;
        }
        Ok(Applied::default())
    }
}
