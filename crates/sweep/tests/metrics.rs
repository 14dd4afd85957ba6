//! Each metric on hand-made texts with known answers.
#![allow(clippy::unwrap_used)]

use dial_sweep::{
    bleu4, distinct_n, is_repetitive, repetition_share, self_bleu4, zipf_coefficient,
};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn a_looping_text_is_repetitive_and_a_varied_one_is_not() {
    // "the cat sat" three times at the end.
    let looping = [9, 8, 1, 2, 3, 1, 2, 3, 1, 2, 3];
    assert!(is_repetitive(&looping));
    // Twice is not enough; a single repeated token six times is (its pairs, thrice).
    assert!(!is_repetitive(&[9, 1, 2, 3, 1, 2, 3]));
    assert!(is_repetitive(&[7, 5, 5, 5, 5, 5, 5]));
    assert!(!is_repetitive(&[7, 5, 5, 5, 5, 5]));
    // A loop that is not at the end does not count.
    assert!(!is_repetitive(&[1, 2, 1, 2, 1, 2, 3, 4, 5, 6]));
    assert!(!is_repetitive(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    let all_loop = vec![looping.to_vec(); 4];
    assert_eq!(repetition_share(&all_loop), Some(100.0));
    let half = vec![looping.to_vec(), (1..20).collect()];
    assert_eq!(repetition_share(&half), Some(50.0));
    assert_eq!(repetition_share(&[]), None);
}

#[test]
fn identical_generations_have_self_bleu_one_and_disjoint_ones_near_zero() {
    let g: Vec<u32> = (1..=30).collect();
    let same = vec![g.clone(); 5];
    assert!(close(self_bleu4(&same, 100).unwrap(), 1.0, 1e-12));
    // Nothing shared: every precision is ε / count.
    let disjoint: Vec<Vec<u32>> = (0..4)
        .map(|i| (0..30).map(|t| 1000 * i + t).collect())
        .collect();
    let s = self_bleu4(&disjoint, 100).unwrap();
    assert!(s < 0.01, "{s}");
    // By hand: hypothesis 1 2 3 4 5 against 1 2 3 4 9: p1 = 4/5, p2 = 3/4, p3 = 2/3,
    // p4 = 1/2, equal lengths so BP = 1; BLEU = (4/5 · 3/4 · 2/3 · 1/2)^(1/4) = 0.2^(1/4).
    let b = bleu4(&[1, 2, 3, 4, 5], &[&[1, 2, 3, 4, 9]]).unwrap();
    assert!(close(b, 0.2f64.powf(0.25), 1e-12), "{b}");
    // A short hypothesis pays the brevity penalty exp(1 − r / c).
    let short = bleu4(&[1, 2, 3, 4], &[&[1, 2, 3, 4, 5, 6, 7, 8]]).unwrap();
    assert!(close(short, (1.0f64 - 2.0).exp(), 1e-12), "{short}");
    assert_eq!(bleu4(&[1, 2, 3], &[&[1, 2, 3]]), None);
    assert_eq!(self_bleu4(&[g], 10), None);
}

#[test]
fn a_zipf_sample_has_slope_one() {
    // Token r appears ⌊10000 / r⌋ times: frequencies ∝ 1/r.
    let tokens: Vec<u32> = (1..=200u32)
        .flat_map(|r| std::iter::repeat_n(r, (10_000 / r) as usize))
        .collect();
    let s = zipf_coefficient(&[tokens]).unwrap();
    assert!(close(s, 1.0, 0.02), "{s}");
    // ∝ 1/r² gives 2; all tokens equally frequent gives 0.
    let steep: Vec<u32> = (1..=50u32)
        .flat_map(|r| std::iter::repeat_n(r, (100_000 / (r * r)) as usize))
        .collect();
    assert!(close(zipf_coefficient(&[steep]).unwrap(), 2.0, 0.05));
    let flat: Vec<u32> = (0..100).collect();
    assert!(close(zipf_coefficient(&[flat]).unwrap(), 0.0, 1e-12));
    assert_eq!(zipf_coefficient(&[vec![3, 3, 3]]), None);
}

#[test]
fn distinct_n_counts_unique_ngrams_within_generations() {
    let g = vec![vec![1, 2, 1, 2], vec![1, 2, 3]];
    // Unigrams: 1 2 1 2 1 2 3 → 3 unique of 7.
    assert!(close(distinct_n(&g, 1).unwrap(), 3.0 / 7.0, 1e-12));
    // Bigrams: (1 2)(2 1)(1 2) | (1 2)(2 3) → 3 unique of 5; none across the boundary.
    assert!(close(distinct_n(&g, 2).unwrap(), 3.0 / 5.0, 1e-12));
    assert_eq!(distinct_n(&[vec![1, 2]], 3), None);
    assert_eq!(distinct_n(&g, 0), None);
}
