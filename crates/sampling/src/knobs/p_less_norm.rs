use super::p_less::{flag_on, keep_above_collision};
use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::explain::num;
use crate::params::{Field, FieldKind, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Normalised p-less sampling (Tan et al. 2025): keep the tokens with
/// `p_i ≥ (V · Σ_v p_v² − 1) / (V − 1)`, where `V` is the vocabulary size.
///
/// The bar is the collision probability rescaled so that a uniform distribution gives 0
/// and a one-hot one gives 1: always at most p-less's bar, so it keeps at least as many
/// tokens. `V` counts the whole row, masked tokens too, as the reference does. The top
/// token always stays; `min_keep` is honoured. No hyperparameter.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, PLessNorm, Sampler};
/// let probs = [0.5f32, 0.3, 0.15, 0.05];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// // (4 · 0.365 − 1) / 3 ≈ 0.153
/// let knobs = Knobs { p_less_norm: Some(PLessNorm::new()), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![0, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PLessNorm {
    min_keep: usize,
}

impl Default for PLessNorm {
    fn default() -> Self {
        PLessNorm::new()
    }
}

impl PLessNorm {
    /// Normalised p-less sampling, keeping at least one token.
    pub fn new() -> Self {
        PLessNorm { min_keep: 1 }
    }

    /// Keeping at least `min_keep ≥ 1` tokens.
    pub fn with_min_keep(min_keep: usize) -> Result<Self, ParamError> {
        let min_keep = super::check_min_keep("p_less_norm", min_keep)?;
        Ok(PLessNorm { min_keep })
    }

    /// The bar for collision probability `sum_sq` over a vocabulary of `v`.
    pub fn bar(sum_sq: f64, v: usize) -> f64 {
        if v <= 1 {
            return 0.0;
        }
        let v = v as f64;
        (v * sum_sq - 1.0) / (v - 1.0)
    }
}

impl KnobImpl for PLessNorm {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::PLessNorm,
        "Normalised p-less: keeps p ≥ (V·Σ p² − 1)/(V − 1), a looser bar than p-less.",
        Phase::Truncate { first: 11, last: 11 },
        &[Field::other(
            "p_less_norm",
            FieldKind::Bool,
            "true or false",
            "Normalised p-less sampling: keep p ≥ (V·Σ p² − 1)/(V − 1).",
        )],
    );

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        if !flag_on(params, "p_less_norm") {
            return Ok(None);
        }
        PLessNorm::with_min_keep(params.min_keep()).map(Some)
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        keep_above_collision(w, input, self.min_keep, PLessNorm::bar);
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        "p ≥ (V·Σ p² − 1)/(V − 1)".into()
    }

    fn cut_reason(&self, i: usize, input: &Snapshot) -> String {
        let bar = PLessNorm::bar(input.sum_of_squares(), input.probs.len());
        format!(
            "p {} < (V·Σ p² − 1)/(V − 1) = {}",
            num(input.probs[i], bar),
            num(bar, input.probs[i])
        )
    }
}
