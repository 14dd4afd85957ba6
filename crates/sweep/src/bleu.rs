//! BLEU-4 and self-BLEU-4.

use std::collections::HashMap;

/// The count that replaces a zero n-gram match (Chen & Cherry's smoothing method 1), so
/// one missing order does not make the whole score 0.
pub const SELF_BLEU_EPSILON: f64 = 0.1;

fn ngram_counts(tokens: &[u32], n: usize) -> HashMap<&[u32], usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

/// BLEU-4 of `hypothesis` against `references` (Papineni et al. 2002), on token ids:
///
/// ```text
/// p_n  = Σ_g min(count_hyp(g), max_r count_r(g)) / Σ_g count_hyp(g)    (n = 1..4)
///        (a zero numerator counts as ε = SELF_BLEU_EPSILON)
/// BP   = 1 if c > r, else exp(1 − r / c)   (c the hypothesis length, r the closest
///        reference length, the shorter on a tie)
/// BLEU = BP · exp(¼ Σ_n ln p_n)
/// ```
///
/// `None` when the hypothesis has fewer than 4 tokens or there is no reference.
pub fn bleu4(hypothesis: &[u32], references: &[&[u32]]) -> Option<f64> {
    if hypothesis.len() < 4 || references.is_empty() {
        return None;
    }
    let mut log_sum = 0.0;
    for n in 1..=4 {
        let hyp = ngram_counts(hypothesis, n);
        let mut max_ref: HashMap<&[u32], usize> = HashMap::new();
        for r in references {
            for (gram, count) in ngram_counts(r, n) {
                let slot = max_ref.entry(gram).or_insert(0);
                *slot = (*slot).max(count);
            }
        }
        let total: usize = hyp.values().sum();
        let clipped: usize = hyp
            .iter()
            .map(|(gram, count)| (*count).min(max_ref.get(gram).copied().unwrap_or(0)))
            .sum();
        let matched = if clipped == 0 {
            SELF_BLEU_EPSILON
        } else {
            clipped as f64
        };
        log_sum += (matched / total as f64).ln();
    }
    let c = hypothesis.len();
    let r = references
        .iter()
        .map(|r| r.len())
        .min_by_key(|&len| (len.abs_diff(c), len))
        .unwrap_or(c);
    let brevity = if c > r {
        1.0
    } else {
        (1.0 - r as f64 / c as f64).exp()
    };
    Some(brevity * (log_sum / 4.0).exp())
}

/// Self-BLEU-4 (Zhu et al. 2018, as Holtzman et al. use it): each of the first `sample`
/// generations scored by [`bleu4`] against all the other generations, then averaged.
/// Generations shorter than 4 tokens are skipped as hypotheses but stay as references.
/// `None` with fewer than two generations, or none long enough.
pub fn self_bleu4(generations: &[Vec<u32>], sample: usize) -> Option<f64> {
    if generations.len() < 2 {
        return None;
    }
    let scores: Vec<f64> = (0..generations.len().min(sample))
        .filter_map(|i| {
            let references: Vec<&[u32]> = generations
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, g)| g.as_slice())
                .collect();
            bleu4(&generations[i], &references)
        })
        .collect();
    (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
}
