use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase, check_ids};
use crate::error::ParamError;
use crate::error::SampleError;
use crate::params::{Field, FieldKind, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;

/// Allowed tokens (a whitelist): every token not listed gets `logit_i ← -inf`
/// (vLLM's `allowed_token_ids`).
///
/// Edges: an empty list, or one whose tokens are all `-inf`, is [`SampleError::AllMasked`];
/// ids outside the row are an error.
///
/// # Example
/// ```
/// use dial_sampling::{AllowedTokens, Knobs, Sampler};
/// let knobs = Knobs { allowed_tokens: Some(AllowedTokens::new([0, 5])), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&[1.3, 2.5, 0.7, 3.2, 0.2, 1.0])?;
/// assert_eq!(explained.kept_ids(), vec![0, 5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AllowedTokens {
    ids: Vec<u32>,
}

impl AllowedTokens {
    /// The only ids that may be drawn. Checked against the row when sampling.
    pub fn new(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut ids: Vec<u32> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        AllowedTokens { ids }
    }

    /// The allowed ids, ascending.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}

impl KnobImpl for AllowedTokens {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::AllowedTokens,
        summary: "Only these token ids may be drawn.",
        fields: &[Field::other(
            "allowed_tokens",
            FieldKind::TokenIds,
            "a list of token ids",
            "Only these token ids may be drawn.",
        )
        .aliases(&["allow"])],
        phase: Phase::Edit(2),
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        Ok(params
            .token_ids("allowed_tokens")
            .filter(|ids| !ids.is_empty())
            .map(|ids| AllowedTokens::new(ids.iter().copied())))
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        check_ids(&self.ids, w.vocab, "allowed_tokens")?;
        if let Some(d) = w.dense.take() {
            let base = if d.edited { &w.edited } else { input };
            w.ids.clear();
            w.ys.clear();
            for &id in &self.ids {
                let x = base[id as usize];
                if x > f32::NEG_INFINITY {
                    w.ids.push(id);
                    w.ys.push((x - d.max) * d.scale);
                }
            }
            w.offset = f64::from(d.max) * f64::from(d.scale);
        } else {
            w.retain(|id, _| self.ids.binary_search(&id).is_ok());
        }
        if w.ids.is_empty() {
            return Err(SampleError::AllMasked {
                after: "allowed_tokens",
            });
        }
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("{} allowed", self.ids().len())
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "not in the allowed list".into()
    }
}
