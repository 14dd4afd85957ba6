//! All of a setting's measures at once.

use crate::{distinct_n, repetition_share, self_bleu4, zipf_coefficient};

/// Hypotheses scored for self-BLEU-4 (Holtzman et al. score 1,000 of their 5,000); each is
/// scored against every other generation of its setting.
pub const SELF_BLEU_SAMPLE: usize = 1_000;

/// One continuation, scored: its tokens (an end-of-sequence token not included), the
/// model's negative log-likelihood of each, and whether it ended at end-of-sequence
/// (`None` for a human reference, which has no such ending).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored<'a> {
    /// The continuation's token ids.
    pub tokens: &'a [u32],
    /// `−ln p(token | prompt, the tokens before)` under the model at T = 1, one per token.
    pub nlls: &'a [f64],
    /// Whether it stopped at an end-of-sequence token.
    pub ended_at_eos: Option<bool>,
}

/// The measures of one setting (or of the reference) over its continuations. `None`
/// (JSON `null`) where a measure is undefined: no tokens, fewer than two generations.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    /// `exp(Σ nll / Σ tokens)`, pooled over every token of every continuation.
    pub perplexity: Option<f64>,
    /// [`self_bleu4`] over the first [`SELF_BLEU_SAMPLE`] continuations.
    pub self_bleu4: Option<f64>,
    /// [`zipf_coefficient`] of all the tokens.
    pub zipf: Option<f64>,
    /// [`repetition_share`]: the percentage that end in a loop.
    pub repetition_pct: Option<f64>,
    /// [`distinct_n`] for n = 1, 2, 3.
    pub distinct: [Option<f64>; 3],
    /// Mean tokens per continuation.
    pub mean_tokens: f64,
    /// The percentage that stopped at end-of-sequence (`None` for a reference).
    pub eos_pct: Option<f64>,
}

impl Metrics {
    /// Every measure of `continuations`.
    pub fn of(continuations: &[Scored<'_>]) -> Metrics {
        let texts: Vec<Vec<u32>> = continuations.iter().map(|c| c.tokens.to_vec()).collect();
        let tokens: usize = continuations.iter().map(|c| c.nlls.len()).sum();
        let nll: f64 = continuations.iter().flat_map(|c| c.nlls).sum();
        let eos: Option<Vec<bool>> = continuations.iter().map(|c| c.ended_at_eos).collect();
        let count = continuations.len();
        Metrics {
            perplexity: (tokens > 0).then(|| (nll / tokens as f64).exp()),
            self_bleu4: self_bleu4(&texts, SELF_BLEU_SAMPLE),
            zipf: zipf_coefficient(&texts),
            repetition_pct: repetition_share(&texts),
            distinct: [1, 2, 3].map(|n| distinct_n(&texts, n)),
            mean_tokens: if count == 0 {
                0.0
            } else {
                texts.iter().map(Vec::len).sum::<usize>() as f64 / count as f64
            },
            eos_pct: eos
                .filter(|e| !e.is_empty())
                .map(|e| 100.0 * e.iter().filter(|&&x| x).count() as f64 / e.len() as f64),
        }
    }
}
