use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::{Work, by_key};

/// Mirostat v1: targets a surprise of `tau` bits per token by estimating the Zipf exponent
/// `ŝ` of the top `m` probabilities and keeping the top `k` tokens,
/// `k = ((ε̂ · 2^μ) / (1 - V^(-ε̂)))^(1/ŝ)` with `ε̂ = ŝ - 1`; after each accepted token of
/// probability `p`, `μ ← μ - η · (-log₂ p - τ)`. `μ` starts at `2τ`.
///
/// Follows llama.cpp's `mirostat` (Basu et al. 2021), with `V` the row length. Edges:
/// - When `ŝ` cannot be estimated (a flat top) or `k` is not finite, every live token is
///   kept; `k` is at least 1.
/// - It is stateful: [`crate::Sampler::accept`] updates `μ`.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Mirostat, Sampler};
/// let knobs = Knobs { mirostat: Some(Mirostat::new(5.0, 0.1)?), ..Knobs::default() };
/// let mut sampler = Sampler::new(knobs, 1)?;
/// let logits: Vec<f32> = (0..1000).map(|i| -(i as f32 + 1.0).ln() * 1.2).collect();
/// let draw = sampler.sample(&logits)?;
/// assert!(draw.kept >= 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Mirostat {
    tau: f32,
    eta: f32,
    m: usize,
    /// Runtime state, not configuration.
    #[cfg_attr(feature = "serde", serde(skip))]
    mu: f64,
}

impl Mirostat {
    /// Target surprise `tau ≥ 0` bits and learning rate `eta ≥ 0`, with `m = 100`.
    pub fn new(tau: f32, eta: f32) -> Result<Self, ParamError> {
        Self::with_m(tau, eta, 100)
    }

    /// As [`Mirostat::new`], estimating `ŝ` from the top `m ≥ 2` tokens.
    pub fn with_m(tau: f32, eta: f32, m: usize) -> Result<Self, ParamError> {
        if !(tau.is_finite() && tau >= 0.0) {
            return Err(ParamError::new(
                "mirostat",
                "tau",
                tau,
                "a finite value ≥ 0",
            ));
        }
        if !(eta.is_finite() && eta >= 0.0) {
            return Err(ParamError::new(
                "mirostat",
                "eta",
                eta,
                "a finite value ≥ 0",
            ));
        }
        if m < 2 {
            return Err(ParamError::new("mirostat", "m", m, "an integer ≥ 2"));
        }
        Ok(Mirostat {
            tau,
            eta,
            m,
            mu: 2.0 * f64::from(tau),
        })
    }

    /// The current `μ`.
    pub fn mu(&self) -> f64 {
        self.mu
    }
}

impl KnobImpl for Mirostat {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::Mirostat,
        summary: "Steers the surprise of each token towards tau bits (mirostat 1: a Zipf estimate; 2: a surprise cut).",
        fields: &[
            Field::integer(
                "mirostat",
                Range::closed(0.0, 2.0),
                "0, 1 or 2",
                "Mirostat version: 0 = off, 1 or 2 (llama.cpp's numbering).",
            )
            .off(0.0),
            Field::number(
                "mirostat_tau",
                Range::closed(0.0, 100.0),
                "a number in [0, 100]",
                "Mirostat target surprise tau, in bits.",
            )
            .default(5.0)
            .slider(0.0, 10.0, 0.1),
            Field::number(
                "mirostat_eta",
                Range::closed(0.0, 1.0),
                "a number in [0, 1]",
                "Mirostat learning rate eta.",
            )
            .default(0.1),
        ],
        phase: Phase::Target(0),
        conflicts: &[KnobKind::MirostatV2],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let (tau, eta) = mirostat_targets(params)?;
        match params.integer("mirostat") {
            Some(1) => Mirostat::new(tau, eta).map(Some),
            _ => Ok(None),
        }
    }
    fn accept(&mut self, _token: u32, p: f64) {
        self.mu -= f64::from(self.eta) * (-p.log2() - f64::from(self.tau));
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        w.materialize(input);
        let (z, _) = w.sparse_weights();
        let mut sorted: Vec<(f32, u32, f32)> = w
            .ids
            .iter()
            .zip(&w.ys)
            .zip(&w.es)
            .map(|((&id, &y), &e)| (y, id, e))
            .collect();
        sorted.sort_unstable_by(by_key);
        let probs: Vec<f64> = sorted.iter().map(|p| f64::from(p.2) / z).collect();
        let (mut sum_tb, mut sum_t2) = (0f64, 0f64);
        for i in 0..(self.m - 1).min(probs.len().saturating_sub(1)) {
            let t = ((i as f64 + 2.0) / (i as f64 + 1.0)).ln();
            let b = (probs[i] / probs[i + 1]).ln();
            if b.is_finite() {
                sum_tb += t * b;
                sum_t2 += t * t;
            }
        }
        let s_hat = sum_tb / sum_t2;
        let eps = s_hat - 1.0;
        let k =
            ((eps * 2f64.powf(self.mu)) / (1.0 - (w.vocab as f64).powf(-eps))).powf(1.0 / s_hat);
        if k.is_finite() && s_hat > 0.0 {
            w.keep_best_k((k as usize).max(1));
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

/// Mirostat's `(tau, eta)` with their defaults; an error when either comes without
/// `mirostat` = 1 or 2, where it would do nothing.
pub(crate) fn mirostat_targets(params: &SamplingParams) -> Result<(f32, f32), ParamError> {
    let tau = params.number("mirostat_tau");
    let eta = params.number("mirostat_eta");
    if params.integer("mirostat").unwrap_or(0) == 0 {
        for (name, value) in [("mirostat_tau", tau), ("mirostat_eta", eta)] {
            if let Some(v) = value {
                return Err(ParamError::new(
                    "mirostat",
                    name,
                    v,
                    "to come with mirostat = 1 or 2",
                ));
            }
        }
    }
    Ok((tau.unwrap_or(5.0) as f32, eta.unwrap_or(0.1) as f32))
}
