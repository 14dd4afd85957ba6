use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::explain::num;
use crate::params::{Field, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Top-a: remove every token with `p_i < a · p_max²`, keeping at least `min_keep`.
///
/// Follows text-generation-webui's `TopALogitsWarper` (from koboldcpp); the test is
/// strict. A confident top token raises the bar quadratically; a flat distribution
/// barely cuts. Edges: `a = 0` is off; the top token always stays (`p_max ≥ a·p_max²`).
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, TopA};
/// let probs = [0.6f32, 0.25, 0.1, 0.05];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// // bar = 0.5 · 0.36 = 0.18
/// let knobs = Knobs { top_a: Some(TopA::new(0.5)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![0, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TopA {
    a: f64,
    min_keep: usize,
}

impl TopA {
    /// `a ∈ [0, 1]`.
    pub fn new(a: f64) -> Result<Self, ParamError> {
        Self::with_min_keep(a, 1)
    }

    /// `a ∈ [0, 1]`, keeping at least `min_keep ≥ 1` tokens.
    pub fn with_min_keep(a: f64, min_keep: usize) -> Result<Self, ParamError> {
        if !(0.0..=1.0).contains(&a) {
            return Err(ParamError::new("top_a", "a", a, "a value in [0, 1]"));
        }
        let min_keep = super::check_min_keep("top_a", min_keep)?;
        Ok(TopA { a, min_keep })
    }

    /// `a`.
    pub fn value(&self) -> f64 {
        self.a
    }
}

impl KnobImpl for TopA {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::TopA,
        "Removes tokens whose probability is below a · p_max² (koboldcpp, text-generation-webui).",
        Phase::Truncate { first: 8, last: 8 },
        &[Field::number(
            "top_a",
            Range::closed(0.0, 1.0),
            "a number in [0, 1]",
            "Remove tokens with p < a · p_max² (0 = off).",
        )
        .off(0.0)],
    );

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        params
            .number("top_a")
            .map(|a| TopA::with_min_keep(a, params.min_keep()))
            .transpose()
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.a <= 0.0 {
            return Ok(Applied::default());
        }
        // p_max = 1 / Z with e taken relative to the max, so the bar a·p_max² is a / Z².
        let z = w.stats(input).sums.z;
        let bar = if crate::mutants::active(crate::mutants::Mutant::TopANotSquared) {
            self.a / z
        } else {
            self.a / (z * z)
        };
        w.keep_probability_at_least(input, bar, z, self.min_keep);
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("a = {}", self.a)
    }

    fn cut_reason(&self, i: usize, input: &Snapshot) -> String {
        let p_max = input.p_max();
        let bar = self.a * p_max * p_max;
        format!(
            "p {} < a × p_max² = {} × {p_max:.3}² = {}",
            num(input.probs[i], bar),
            self.a,
            num(bar, input.probs[i])
        )
    }
}
