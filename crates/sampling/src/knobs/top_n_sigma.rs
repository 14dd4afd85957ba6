use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;

/// Top-nσ: keep tokens whose logit is within `n` standard deviations of the max,
/// `kept = { i : logit_i ≥ max_j logit_j - n·σ }`, with `σ` the population standard
/// deviation of the live (finite) logits.
///
/// Follows llama.cpp's `top_n_sigma` (Tang et al. 2024). Edges:
/// - `n = 0` is off (llama.cpp since PR 13345), not greedy.
/// - The kept set does not depend on temperature: scaling logits scales `σ` too.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, TopNSigma};
/// let probs = [0.1f32, 0.2, 0.3, 0.4];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// let knobs = Knobs { top_n_sigma: Some(TopNSigma::new(1.0)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TopNSigma {
    n: f32,
}

impl TopNSigma {
    /// Width `n ≥ 0` in standard deviations.
    pub fn new(n: f32) -> Result<Self, ParamError> {
        if n.is_finite() && n >= 0.0 {
            Ok(TopNSigma { n })
        } else {
            Err(ParamError::new("top_n_sigma", "n", n, "a finite value ≥ 0"))
        }
    }

    /// `n`.
    pub fn value(&self) -> f32 {
        self.n
    }
}

impl KnobImpl for TopNSigma {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::TopNSigma,
        summary: "Keeps tokens whose logit is within n standard deviations of the max.",
        fields: &[Field::number(
            "top_n_sigma",
            Range::closed(-1.0, 100.0),
            "a number in [-1, 100] (≤ 0 = off)",
            "Keep logits within n standard deviations of the max (≤ 0 = off).",
        )
        .off(0.0)
        .slider(0.0, 5.0, 0.05)],
        phase: Phase::Truncate { first: 0, last: 0 },
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        params
            .number("top_n_sigma")
            .map(|n| TopNSigma::new(n.max(0.0) as f32))
            .transpose()
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.n <= 0.0 {
            return Ok(Applied::default());
        }
        w.materialize(input);
        let live = w.ys.len() as f64;
        if live < 2.0 {
            return Ok(Applied::default());
        }
        let mean = w.ys.iter().map(|&y| f64::from(y)).sum::<f64>() / live;
        let var =
            w.ys.iter()
                .map(|&y| (f64::from(y) - mean).powi(2))
                .sum::<f64>()
                / live;
        let bar = f64::from(w.sparse_max()) - f64::from(self.n) * var.sqrt();
        w.retain(|_, y| f64::from(y) >= bar);
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("n = {}", self.n)
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        format!("logit below max − {}·σ", self.n)
    }
}
