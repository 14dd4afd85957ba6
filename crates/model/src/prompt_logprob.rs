//! How likely each prompt token was, given the tokens before it.

use crate::perplexity::token_nll;

/// A prompt token's log-probability under the model's raw distribution (T = 1, no knobs)
/// given every token before it: vLLM's `prompt_logprobs`, and the prompt half of OpenAI's
/// legacy `echo` with `logprobs`.
///
/// `logprob = x_t − ln Σ_v e^{x_v}` (the same number [`token_nll`] negates), `rank = 1 +
/// #{v : x_v > x_t}` and `top` the most likely tokens, most likely first, ties to the
/// lower id.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PromptLogprob {
    /// The prompt token.
    pub token: u32,
    /// Its log-probability.
    pub logprob: f64,
    /// 1 plus the number of tokens more likely than it.
    pub rank: usize,
    /// The most likely tokens at this position and their log-probabilities.
    pub top: Vec<(u32, f64)>,
}

impl PromptLogprob {
    /// Scores `token` against the next-token `logits`, with the `top` most likely.
    pub fn score(logits: &[f32], token: u32, top: usize) -> Self {
        let nll = token_nll(logits, token);
        let x = logits
            .get(token as usize)
            .copied()
            .unwrap_or(f32::NEG_INFINITY);
        let ln_z = f64::from(x) + nll;
        let rank = 1 + logits.iter().filter(|&&v| v > x).count();
        // A short list kept sorted: `top` is at most a few dozen.
        let mut best: Vec<(u32, f32)> = Vec::with_capacity(top + 1);
        if top > 0 {
            for (id, &v) in logits.iter().enumerate() {
                if v.is_nan() || (best.len() == top && v <= best[top - 1].1) {
                    continue;
                }
                let at = best.partition_point(|&(_, b)| b >= v);
                best.insert(at, (id as u32, v));
                best.truncate(top);
            }
        }
        PromptLogprob {
            token,
            logprob: -nll,
            rank,
            top: best
                .into_iter()
                .map(|(id, v)| (id, f64::from(v) - ln_z))
                .collect(),
        }
    }
}

/// Where a [`crate::StepInput`] asks for its rows scored: row `i`'s logits score
/// `targets[i]` (a prompt's last chunk has one target fewer than rows: its last row's
/// logits are the generation's).
#[derive(Debug)]
pub struct PromptScoring<'a> {
    /// The token each row is scored against.
    pub targets: &'a [u32],
    /// Alternatives per row.
    pub top: usize,
    /// Where the scores go, in row order.
    pub out: &'a mut Vec<PromptLogprob>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scores_against_a_softmax_in_f64() {
        let logits = [1.3f32, 2.5, 0.7, 3.2, 0.2, 1.0, 2.5];
        let z: f64 = logits.iter().map(|&x| f64::from(x).exp()).sum();
        let s = PromptLogprob::score(&logits, 1, 3);
        assert!((s.logprob - (2.5 - z.ln())).abs() < 1e-6);
        assert_eq!(s.rank, 2);
        let ids: Vec<u32> = s.top.iter().map(|t| t.0).collect();
        assert_eq!(ids, vec![3, 1, 6], "ties go to the lower id");
        assert!((s.top[0].1 - (3.2 - z.ln())).abs() < 1e-6);
        assert!(PromptLogprob::score(&logits, 3, 0).top.is_empty());
        assert_eq!(PromptLogprob::score(&logits, 3, 0).rank, 1);
    }
}
