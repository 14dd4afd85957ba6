use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::SamplingParams;
use crate::work::Snapshot;
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
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MirostatV2 {
    tau: f32,
    eta: f32,
    /// Runtime state, not configuration.
    #[cfg_attr(feature = "serde", serde(skip))]
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
}

impl KnobImpl for MirostatV2 {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::MirostatV2,
        summary: "Mirostat 2: keeps tokens whose surprise is at most μ bits, steering μ towards tau.",
        fields: &[], // `mirostat = 2` with mirostat's fields
        phase: Phase::Target(1),
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let (tau, eta) = super::mirostat::mirostat_targets(params)?;
        match params.integer("mirostat") {
            Some(2) => MirostatV2::new(tau, eta).map(Some),
            _ => Ok(None),
        }
    }
    fn accept(&mut self, _token: u32, p: f64) {
        self.mu -= f64::from(self.eta) * (-p.log2() - f64::from(self.tau));
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
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

    fn setting(&self) -> String {
        format!("μ = {:.3}", self.mu)
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "surprise −log₂ p above μ".into()
    }
}
