//! distinct-n.

use std::collections::HashSet;

/// distinct-n (Li et al. 2016): unique n-grams over all n-grams, pooled across
/// `generations` (an n-gram never spans two generations). `None` when there is no n-gram.
pub fn distinct_n(generations: &[Vec<u32>], n: usize) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let mut unique = HashSet::new();
    let mut total = 0usize;
    for g in generations {
        for gram in g.windows(n) {
            unique.insert(gram);
            total += 1;
        }
    }
    (total > 0).then(|| unique.len() as f64 / total as f64)
}
