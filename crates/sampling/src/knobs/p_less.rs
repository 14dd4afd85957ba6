use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::explain::num;
use crate::params::{Field, FieldKind, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// P-less sampling (Tan et al. 2025, arXiv 2509.23234): keep the tokens with
/// `p_i ≥ Σ_v p_v²`, the probability that two independent draws agree. No hyperparameter.
///
/// A peaked distribution has a high collision probability and keeps few tokens; a flat
/// one keeps many. The top token always stays (`Σ p² ≤ p_max`); `min_keep` is honoured.
/// [`crate::PLessNorm`] is the normalised variant.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, PLess, Sampler};
/// let probs = [0.5f32, 0.3, 0.15, 0.05];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// // Σ p² = 0.25 + 0.09 + 0.0225 + 0.0025 = 0.365
/// let knobs = Knobs { p_less: Some(PLess::new()), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PLess {
    min_keep: usize,
}

impl Default for PLess {
    fn default() -> Self {
        PLess::new()
    }
}

impl PLess {
    /// P-less sampling, keeping at least one token.
    pub fn new() -> Self {
        PLess { min_keep: 1 }
    }

    /// Keeping at least `min_keep ≥ 1` tokens.
    pub fn with_min_keep(min_keep: usize) -> Result<Self, ParamError> {
        let min_keep = super::check_min_keep("p_less", min_keep)?;
        Ok(PLess { min_keep })
    }
}

/// Keeps the tokens with `p ≥ bar(Σ p², V)`.
pub(crate) fn keep_above_collision(
    w: &mut Work,
    input: &[f32],
    min_keep: usize,
    bar: impl FnOnce(f64, usize) -> f64,
) {
    let z = w.stats(input).sums.z;
    let mut sum_sq = w.sum_of_squares(input) / (z * z);
    if crate::mutants::active(crate::mutants::Mutant::PLessHalfBar) {
        sum_sq /= 2.0;
    }
    let bar = bar(sum_sq, w.vocab);
    w.keep_probability_at_least(input, bar, z, min_keep);
}

/// The `p_less` or `p_less_norm` flag: `Some(true)` turns the knob on.
pub(crate) fn flag_on(params: &SamplingParams, name: &str) -> bool {
    params.flag(name) == Some(true)
}

impl KnobImpl for PLess {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::PLess,
        "Keeps tokens at least as likely as two draws agreeing, p ≥ Σ p² (p-less sampling; no hyperparameter).",
        Phase::Truncate { first: 10, last: 10 },
        &[Field::other(
            "p_less",
            FieldKind::Bool,
            "true or false",
            "P-less sampling: keep tokens with p ≥ Σ p².",
        )],
    )
    .conflicts(&[KnobKind::PLessNorm]);

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        if !flag_on(params, "p_less") {
            return Ok(None);
        }
        PLess::with_min_keep(params.min_keep()).map(Some)
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        keep_above_collision(w, input, self.min_keep, |sum_sq, _| sum_sq);
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        "p ≥ Σ p²".into()
    }

    fn cut_reason(&self, i: usize, input: &Snapshot) -> String {
        let bar = input.sum_of_squares();
        format!("p {} < Σ p² = {}", num(input.probs[i], bar), num(bar, input.probs[i]))
    }
}
