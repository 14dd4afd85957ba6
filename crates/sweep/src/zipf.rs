//! The Zipf coefficient.

use std::collections::HashMap;

/// Ranks the Zipf fit uses at most, as in the paper's released code (`metrics/zipf.py`,
/// `--N 5000`): the rare tail, where every count is 1 or 2, would otherwise flatten the fit
/// by how many tokens were sampled rather than by how they are distributed.
pub const ZIPF_RANKS: usize = 5_000;

/// Zipf's coefficient `s` of the tokens in `generations`: the least-squares fit of
/// `ln f(r) = c − s · ln r` over the [`ZIPF_RANKS`] most frequent distinct tokens, `f(r)`
/// the count of the `r`-th most frequent (ties in any order: equal counts give the same
/// points). `s ≈ 1` for natural text; `None` with fewer than two distinct tokens.
pub fn zipf_coefficient(generations: &[Vec<u32>]) -> Option<f64> {
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for t in generations.iter().flatten() {
        *counts.entry(*t).or_insert(0) += 1;
    }
    let mut freqs: Vec<usize> = counts.into_values().collect();
    if freqs.len() < 2 {
        return None;
    }
    freqs.sort_unstable_by(|a, b| b.cmp(a));
    freqs.truncate(ZIPF_RANKS);
    let points: Vec<(f64, f64)> = freqs
        .iter()
        .enumerate()
        .map(|(r, f)| (((r + 1) as f64).ln(), (*f as f64).ln()))
        .collect();
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points
        .iter()
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    (sxx > 0.0).then(|| -sxy / sxx)
}
