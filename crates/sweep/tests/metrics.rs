//! Each metric on hand-made texts with known answers.
#![allow(clippy::unwrap_used)]

use dial_sweep::{
    DEFAULT_SETTINGS, Metrics, Scored, bleu4, default_prompts, distinct_n, generation_seed,
    is_repetitive, repetition_share, self_bleu4, split_setting, zipf_coefficient,
};

// Computed independently (a Python transcription of the rustdoc's formula).
const PINNED_GREEDY_0_0: u64 = 18_123_230_749_475_228_763;
const PINNED_NUCLEUS_3_1: u64 = 11_845_421_461_062_185_421;

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

#[test]
fn self_bleu_equals_bleu_against_all_the_others() {
    // Overlapping generations of different lengths, from a fixed linear congruence.
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) as u32
    };
    let generations: Vec<Vec<u32>> = (0..12)
        .map(|i| (0..(3 + 7 * i % 40)).map(|_| next() % 6).collect())
        .collect();
    let naive: Vec<f64> = (0..generations.len())
        .filter_map(|i| {
            let others: Vec<&[u32]> = generations
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, g)| g.as_slice())
                .collect();
            bleu4(&generations[i], &others)
        })
        .collect();
    let expected = naive.iter().sum::<f64>() / naive.len() as f64;
    let got = self_bleu4(&generations, 1000).unwrap();
    assert!(close(got, expected, 1e-12), "{got} vs {expected}");
    // The sample takes the first hypotheses only.
    let first = bleu4(
        &generations[1],
        &generations
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != 1)
            .map(|(_, g)| g.as_slice())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    // Generation 0 has 3 tokens: it is no hypothesis, so a sample of 2 is generation 1 alone.
    assert!(close(self_bleu4(&generations, 2).unwrap(), first, 1e-12));
}

#[test]
fn metrics_pool_every_token() {
    let a = [1u32, 2, 3, 4, 5];
    let b = [1u32, 2, 1, 2, 1, 2];
    let (na, nb) = ([0.5; 5], [1.0; 6]);
    let m = Metrics::of(&[
        Scored {
            tokens: &a,
            nlls: &na,
            ended_at_eos: Some(true),
        },
        Scored {
            tokens: &b,
            nlls: &nb,
            ended_at_eos: Some(false),
        },
    ]);
    // exp((5 · 0.5 + 6 · 1) / 11).
    assert!(close(m.perplexity.unwrap(), (8.5f64 / 11.0).exp(), 1e-12));
    assert_eq!(m.repetition_pct, Some(50.0));
    assert_eq!(m.eos_pct, Some(50.0));
    assert!(close(m.mean_tokens, 5.5, 1e-12));
    // Unigrams: 5 unique of 11.
    assert!(close(m.distinct[0].unwrap(), 5.0 / 11.0, 1e-12));
    let reference = Metrics::of(&[Scored {
        tokens: &a,
        nlls: &na,
        ended_at_eos: None,
    }]);
    assert_eq!(reference.eos_pct, None);
    assert_eq!(reference.self_bleu4, None);
    let empty = Metrics::of(&[]);
    assert_eq!(empty.perplexity, None);
    assert_eq!(empty.mean_tokens, 0.0);
    let json = serde_json::to_value(&m).unwrap();
    for key in [
        "perplexity",
        "self_bleu4",
        "zipf",
        "repetition_pct",
        "distinct",
        "mean_tokens",
        "eos_pct",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
}

#[test]
fn value_stability_of_generation_seeds() {
    // Pinned: changing the derivation changes every saved sweep's continuations.
    assert_eq!(generation_seed(0, "greedy", 0, 0), PINNED_GREEDY_0_0);
    assert_eq!(
        generation_seed(42, "nucleus 0.95", 3, 1),
        PINNED_NUCLEUS_3_1
    );
    let mut seen = std::collections::HashSet::new();
    for setting in ["a", "b"] {
        for prompt in 0..20 {
            for sample in 0..5 {
                assert!(seen.insert(generation_seed(9, setting, prompt, sample)));
            }
        }
    }
    assert_ne!(generation_seed(1, "a", 0, 0), generation_seed(2, "a", 0, 0));
}

#[test]
fn settings_split_into_a_name_and_knobs() {
    assert_eq!(
        split_setting("greedy=temperature=0"),
        ("greedy".into(), "temperature=0".into())
    );
    assert_eq!(
        split_setting("top_k=40,temperature=0.7"),
        (
            "top_k=40,temperature=0.7".into(),
            "top_k=40,temperature=0.7".into()
        )
    );
    assert_eq!(
        split_setting(" my knobs = top_p=0.9,min_p=0.05"),
        ("my knobs".into(), "top_p=0.9,min_p=0.05".into())
    );
    assert_eq!(split_setting("=top_p=0.9").0, "=top_p=0.9");
    let names: std::collections::HashSet<&str> = DEFAULT_SETTINGS.iter().map(|s| s.0).collect();
    assert_eq!(names.len(), DEFAULT_SETTINGS.len());
    let prompts = default_prompts();
    assert!(prompts.len() >= 50);
    let unique: std::collections::HashSet<&str> = prompts.iter().copied().collect();
    assert_eq!(unique.len(), prompts.len());
}
