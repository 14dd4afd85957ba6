//! A token-by-token account of one step: every stage's probabilities, who cut each token
//! and why, and the summary figures. `dial explain`, the server's explain endpoint and the
//! playground all render this one structure (its JSON form is documented in
//! `docs/explain-json.md`).

use crate::error::SampleError;
use crate::sampler::{OrderDifference, Sampler, StageTrace};
use crate::stage_id::StageId;
use crate::work::Snapshot;

/// One stage of the chain and its setting, e.g. `top_p = 0.9`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChainStage {
    /// The stage: a knob, or `grammar`.
    pub stage: StageId,
    /// Its setting, readable.
    pub setting: String,
}

/// Which stage removed a token, and why.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Cut {
    /// The stage that removed it.
    pub stage: StageId,
    /// Its position in the chain (0-based).
    pub position: usize,
    /// Why, with the numbers, e.g. `cum 0.93 > 0.9`.
    pub reason: String,
}

/// One token of an [`ExplainReport`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExplainRow {
    /// Token id.
    pub id: u32,
    /// Token text, when the caller knows it.
    pub text: Option<String>,
    /// The input logit.
    pub logit: f32,
    /// `softmax(logits)` at `T = 1`.
    pub p_raw: f64,
    /// Probability after each stage of the chain (0 once cut).
    pub p_stages: Vec<f64>,
    /// Final probability (0 when cut).
    pub p: f64,
    /// Cumulative final probability down to this row (kept rows only).
    pub cum: Option<f64>,
    /// Kept in the final distribution.
    pub kept: bool,
    /// For a cut token: which stage cut it and why.
    pub cut: Option<Cut>,
}

/// The tokens an [`ExplainReport`] does not list one by one.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RestSummary {
    /// How many finite tokens are not listed.
    pub tokens: usize,
    /// Their mass at `T = 1`.
    pub p_raw: f64,
    /// Their final mass.
    pub p: f64,
    /// How many of them are kept.
    pub kept: usize,
}

/// One stage's effect: a [`StageTrace`] with its entropy in bits, like the rest of the
/// report.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StageSummary {
    /// The stage: a knob, or `grammar`.
    pub stage: StageId,
    /// Tokens this stage removed.
    pub removed: usize,
    /// Tokens live after it.
    pub remaining: usize,
    /// Mass, under the distribution entering the stage, of the tokens it kept.
    pub mass_kept: f64,
    /// Entropy after the stage, in bits.
    pub entropy_bits: f64,
}

impl From<&StageTrace> for StageSummary {
    fn from(t: &StageTrace) -> Self {
        StageSummary {
            stage: t.stage,
            removed: t.removed,
            remaining: t.remaining,
            mass_kept: t.mass_kept,
            entropy_bits: t.entropy / std::f64::consts::LN_2,
        }
    }
}

/// Everything about one step, token by token. Build it with [`Sampler::explain_report`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExplainReport {
    /// The order's name.
    pub order: String,
    /// The chain, in order.
    pub chain: Vec<ChainStage>,
    /// Tokens in the row.
    pub vocab: usize,
    /// Tokens with a finite logit.
    pub live: usize,
    /// Kept tokens by final probability, then cut tokens by raw probability.
    pub rows: Vec<ExplainRow>,
    /// The tokens not in `rows`, when there are any.
    pub rest: Option<RestSummary>,
    /// Entropy of `softmax(logits)`, in bits.
    pub entropy_bits_before: f64,
    /// Entropy of the final distribution, in bits.
    pub entropy_bits_after: f64,
    /// `2^H` before: the effective number of tokens.
    pub perplexity_before: f64,
    /// `2^H` after.
    pub perplexity_after: f64,
    /// How many tokens are kept.
    pub nucleus_size: usize,
    /// Raw (`T = 1`) mass of the kept set.
    pub kept_mass: f64,
    /// The most likely token after the chain.
    pub top_token: u32,
    /// Its final probability.
    pub top_p: f64,
    /// What each stage did, in chain order.
    pub trace: Vec<StageSummary>,
    /// Set when `temperature-first` and `temperature-last` keep different tokens here.
    pub order_difference: Option<OrderDifference>,
}

impl ExplainReport {
    /// Fills `text` of every row from `text_of`.
    pub fn with_texts(mut self, text_of: impl Fn(u32) -> Option<String>) -> Self {
        for row in &mut self.rows {
            row.text = text_of(row.id);
        }
        self
    }
}

