//! "Did you mean": the nearest known name to a misspelt one.

/// The candidate closest to `name` by edit distance, when it is close enough to be a
/// plausible typo (at most a third of the longer name's length, and at most 3 edits).
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_ascii_lowercase().replace('-', "_");
    let scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (edit_distance(&name, c), c))
        .collect();
    if scored.iter().any(|&(d, _)| d == 0) {
        return None;
    }
    scored
        .into_iter()
        .filter(|&(d, c)| d <= 3 && d * 3 <= name.len().max(c.len()))
        .min_by_key(|&(d, c)| (d, c))
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars, with the input bounded so a huge name costs little.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(128).collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_plausible_name() {
        let names = ["repeat_penalty", "repetition_penalty", "top_p", "top_k"];
        assert_eq!(nearest("repeat_penaltyy", names), Some("repeat_penalty"));
        assert_eq!(nearest("top-q", names), Some("top_k"));
        assert_eq!(nearest("completely_different", names), None);
        assert_eq!(nearest("top_p", names), None, "an exact name is not a typo");
    }
}
