//! dial against llama.cpp's answers for one GGUF file, as `scripts/llama-cpp-references`
//! records them (F32 KV cache, flash attention off): tokens, top-20 log-probabilities,
//! greedy continuations and perplexity. Each check returns what it measured, for the
//! test to bound and print.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_model::{GenerateOptions, Model};
use dial_sampling::{Knobs, Temperature};
use std::path::{Path, PathBuf};

/// The test data directory.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn greedy(max_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        knobs: Knobs {
            temperature: Some(Temperature::new(0.0).unwrap()),
            ..Knobs::default()
        },
        max_tokens,
        ..GenerateOptions::default()
    }
}

fn log_softmax_at(logits: &[f32], id: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    logits[id] as f64 - max - z.ln()
}

/// Asserts dial's tokens equal llama.cpp's on every case; returns how many cases.
pub fn tokenizer_cases(m: &Model, dir: &Path) -> usize {
    let cases = lines(&dir.join("tokenize.jsonl"));
    for v in &cases {
        let text = v["text"].as_str().unwrap();
        assert_eq!(
            m.tokenizer().encode(text, true),
            ids(&v["ids"]),
            "{}: {text:?}",
            dir.display()
        );
    }
    cases.len()
}

/// The largest and the mean gap between dial's and llama.cpp's log-probabilities of
/// llama.cpp's top 20 after each prompt (and its greedy tokens before `top_position`). Also asserts the most likely token is
/// llama.cpp's wherever llama.cpp's own margin exceeds `tolerance`.
pub fn top_logprob_gaps(m: &Model, dir: &Path, tolerance: f64) -> (f64, f64) {
    let (mut worst, mut total, mut n) = (0f64, 0f64, 0);
    for v in lines(&dir.join("greedy.jsonl")) {
        let prompt = v["prompt"].as_str().unwrap();
        // After the prompt and llama.cpp's greedy tokens before `top_position`.
        let position = v["top_position"].as_u64().unwrap() as usize;
        let greedy = ids(&v["ids"]);
        let mut tokens = m.tokenizer().encode(prompt, true);
        tokens.extend(&greedy[..position]);
        let logits = m.session().unwrap().next_logits(&tokens).unwrap();
        let top = v["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 20);
        for t in top {
            let id = t["id"].as_u64().unwrap() as usize;
            let off = (log_softmax_at(&logits, id) - t["logprob"].as_f64().unwrap()).abs();
            worst = worst.max(off);
            total += off;
            n += 1;
        }
        let argmax = logits
            .iter()
            .enumerate()
            .fold(0, |best, (i, &l)| if l > logits[best] { i } else { best });
        if v["margins"][position].as_f64().unwrap() > tolerance {
            assert_eq!(
                argmax,
                greedy[position] as usize,
                "{}: {prompt:?}",
                dir.display()
            );
        }
    }
    (worst, total / n as f64)
}

/// Greedy tokens equal to llama.cpp's, counted up to each continuation's end or its first
/// near-tie (llama.cpp's own margin under `tolerance`), where two correct engines may part.
/// Parting anywhere else fails.
pub fn greedy_tokens_matched(m: &Model, dir: &Path, tolerance: f64) -> usize {
    let mut matched = 0;
    for v in lines(&dir.join("greedy.jsonl")) {
        let prompt = v["prompt"].as_str().unwrap();
        let n = v["max_tokens"].as_u64().unwrap() as usize;
        let got: Vec<u32> = m
            .generate(prompt, greedy(n))
            .unwrap()
            .map(|step| step.unwrap().token)
            .collect();
        let want = ids(&v["ids"]);
        let margins = v["margins"].as_array().unwrap();
        match got.iter().zip(&want).position(|(a, b)| a != b) {
            None => {
                assert_eq!(got, want, "{}: {prompt:?}", dir.display());
                matched += got.len();
            }
            Some(i) => {
                // Where llama.cpp did not report the position (a token ending inside a
                // UTF-8 character), dial's own gap between the two tokens stands in.
                let margin = margins[i].as_f64().unwrap_or_else(|| {
                    let mut tokens = m.tokenizer().encode(prompt, true);
                    tokens.extend(&got[..i]);
                    let logits = m.session().unwrap().next_logits(&tokens).unwrap();
                    log_softmax_at(&logits, got[i] as usize)
                        - log_softmax_at(&logits, want[i] as usize)
                });
                assert!(
                    margin < tolerance,
                    "{}: {prompt:?} parts at token {i} where the margin is {margin}",
                    dir.display()
                );
                matched += i;
            }
        }
    }
    matched
}

/// The largest relative gap between dial's perplexity and llama.cpp's, over every
/// recorded context size; the chunk counts must agree.
pub fn perplexity_gap(m: &Model, dir: &Path) -> f64 {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("perplexity.json")).unwrap())
            .unwrap();
    let text = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(reference["text"].as_str().unwrap());
    let text = std::fs::read_to_string(text).unwrap();
    let mut worst = 0f64;
    for (ctx, r) in reference["by_ctx"].as_object().unwrap() {
        let ctx: usize = ctx.parse().unwrap();
        let p = m.perplexity(&text, ctx, |_, _| {}).unwrap();
        assert_eq!(
            p.chunks as u64,
            r["chunks"].as_u64().unwrap(),
            "{}",
            dir.display()
        );
        worst = worst.max((p.ppl / r["ppl"].as_f64().unwrap() - 1.0).abs());
    }
    worst
}

/// Asserts each prompt's logits are the same bits prefilled at once and fed token by token.
pub fn prefill_equals_decode(m: &Model, dir: &Path) {
    for v in lines(&dir.join("greedy.jsonl")) {
        let tokens = m.tokenizer().encode(v["prompt"].as_str().unwrap(), true);
        let whole = m.session().unwrap().next_logits(&tokens).unwrap();
        let mut s = m.session().unwrap();
        let mut last = Vec::new();
        for &t in &tokens {
            last = s.next_logits(&[t]).unwrap();
        }
        assert!(
            whole == last,
            "{}: prefill and decode differ",
            dir.display()
        );
    }
}
