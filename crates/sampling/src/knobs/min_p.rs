use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::explain::num;
use crate::params::{Field, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;

/// Min-p: keep tokens at least `p` times as likely as the top one,
/// `kept = { i : p_i ≥ min_p · p_max }`, i.e. `logit_i ≥ logit_max + ln(min_p)`.
///
/// Inclusive, as in llama.cpp's `min_p` and HF's `MinPLogitsWarper`. Edges:
/// - `min_p = 0` is off; `min_p ≥ 1` keeps only the top token(s).
/// - At least `min_keep` tokens (default 1) survive.
/// - Needs no `exp` over the row: the test is a threshold on the logits.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, MinP};
/// let probs = [0.1f32, 0.2, 0.3, 0.4];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// let knobs = Knobs { min_p: Some(MinP::new(0.5)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![2, 3]); // 0.3 ≥ 0.5 · 0.4, 0.2 is not
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MinP {
    p: f32,
    min_keep: usize,
}

impl MinP {
    /// Relative floor `min_p ≥ 0`, finite.
    pub fn new(p: f32) -> Result<Self, ParamError> {
        Self::with_min_keep(p, 1)
    }

    /// Relative floor `min_p ≥ 0`, keeping at least `min_keep ≥ 1` tokens.
    pub fn with_min_keep(p: f32, min_keep: usize) -> Result<Self, ParamError> {
        if !(p.is_finite() && p >= 0.0) {
            return Err(ParamError::new("min_p", "p", p, "a finite value ≥ 0"));
        }
        if min_keep == 0 {
            return Err(ParamError::new(
                "min_p",
                "min_keep",
                min_keep,
                "an integer ≥ 1",
            ));
        }
        Ok(MinP { p, min_keep })
    }

    /// `min_p`.
    pub fn value(&self) -> f32 {
        self.p
    }
}

impl KnobImpl for MinP {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::MinP,
        summary: "Keeps tokens whose probability is at least min_p times the top token's.",
        fields: &[Field::number(
            "min_p",
            Range::closed(0.0, 1.0),
            "a number in [0, 1]",
            "Keep tokens with p ≥ min_p · p_max (0 = off).",
        )
        .off(0.0)],
        phase: Phase::Truncate { first: 3, last: 4 },
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        params
            .number("min_p")
            .map(|p| MinP::with_min_keep(p as f32, params.min_keep()))
            .transpose()
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.p <= 0.0 {
            return Ok(Applied::default());
        }
        let mut cutoff = self.p.ln();
        if crate::mutants::active(crate::mutants::Mutant::MinPAgainstSum) {
            cutoff += w.stats(input).sums.z.ln() as f32;
        }
        w.keep_within(input, cutoff, self.min_keep);
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("min_p = {}", self.p)
    }

    fn cut_reason(&self, i: usize, input: &Snapshot) -> String {
        let q = input.probs[i];
        let p_max = input.p_max();
        let bar = f64::from(self.p) * p_max;
        format!(
            "p {} < {} × p_max {:.3} = {}",
            num(q, bar),
            self.p,
            p_max,
            num(bar, q)
        )
    }
}
