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
    let brevity = brevity_penalty(hypothesis.len(), references.iter().map(|r| r.len()));
    Some(brevity * (log_sum / 4.0).exp())
}

/// `1` when the hypothesis (`c` tokens) is longer than the closest reference length `r`
/// (the shorter on a tie), else `exp(1 − r / c)`.
fn brevity_penalty(c: usize, reference_lengths: impl Iterator<Item = usize>) -> f64 {
    let r = reference_lengths
        .min_by_key(|&len| (len.abs_diff(c), len))
        .unwrap_or(c);
    if c > r {
        1.0
    } else {
        (1.0 - r as f64 / c as f64).exp()
    }
}

/// Self-BLEU-4 (Zhu et al. 2018, as Holtzman et al. use it): each of the first `sample`
/// generations scored by [`bleu4`] against all the other generations, then averaged.
/// Generations shorter than 4 tokens are skipped as hypotheses but stay as references.
/// `None` with fewer than two generations, or none long enough.
///
/// Equal to calling [`bleu4`] once per hypothesis, in `O(total tokens)` per n-gram order
/// instead of `O(generations × total tokens)`: the clipping count against "all the
/// others" is the largest count of that n-gram in any generation, or the second largest
/// when the largest is the hypothesis' own.
pub fn self_bleu4(generations: &[Vec<u32>], sample: usize) -> Option<f64> {
    if generations.len() < 2 {
        return None;
    }
    let hypotheses = generations.len().min(sample);
    // Per order: each generation's counts, and per n-gram the best and runner-up count.
    let mut log_sums = vec![0.0f64; hypotheses];
    for n in 1..=4 {
        let counts: Vec<HashMap<&[u32], usize>> =
            generations.iter().map(|g| ngram_counts(g, n)).collect();
        let mut best: HashMap<&[u32], Leaders> = HashMap::new();
        for (owner, c) in counts.iter().enumerate() {
            for (&gram, &count) in c {
                best.entry(gram).or_default().offer(owner, count);
            }
        }
        for (i, log_sum) in log_sums.iter_mut().enumerate() {
            let hyp = &counts[i];
            let total: usize = hyp.values().sum();
            if total == 0 {
                continue;
            }
            let clipped: usize = hyp
                .iter()
                .map(|(gram, &count)| count.min(best.get(gram).map_or(0, |l| l.excluding(i))))
                .sum();
            let matched = if clipped == 0 {
                SELF_BLEU_EPSILON
            } else {
                clipped as f64
            };
            *log_sum += (matched / total as f64).ln();
        }
    }
    let scores: Vec<f64> = (0..hypotheses)
        .filter(|&i| generations[i].len() >= 4)
        .map(|i| {
            let others = generations
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, g)| g.len());
            brevity_penalty(generations[i].len(), others) * (log_sums[i] / 4.0).exp()
        })
        .collect();
    (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
}

/// The two largest counts of one n-gram across generations, and whose the largest is.
#[derive(Default)]
struct Leaders {
    best: usize,
    owner: usize,
    second: usize,
}

impl Leaders {
    fn offer(&mut self, owner: usize, count: usize) {
        if count > self.best {
            self.second = self.best;
            self.best = count;
            self.owner = owner;
        } else if count > self.second {
            self.second = count;
        }
    }

    /// The largest count among the generations other than `i`.
    fn excluding(&self, i: usize) -> usize {
        if self.owner == i {
            self.second
        } else {
            self.best
        }
    }
}
