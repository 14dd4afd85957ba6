//! Generations that end in a loop.

/// Whether `tokens` ends in a loop: some phrase of `L ≥ 2` tokens makes up the last
/// `3L` tokens, three times over (`t[n−3L..n−2L] = t[n−2L..n−L] = t[n−L..n]`). This is
/// Holtzman et al.'s rule: a phrase of at least two tokens repeated at the end at least
/// three times. (A single token repeated 6 times counts, as the phrase of its pairs.)
pub fn is_repetitive(tokens: &[u32]) -> bool {
    let n = tokens.len();
    (2..=n / 3).any(|l| {
        let last = &tokens[n - l..];
        last == &tokens[n - 2 * l..n - l] && last == &tokens[n - 3 * l..n - 2 * l]
    })
}

/// The share of `generations`, in percent, that [`is_repetitive`]; `None` when there are
/// none.
pub fn repetition_share(generations: &[Vec<u32>]) -> Option<f64> {
    if generations.is_empty() {
        return None;
    }
    let looping = generations.iter().filter(|g| is_repetitive(g)).count();
    Some(100.0 * looping as f64 / generations.len() as f64)
}