impl Sampler {
    /// Explains the next draw token by token, listing at most `rows` tokens (kept ones
    /// first). Like [`Sampler::explain`] it changes no state. It keeps one probability
    /// vector per stage, so it costs `O(V · stages)` memory: a tool for looking, not for
    /// the sampling loop.
    pub fn explain_report(
        &mut self,
        logits: &[f32],
        rows: usize,
    ) -> Result<ExplainReport, SampleError> {
        let summary = self.explain(logits)?;
        let order_difference = self.order_difference(logits)?;
        let snaps = self.snapshots(logits)?;
        let (Some(raw), Some(last)) = (snaps.first(), snaps.last()) else {
            return Err(SampleError::EmptyLogits);
        };
        let chain = self.stage_settings();

        let mut kept: Vec<usize> = (0..logits.len()).filter(|&i| last.live[i]).collect();
        kept.sort_by(|a, b| by_prob(last, *a, *b));
        let mut cut: Vec<usize> = (0..logits.len())
            .filter(|&i| raw.live[i] && !last.live[i])
            .collect();
        cut.sort_by(|a, b| by_prob(raw, *a, *b));

        let mut out_rows = Vec::new();
        let mut cum = 0f64;
        for &i in kept.iter().chain(&cut).take(rows) {
            let is_kept = last.live[i];
            if is_kept {
                cum += last.probs[i];
            }
            out_rows.push(ExplainRow {
                id: i as u32,
                text: None,
                logit: logits[i],
                p_raw: raw.probs[i],
                p_stages: snaps[1..].iter().map(|s| s.probs[i]).collect(),
                p: last.probs[i],
                cum: is_kept.then_some(cum),
                kept: is_kept,
                cut: (!is_kept).then(|| self.cut_of(i, &snaps)).flatten(),
            });
        }
        let listed = out_rows.len();
        let rest_ids = kept.iter().chain(&cut).skip(listed);
        let rest = (kept.len() + cut.len() > listed).then(|| {
            let mut r = RestSummary {
                tokens: 0,
                p_raw: 0.0,
                p: 0.0,
                kept: 0,
            };
            for &i in rest_ids {
                r.tokens += 1;
                r.p_raw += raw.probs[i];
                r.p += last.probs[i];
                r.kept += usize::from(last.live[i]);
            }
            r
        });
        let bits = |nats: f64| nats / std::f64::consts::LN_2;
        let top = summary
            .tokens
            .first()
            .ok_or(SampleError::AllMasked { after: "explain" })?;
        Ok(ExplainReport {
            order: self.order().name(),
            chain: chain
                .into_iter()
                .map(|(stage, setting)| ChainStage { stage, setting })
                .collect(),
            vocab: logits.len(),
            live: summary.live_raw,
            rows: out_rows,
            rest,
            entropy_bits_before: bits(summary.entropy_raw),
            entropy_bits_after: bits(summary.entropy),
            perplexity_before: summary.entropy_raw.exp(),
            perplexity_after: summary.entropy.exp(),
            nucleus_size: summary.tokens.len(),
            kept_mass: summary.kept_mass_raw,
            top_token: top.id,
            top_p: top.prob,
            trace: summary.trace.iter().map(StageSummary::from).collect(),
            order_difference,
        })
    }
}

/// Probability descending, ties to the lowest id.
fn by_prob(snap: &Snapshot, a: usize, b: usize) -> std::cmp::Ordering {
    snap.probs[b].total_cmp(&snap.probs[a]).then(a.cmp(&b))
}

impl Sampler {
    /// The first stage that removed token `i`, with its reason.
    fn cut_of(&self, i: usize, snaps: &[Snapshot]) -> Option<Cut> {
        let after = (1..snaps.len()).find(|&s| snaps[s - 1].live[i] && !snaps[s].live[i])?;
        let position = after - 1;
        Some(Cut {
            stage: *self.stages().get(position)?,
            position,
            reason: self.cut_reason(position, i, &snaps[position]),
        })
    }
}

/// `x` with 2 decimals, or 4 when 2 would make it look equal to `bar`.
pub(crate) fn num(x: f64, bar: f64) -> String {
    let short = format!("{x:.2}");
    if short == format!("{bar:.2}") {
        format!("{x:.4}")
    } else {
        short
    }
}
