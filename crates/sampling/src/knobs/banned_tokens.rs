use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase, check_ids};
use crate::error::ParamError;
use crate::error::SampleError;
use crate::kernels;
use crate::params::{Field, FieldKind, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;

/// Banned tokens: `logit_i ← -inf` for each listed token, so `p_i = 0`
/// (HF's `bad_words_ids` for single tokens, vLLM's `bad_words`).
///
/// Edges: banning every live token is [`SampleError::AllMasked`]; ids outside the row are
/// an error.
///
/// # Example
/// ```
/// use dial_sampling::{BannedTokens, Knobs, Sampler};
/// let knobs = Knobs { banned_tokens: Some(BannedTokens::new([3])), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&[1.3, 2.5, 0.7, 3.2, 0.2, 1.0])?;
/// assert_eq!(explained.kept_ids(), vec![0, 1, 2, 4, 5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BannedTokens {
    ids: Vec<u32>,
}

impl BannedTokens {
    /// The ids to remove. Every list is valid; ids are checked against the row when sampling.
    pub fn new(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut ids: Vec<u32> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        BannedTokens { ids }
    }

    /// The banned ids, ascending.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}

impl KnobImpl for BannedTokens {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::BannedTokens,
        summary: "Token ids that may never be drawn.",
        fields: &[Field::other(
            "banned_tokens",
            FieldKind::TokenIds,
            "a list of token ids",
            "Token ids that may never be drawn.",
        )
        .aliases(&["ban"])],
        phase: Phase::Edit(3),
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        Ok(params
            .token_ids("banned_tokens")
            .filter(|ids| !ids.is_empty())
            .map(|ids| BannedTokens::new(ids.iter().copied())))
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        check_ids(&self.ids, w.vocab, "banned_tokens")?;
        ban(w, input, ctx, &self.ids, "banned_tokens")
    }

    fn setting(&self) -> String {
        format!("{} banned", self.ids().len())
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "banned".into()
    }
}

/// How many live tokens are not in `ids` (sorted): what is left if they are banned.
pub(crate) fn live_outside(w: &Work, input: &[f32], ids: &[u32]) -> usize {
    match w.dense {
        Some(d) => {
            let base = w.base(input, &d);
            let live_inside = ids
                .iter()
                .filter(|&&id| base[id as usize] > f32::NEG_INFINITY)
                .count();
            d.finite - live_inside
        }
        None => w
            .ids
            .iter()
            .filter(|id| ids.binary_search(id).is_err())
            .count(),
    }
}

/// Sets the logits of `ids` (sorted, in range) to `−∞`; `after` names the stage when
/// nothing is left.
pub(crate) fn ban(
    w: &mut Work,
    input: &[f32],
    ctx: &Ctx<'_>,
    ids: &[u32],
    after: &'static str,
) -> ApplyResult {
    let Some(d) = w.dense else {
        w.retain(|id, _| ids.binary_search(&id).is_err());
        if w.ids.is_empty() {
            return Err(SampleError::AllMasked { after });
        }
        return Ok(Applied::default());
    };
    let mut removed = 0f64;
    if let Some(z) = ctx.z_in {
        let base = w.base(input, &d);
        removed = ids
            .iter()
            .map(|&id| f64::from(kernels::exp((base[id as usize] - d.max) * d.scale)))
            .sum::<f64>()
            / z;
    }
    w.make_editable(input);
    for &id in ids {
        w.edit(id, |_| f32::NEG_INFINITY);
    }
    w.rescan_edited(after)?;
    Ok(Applied {
        dense_removed_mass: removed,
    })
}
