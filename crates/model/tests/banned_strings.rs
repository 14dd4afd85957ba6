//! `banned_strings` with rewind on the real default model: phrases that the unconstrained
//! model does write never appear once banned, and every rewind lands on the same bits
//! alone and batched. Release only:
//! `cargo test --release -p dial-model --test banned_strings`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_fetch::{self as fetch, FetchOptions};
use dial_model::{GenerateOptions, Generation, Model, Step, step_batch};
use dial_sampling::{SamplingParams, Value};
use std::collections::BTreeMap;

const PROMPTS: [&str; 8] = [
    "Once upon a time",
    "The weather today is",
    "My favourite food is",
    "The little dog ran",
    "In the morning I like to",
    "She looked out of the window and",
    "The best thing about summer is",
    "He opened the old box and found",
];
const SEEDS: u64 = 25;
const MAX_TOKENS: usize = 16;

fn model() -> Model {
    let options = FetchOptions {
        progress: false,
        ..FetchOptions::default()
    };
    let path = fetch::ensure(&fetch::GEMMA3_270M, &options).unwrap();
    Model::load(&path, |_, _| {}).unwrap()
}

/// Generation `i` of the 200: its prompt, seed and knobs (every other one ignores case).
fn generation(m: &Model, i: usize, banned: &[String]) -> Generation {
    let mut params = SamplingParams::default();
    params.set_text("temperature", "1").unwrap();
    params.set_text("top_p", "0.95").unwrap();
    if !banned.is_empty() {
        params
            .set("banned_strings", Value::Strings(banned.to_vec()))
            .unwrap();
        params
            .set(
                "banned_strings_case_insensitive",
                Value::Bool(i.is_multiple_of(2)),
            )
            .unwrap();
    }
    let options = GenerateOptions {
        knobs: m.knobs(&params).unwrap(),
        seed: 7000 + i as u64,
        max_tokens: MAX_TOKENS,
        logprobs: true,
        ..GenerateOptions::default()
    };
    let prompt = m.tokenizer().encode(PROMPTS[i % PROMPTS.len()], true);
    Generation::new(m.session().unwrap(), &prompt, options).unwrap()
}

/// One finished generation: its text, each token with its logprob's bits, its rewinds.
#[derive(Debug, PartialEq)]
struct Done {
    text: String,
    tokens: Vec<(u32, u64, Option<u64>)>,
    rewinds: usize,
}

fn record(steps: &[Step], rewinds: usize) -> Done {
    Done {
        text: steps.iter().map(|s| s.text.as_str()).collect(),
        tokens: steps
            .iter()
            .map(|s| {
                (
                    s.token,
                    s.logprob.to_bits(),
                    s.raw_logprob.map(f64::to_bits),
                )
            })
            .collect(),
        rewinds,
    }
}

/// All 200, eight at a time through the batched engine step.
fn batched(m: &Model, banned: &[String]) -> Vec<Done> {
    let n = PROMPTS.len() * SEEDS as usize;
    let mut out = Vec::new();
    for group in (0..n).collect::<Vec<_>>().chunks(8) {
        let mut running: Vec<(Generation, Vec<Step>)> = group
            .iter()
            .map(|&i| (generation(m, i, banned), Vec::new()))
            .collect();
        loop {
            let mut live: Vec<&mut (Generation, Vec<Step>)> = running
                .iter_mut()
                .filter(|(g, _)| g.finish_reason().is_none())
                .collect();
            if live.is_empty() {
                break;
            }
            let mut generations: Vec<&mut Generation> = live.iter_mut().map(|(g, _)| g).collect();
            let batch = step_batch(m, &mut generations, 256);
            drop(generations);
            for ((_, steps), outcome) in live.iter_mut().zip(batch.outcomes) {
                assert!(outcome.error.is_none(), "{:?}", outcome.error);
                steps.extend(outcome.steps);
            }
        }
        out.extend(running.iter().map(|(g, steps)| record(steps, g.rewinds())));
    }
    out
}

/// Generation `i` alone, through the iterator.
fn alone(m: &Model, i: usize, banned: &[String]) -> Done {
    let mut g = generation(m, i, banned);
    let steps: Vec<Step> = g.by_ref().map(Result::unwrap).collect();
    record(&steps, g.rewinds())
}

