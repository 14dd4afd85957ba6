use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;

/// Top-k: keep the `k` tokens with the highest logits, `kept = { i : rank(logit_i) ≤ k }`.
///
/// Matches llama.cpp's `top_k` and HF's `TopKLogitsWarper`. Edges:
/// - `k = 0` is off (llama.cpp's convention).
/// - `k ≥` the number of live tokens keeps them all.
/// - Ties at the `k`-th place go to the lowest token ids, so exactly `min(k, live)` tokens
///   survive (llama.cpp's partial sort leaves tie order unspecified).
/// - `-inf` logits are never kept.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, TopK};
/// let knobs = Knobs { top_k: Some(TopK::new(2)), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&[1.3, 2.5, 0.7, 3.2, 0.2, 1.0])?;
/// assert_eq!(explained.kept_ids(), vec![1, 3]); // "cat" and "on"
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TopK {
    k: usize,
}

impl TopK {
    /// Keep the best `k` tokens (`0` = off). Every `k` is valid.
    pub fn new(k: usize) -> Self {
        TopK { k }
    }

    /// Like [`TopK::new`], for callers holding a signed value (e.g. a JSON field).
    pub fn from_signed(k: i64) -> Result<Self, ParamError> {
        usize::try_from(k)
            .map(TopK::new)
            .map_err(|_| ParamError::new("top_k", "k", k, "an integer ≥ 0 (0 = off)"))
    }

    /// `k`.
    pub fn value(&self) -> usize {
        self.k
    }
}

impl KnobImpl for TopK {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::TopK,
        summary: "Keeps the k most likely tokens.",
        fields: &[Field::integer(
            "top_k",
            Range::closed(-1.0, 1_048_576.0),
            "an integer in [-1, 1048576] (0 or -1 = off)",
            "Keep the k most likely tokens (0 or -1 = off).",
        )
        .off(0.0)
        .slider(0.0, 100.0, 1.0)],
        phase: Phase::Truncate { first: 1, last: 1 },
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        Ok(params
            .integer("top_k")
            .map(|k| TopK::new(usize::try_from(k).unwrap_or(0))))
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.k == 0 {
            return Ok(Applied::default());
        }
        let k = if crate::mutants::active(crate::mutants::Mutant::TopKPlusOne) {
            self.k + 1
        } else {
            self.k
        };
        w.keep_top_k(input, k);
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("k = {}", self.k)
    }

    fn cut_reason(&self, i: usize, input: &Snapshot) -> String {
        format!("rank {} > k = {}", input.ahead(i).count() + 1, self.k)
    }
}
