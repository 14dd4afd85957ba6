//! The real default model, fetched by dial's own fetch code, against llama.cpp's reference
//! values (tests/data/gemma-3-270m, produced with llama.cpp on the same file) and the
//! properties generation must have. Release only:
//! `cargo test --release -p dial-model --test gemma3`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_fetch::{self as fetch, FetchOptions};
use dial_model::{FinishReason, GenerateOptions, Model};
use dial_sampling::{Knobs, Sampler, Temperature, TopK, TopP};
use std::path::PathBuf;
use std::sync::OnceLock;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// One model for the whole file (loading takes a second; the tests share it, each on
/// its own sessions).
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let options = FetchOptions {
            progress: false,
            ..FetchOptions::default()
        };
        let path = fetch::ensure(&fetch::GEMMA3_270M, &options).unwrap();
        Model::load(&path, |_, _| {}).unwrap()
    })
}

fn options(knobs: Knobs, seed: u64, max_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        knobs,
        seed,
        max_tokens,
        ..GenerateOptions::default()
    }
}

fn greedy() -> Knobs {
    Knobs {
        temperature: Some(Temperature::new(0.0).unwrap()),
        ..Knobs::default()
    }
}

fn text(m: &Model, prompt: &str, o: GenerateOptions) -> (String, Option<FinishReason>) {
    let mut g = m.generate(prompt, o).unwrap();
    let mut s = String::new();
    for step in g.by_ref() {
        s.push_str(&step.unwrap().text);
    }
    (s, g.finish_reason())
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn the_tokenizer_matches_llama_cpp_on_every_case() {
    let m = model();
    let cases = std::fs::read_to_string(data("gemma-3-270m/tokenize.jsonl")).unwrap();
    let mut n = 0;
    for line in cases.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = v["text"].as_str().unwrap();
        let want: Vec<u32> = v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(m.tokenizer().encode(text, true), want, "{text:?}");
        n += 1;
    }
    assert!(n >= 20);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn the_greedy_continuation_matches_llama_cpp_byte_for_byte() {
    let m = model();
    let v: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(data("gemma-3-270m/greedy.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let prompt = v["prompt"].as_str().unwrap();
    let n = v["max_tokens"].as_u64().unwrap() as usize;
    let (got, finish) = text(m, prompt, options(greedy(), 0, n));
    assert_eq!(got, v["greedy_continuation"].as_str().unwrap());
    assert_eq!(finish, Some(FinishReason::Length));
    // And it is deterministic.
    assert_eq!(text(m, prompt, options(greedy(), 7, n)).0, got);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn perplexity_is_within_three_percent_of_llama_cpp() {
    let m = model();
    let note = std::fs::read_to_string(data("sampling-controls.md")).unwrap();
    for (ctx, chunks, llama_cpp) in [(256, 7, 24.4583), (896, 2, 18.9870)] {
        let p = m.perplexity(&note, ctx, |_, _| {}).unwrap();
        assert_eq!(p.chunks, chunks);
        assert_eq!(p.scored, chunks * (ctx - 1 - ctx / 2));
        let off = (p.ppl / llama_cpp - 1.0).abs();
        assert!(
            off < 0.03,
            "n_ctx {ctx}: PPL {} vs llama.cpp {llama_cpp}",
            p.ppl
        );
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn seeds_reproduce_and_temperature_zero_is_top_k_one() {
    let m = model();
    let hot = Knobs {
        temperature: Some(Temperature::new(1.0).unwrap()),
        top_p: Some(TopP::new(0.95).unwrap()),
        ..Knobs::default()
    };
    let prompt = "Once upon a time";
    let a = text(m, prompt, options(hot.clone(), 11, 24)).0;
    assert_eq!(a, text(m, prompt, options(hot.clone(), 11, 24)).0);
    assert_ne!(a, text(m, prompt, options(hot, 12, 24)).0);
    let top1 = Knobs {
        top_k: Some(TopK::new(1)),
        ..Knobs::default()
    };
    assert_eq!(
        text(m, prompt, options(greedy(), 0, 24)).0,
        text(m, prompt, options(top1, 5, 24)).0
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn stop_strings_stop_and_are_not_printed() {
    let m = model();
    let mut o = options(greedy(), 0, 60);
    o.stop = vec!["years".into()];
    let (got, finish) = text(m, "The meaning of life is", o);
    assert_eq!(got, " not defined by the number of ");
    assert_eq!(finish, Some(FinishReason::Stop));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn logprobs_are_finite_sorted_and_the_token_is_kept() {
    let m = model();
    let knobs = Knobs {
        temperature: Some(Temperature::new(0.9).unwrap()),
        top_p: Some(TopP::new(0.9).unwrap()),
        ..Knobs::default()
    };
    let mut o = options(knobs.clone(), 3, 16);
    o.top_logprobs = 5;
    let steps: Vec<_> = m
        .generate("The cat sat on the", o)
        .unwrap()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(steps.len(), 16);
    for s in &steps {
        assert!(s.logprob.is_finite() && s.logprob <= 0.0);
        assert!(s.raw_logprob.unwrap().is_finite());
        assert!(!s.top.is_empty() && s.top.len() <= 5);
        assert!(
            s.top.windows(2).all(|w| w[0].logprob >= w[1].logprob),
            "sorted"
        );
        assert!(
            s.top
                .iter()
                .all(|t| t.logprob.is_finite() && t.raw_logprob.is_finite())
        );
    }
    // Step by step, the drawn token is in the kept set the sampler explains.
    let ids = m.tokenizer().encode("The cat sat on the", true);
    let mut session = m.session().unwrap();
    let mut logits = session.next_logits(&ids).unwrap();
    let mut sampler = Sampler::new(knobs, 3).unwrap();
    for _ in 0..16 {
        let kept = sampler.explain(&logits).unwrap().kept_ids();
        let t = sampler.sample_token(&logits).unwrap().id;
        assert!(kept.binary_search(&t).is_ok());
        logits = session.next_logits(&[t]).unwrap();
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn decoding_token_by_token_matches_one_prefill_bit_for_bit() {
    let m = model();
    let ids = m.tokenizer().encode(
        "The meaning of life is not defined by the number of years you live, but by the \
         quality of your life. Sampling controls shape what a language model says next.",
        true,
    );
    let bits = |row: &[f32]| row.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    let mut session = m.session().unwrap();
    let hidden = session.hidden_states(&ids).unwrap();
    let prefill = session.logits(&hidden).unwrap();
    // dial's kernels quantize each activation row alone and reduce in a fixed order, and
    // attention computes each query row the same way however the prompt is cut: one
    // prefill, token-by-token decode and uneven chunks give the same bits.
    session.reset().unwrap();
    for (i, &t) in ids.iter().enumerate() {
        let step = session.next_logits(&[t]).unwrap();
        assert!(bits(&step) == bits(&prefill[i]), "position {i} differs");
    }
    session.reset().unwrap();
    let (a, b) = ids.split_at(7);
    session.hidden_states(a).unwrap();
    let rest = session.hidden_states(b).unwrap();
    for (i, row) in session.logits(&rest).unwrap().iter().enumerate() {
        assert!(
            bits(row) == bits(&prefill[7 + i]),
            "chunked position {}",
            7 + i
        );
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn penalties_and_dry_break_the_greedy_loop() {
    let m = model();
    // Distinct-2 and the longest span of tokens that occurs twice.
    let distinct2 = |m: &Model, knobs: Knobs| -> (String, f64, usize) {
        let steps: Vec<u32> = m
            .generate("The meaning of life is", options(knobs, 0, 48))
            .unwrap()
            .map(|s| s.unwrap().token)
            .collect();
        let grams: Vec<&[u32]> = steps.windows(2).collect();
        let unique: std::collections::HashSet<&[u32]> = grams.iter().copied().collect();
        let text = m.tokenizer().decode(&steps);
        let repeated = (1..steps.len())
            .filter(|&n| {
                let mut seen = std::collections::HashSet::new();
                steps.windows(n).any(|w| !seen.insert(w))
            })
            .max()
            .unwrap_or(0);
        (text, unique.len() as f64 / grams.len() as f64, repeated)
    };
    let (loop_text, loop_d2, loop_span) = distinct2(m, greedy());
    assert!(loop_d2 < 0.7, "greedy should loop: {loop_d2} {loop_text:?}");
    assert!(
        loop_span >= 15,
        "greedy repeats {loop_span} tokens: {loop_text:?}"
    );
    let with_dry = Knobs {
        dry: Some(dial_sampling::Dry::new(0.8, 1.75, 2, None, []).unwrap()),
        ..greedy()
    };
    let (dry_text, dry_d2, dry_span) = distinct2(m, with_dry);
    assert_ne!(dry_text, loop_text);
    // DRY penalises extending a repeat past 2 tokens, growing ×1.75 per token: the loop's
    // long verbatim repeat must go, and the text gets more varied.
    assert!(
        dry_span * 2 <= loop_span && dry_d2 > loop_d2 + 0.1,
        "DRY: span {dry_span} vs {loop_span}, distinct-2 {dry_d2} vs {loop_d2}: {dry_text:?}"
    );
    let with_penalty = Knobs {
        penalties: Some(dial_sampling::Penalties::new(1.3, 0.0, 0.0).unwrap()),
        ..greedy()
    };
    let (_, pen_d2, _) = distinct2(m, with_penalty);
    assert!(
        pen_d2 > loop_d2 + 0.2,
        "repetition penalty: {pen_d2} vs {loop_d2}"
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn a_continuation_scores_as_it_was_generated() {
    // What a sweep records while drawing (token_nll of each step's logits) is what a
    // teacher-forced pass over the same tokens gives: the reference row and the
    // generations are measured alike.
    let m = model();
    let prompt = m.tokenizer().encode("The old lighthouse keeper had", true);
    let options = GenerateOptions {
        max_tokens: 40,
        seed: 5,
        ..GenerateOptions::default()
    };
    let mut generation = m.generate_from(&prompt, options).unwrap();
    let (mut tokens, mut drawn) = (Vec::new(), Vec::new());
    loop {
        generation.ready().unwrap();
        let logits = generation.logits().to_vec();
        let Some(step) = generation.draw().unwrap().pop() else {
            break;
        };
        drawn.push(dial_model::token_nll(&logits, step.token));
        tokens.push(step.token);
        if generation.finish_reason().is_some() {
            break;
        }
    }
    assert_eq!(tokens.len(), 40);
    let scored = m.continuation_nlls(&prompt, &tokens).unwrap();
    assert_eq!(scored, drawn);
    assert!(m.continuation_nlls(&prompt, &[]).unwrap().is_empty());
    assert!(m.continuation_nlls(&[], &tokens).is_err());
    assert!(m.continuation_nlls(&prompt, &[u32::MAX]).is_err());
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn guidance_scale_one_is_plain_and_zero_draws_from_the_negative_prompt() {
    use dial_sampling::{SamplingParams, Value};
    let m = model();
    let run = |prompt: &str, fields: &[(&str, Value)], seed: u64| {
        let mut params = SamplingParams::default();
        for (name, value) in fields {
            params.set(name, value.clone()).unwrap();
        }
        let o = GenerateOptions {
            knobs: m.knobs(&params).unwrap(),
            seed,
            max_tokens: 12,
            logprobs: true,
            ..GenerateOptions::default()
        };
        m.generate(prompt, o)
            .unwrap()
            .map(|s| s.unwrap())
            .collect::<Vec<_>>()
    };
    let negative = ("negative_prompt", Value::Text("A recipe for soup:".into()));
    for seed in [1, 2] {
        let plain = run("The old lighthouse keeper had", &[], seed);
        let one = run(
            "The old lighthouse keeper had",
            &[("guidance_scale", Value::Number(1.0)), negative.clone()],
            seed,
        );
        assert_eq!(one, plain, "scale 1 is no guidance, bit for bit");
        let zero = run(
            "The old lighthouse keeper had",
            &[("guidance_scale", Value::Number(0.0)), negative.clone()],
            seed,
        );
        let soup = run("A recipe for soup:", &[], seed);
        let ids = |s: &[dial_model::Step]| s.iter().map(|s| s.token).collect::<Vec<_>>();
        assert_eq!(
            ids(&zero),
            ids(&soup),
            "scale 0 is the negative prompt's distribution"
        );
        for (z, s) in zero.iter().zip(&soup) {
            assert!(
                (z.logprob - s.logprob).abs() < 1e-4,
                "{} against {}",
                z.logprob,
                s.logprob
            );
        }
        let steered = run(
            "The old lighthouse keeper had",
            &[("guidance_scale", Value::Number(3.0)), negative.clone()],
            seed,
        );
        assert_ne!(ids(&steered), ids(&plain));
    }
}