/// The words of at least five letters, by how many texts contain them, most first.
fn common_words(texts: &[&str]) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for text in texts {
        let mut words: Vec<String> = text
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| w.chars().count() >= 5)
            .map(str::to_lowercase)
            .collect();
        words.sort();
        words.dedup();
        for w in words {
            *counts.entry(w).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

/// Two words of at least three letters with one space between, as written, by how many
/// texts contain them, most first.
fn common_pairs(texts: &[&str]) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for text in texts {
        let words: Vec<&str> = text.split(' ').collect();
        let mut pairs: Vec<String> = words
            .windows(2)
            .filter(|w| {
                w.iter()
                    .all(|w| w.len() >= 3 && w.chars().all(char::is_alphabetic))
            })
            .map(|w| w.join(" "))
            .collect();
        pairs.sort();
        pairs.dedup();
        for p in pairs {
            *counts.entry(p).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

fn contains(text: &str, phrase: &str, ignore_case: bool) -> bool {
    if ignore_case {
        text.to_lowercase().contains(&phrase.to_lowercase())
    } else {
        text.contains(phrase)
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn banned_phrases_never_appear_and_rewinds_match_alone_and_batched() {
    let m = model();
    let plain = batched(&m, &[]);
    let texts: Vec<&str> = plain.iter().map(|d| d.text.as_str()).collect();
    // The three words and the two-word phrase that the unconstrained model writes in the
    // most of its 200 texts.
    let ranked = common_words(&texts);
    let mut banned: Vec<String> = ranked.iter().take(3).map(|(w, _)| w.clone()).collect();
    for (word, texts) in ranked.iter().take(3) {
        assert!(*texts >= 8, "{word:?} is in only {texts} of 200 texts");
    }
    let (pair, in_texts) = common_pairs(&texts).into_iter().next().unwrap();
    assert!(in_texts >= 5, "{pair:?} is in only {in_texts} of 200 texts");
    banned.push(pair);
    let before: usize = banned
        .iter()
        .map(|p| {
            texts
                .iter()
                .enumerate()
                .filter(|(i, t)| contains(t, p, i.is_multiple_of(2)))
                .count()
        })
        .sum();
    assert!(
        before >= 24,
        "{banned:?} appear only {before} times unconstrained"
    );

    let kept = batched(&m, &banned);
    for (i, done) in kept.iter().enumerate() {
        for phrase in &banned {
            assert!(
                !contains(&done.text, phrase, i.is_multiple_of(2)),
                "generation {i} wrote {phrase:?}: {:?}",
                done.text
            );
        }
        assert!(!done.tokens.is_empty() && done.tokens.len() <= MAX_TOKENS);
    }
    let rewinds: usize = kept.iter().map(|d| d.rewinds).sum();
    eprintln!("banned {banned:?}: {before} times unconstrained, {rewinds} rewinds");
    assert!(rewinds >= 24, "{rewinds} rewinds over 200 generations");
    // Every generation that rewound gives the same tokens, bits and rewinds alone.
    let mut checked = 0;
    for (i, done) in kept.iter().enumerate().filter(|(_, d)| d.rewinds > 0) {
        assert_eq!(&alone(&m, i, &banned), done, "generation {i}");
        // The rolled-back cache gave the logits a fresh pass over the final tokens gives.
        let prompt = m.tokenizer().encode(PROMPTS[i % PROMPTS.len()], true);
        let tokens: Vec<u32> = done.tokens.iter().map(|t| t.0).collect();
        let nlls = m.continuation_nlls(&prompt, &tokens).unwrap();
        for (nll, t) in nlls.iter().zip(&done.tokens) {
            let raw = f64::from_bits(t.2.unwrap());
            assert!(
                (nll + raw).abs() < 1e-6,
                "generation {i}: {nll} against {raw}"
            );
        }
        checked += 1;
    }
    assert!(checked > 0);
    // Those that did not rewind are the unconstrained ones, token for token.
    for (i, (done, free)) in kept.iter().zip(&plain).enumerate() {
        if done.rewinds == 0 {
            assert_eq!(done, free, "generation {i}");
        }
    }
}
