//! Draws under a constraint follow the reference: the knobs applied to the model's
//! distribution renormalised over the allowed tokens, in f64, written here independently.
//! A G-test per cell, on the tiny random model and on Gemma 3 270M, with a regex and a
//! choice mask and top_k, top_p or min_p set; no draw may fall outside the reference's
//! support. Release only: `cargo test --release -p dial-grammar --test statistical`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_fetch::{self as fetch, FetchOptions};
use dial_grammar::{Constraint, GrammarEngine};
use dial_model::Model;
use dial_model::tiny::TinyGemma3;
use dial_sampling::{Knobs, MinP, Sampler, Temperature, TokenConstraint, TopK, TopP, g_test};

/// A cell fails below this (about 1e-4 family-wise over the cells).
const ALPHA: f64 = 1e-6;

#[derive(Debug, Clone, Copy)]
enum Knob {
    TopK(usize),
    TopP(f64),
    MinP(f64),
}

fn knobs(knob: Knob, temperature: f64) -> Knobs {
    let mut k = Knobs {
        temperature: Some(Temperature::new(temperature as f32).unwrap()),
        ..Knobs::default()
    };
    match knob {
        Knob::TopK(n) => k.top_k = Some(TopK::new(n)),
        Knob::TopP(p) => k.top_p = Some(TopP::new(p as f32).unwrap()),
        Knob::MinP(p) => k.min_p = Some(MinP::new(p as f32).unwrap()),
    }
    k
}

/// The reference: softmax(logits / T) over `allowed`, then the knob on that distribution
/// (ranks by probability, ties to the lowest id), renormalised.
fn reference(logits: &[f32], allowed: &[u32], knob: Knob, temperature: f64) -> Vec<f64> {
    let max = allowed
        .iter()
        .map(|&i| f64::from(logits[i as usize]))
        .fold(f64::MIN, f64::max);
    let mut p = vec![0.0; logits.len()];
    for &i in allowed {
        p[i as usize] = ((f64::from(logits[i as usize]) - max) / temperature).exp();
    }
    let z: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= z);
    let mut ranked: Vec<u32> = allowed.to_vec();
    ranked.sort_by(|&a, &b| p[b as usize].total_cmp(&p[a as usize]).then(a.cmp(&b)));
    let keep: Vec<u32> = match knob {
        Knob::TopK(k) => ranked.iter().copied().take(k).collect(),
        Knob::TopP(top) => {
            let mut cum = 0.0;
            let mut kept = Vec::new();
            for &i in &ranked {
                kept.push(i);
                cum += p[i as usize];
                if cum >= top {
                    break;
                }
            }
            kept
        }
        Knob::MinP(m) => {
            let bar = m * p[ranked[0] as usize];
            ranked
                .iter()
                .copied()
                .filter(|&i| p[i as usize] >= bar)
                .collect()
        }
    };
    let mut out = vec![0.0; logits.len()];
    let z: f64 = keep.iter().map(|&i| p[i as usize]).sum();
    for &i in &keep {
        out[i as usize] = p[i as usize] / z;
    }
    out
}

/// Draws `n` first tokens of the output under `constraint` and `knob`, and tests them.
fn cell(
    model: &Model,
    engine: &GrammarEngine,
    prompt: &str,
    constraint: &Constraint,
    knob: Knob,
    temperature: f64,
    n: u64,
) -> (f64, u64, usize) {
    let mut generation = model
        .generate(prompt, dial_model::GenerateOptions::default())
        .unwrap();
    generation.ready().unwrap();
    let logits = generation.logits().to_vec();
    let mut stage = engine.start(constraint).unwrap();
    stage.compute_mask().unwrap();
    let allowed: Vec<u32> = stage
        .mask()
        .unwrap()
        .iter()
        .filter(|&i| logits[i as usize] > f32::NEG_INFINITY)
        .collect();
    let expected = reference(&logits, &allowed, knob, temperature);
    let support = expected.iter().filter(|&&p| p > 0.0).count();
    // The stage joins with its first mask computed; each draw starts again from it.
    let mut sampler = Sampler::new(knobs(knob, temperature), 0).unwrap();
    sampler.add_constraint(Box::new(stage));
    let mut counts = vec![0u64; logits.len()];
    for draw in 0..n {
        sampler.reset(draw);
        counts[sampler.sample_token(&logits).unwrap().id as usize] += 1;
    }
    let test = g_test(&counts, &expected);
    (test.p_value, test.outside, support)
}

fn run(model: &Model, prompt: &str, temperature: f64, n: u64, constraints: &[Constraint]) {
    let engine = GrammarEngine::new(model.tokenizer()).unwrap();
    let mut failed = Vec::new();
    for constraint in constraints {
        for knob in [Knob::TopK(3), Knob::TopP(0.8), Knob::MinP(0.05)] {
            let (p, outside, support) =
                cell(model, &engine, prompt, constraint, knob, temperature, n);
            eprintln!(
                "{:<28} {knob:?}: support {support}, p = {p:.4}, outside {outside}",
                constraint.summary()
            );
            if p < ALPHA || outside > 0 || support < 2 {
                failed.push(format!(
                    "{} {knob:?}: p = {p}, outside {outside}, support {support}",
                    constraint.summary()
                ));
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn on_the_tiny_model_draws_follow_the_knobs_on_the_allowed_tokens() {
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("grammar-statistical-tiny.gguf");
    TinyGemma3::default().write(&path).unwrap();
    let model = Model::load(&path, |_, _| {}).unwrap();
    run(
        &model,
        "the cat",
        0.8,
        20_000,
        &[
            Constraint::Regex("[a-m][a-z]*".into()),
            Constraint::Choice(vec![
                "hello".into(),
                "world".into(),
                "cat".into(),
                "mat".into(),
                "sat".into(),
                "on".into(),
            ]),
        ],
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn on_gemma_draws_follow_the_knobs_on_the_allowed_tokens() {
    let path = fetch::ensure(
        &fetch::GEMMA3_270M,
        &FetchOptions {
            progress: false,
            ..FetchOptions::default()
        },
    )
    .unwrap();
    let model = Model::load(&path, |_, _| {}).unwrap();
    run(
        &model,
        "My favourite animal is the",
        1.5,
        10_000,
        &[
            Constraint::Regex(" [a-z]+".into()),
            Constraint::Choice(
                [" cat", " dog", " horse", " lion", " owl", " fox"]
                    .map(String::from)
                    .to_vec(),
            ),
        ],
    );
}
