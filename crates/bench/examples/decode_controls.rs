//! What classifier-free guidance and `banned_strings` rewinds cost in decode: N generations
//! stepped together with `step_batch` (the engine's step, without the server), plain and
//! with each control, in interleaved rounds; tokens/s after the prompts, the median of the
//! rounds, and each control's ratio to plain from the same run.
//! `cargo run --release -p dial-bench --example decode_controls -- MODEL [N]...`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
use dial_model::{GenerateOptions, Generation, Model, step_batch};
use dial_sampling::{SamplingParams, Value};
use std::time::Instant;

const ROUNDS: usize = 5;
const MAX_TOKENS: usize = 48;

/// The controls compared: a name and the request fields.
fn modes() -> Vec<(&'static str, Vec<(&'static str, Value)>)> {
    vec![
        ("plain", vec![]),
        (
            "guidance 1.5",
            vec![
                ("guidance_scale", Value::Number(1.5)),
                ("negative_prompt", Value::Text("A dull story.".into())),
            ],
        ),
        (
            "banned_strings",
            vec![
                (
                    "banned_strings",
                    Value::Strings(vec!["the".into(), "and".into(), "was".into()]),
                ),
                ("banned_strings_case_insensitive", Value::Bool(true)),
            ],
        ),
    ]
}

/// One timed decode of `n` sequences: tokens, seconds, rewinds.
fn run(model: &Model, n: usize, fields: &[(&str, Value)]) -> (usize, f64, usize) {
    let mut params = SamplingParams::default();
    for (name, value) in fields {
        params.set(name, value.clone()).unwrap();
    }
    let knobs = model.knobs(&params).unwrap();
    let mut gens: Vec<Generation> = (0..n)
        .map(|i| {
            let prompt = model
                .tokenizer()
                .encode(&format!("Here is story number {i}. Once upon a time"), true);
            let options = GenerateOptions {
                knobs: knobs.clone(),
                seed: i as u64,
                max_tokens: MAX_TOKENS,
                ..GenerateOptions::default()
            };
            Generation::new(model.session().unwrap(), &prompt, options).unwrap()
        })
        .collect();
    let mut refs: Vec<&mut Generation> = gens.iter_mut().collect();
    // Prefill (both sequences' with guidance) and the first draw, untimed.
    while refs
        .iter()
        .any(|g| !g.is_prefilled() || g.generated_tokens() == 0)
    {
        step_batch(model, &mut refs, 256);
    }
    let start = Instant::now();
    let mut tokens = 0;
    while refs.iter().any(|g| g.finish_reason().is_none()) {
        let batch = step_batch(model, &mut refs, 256);
        for o in &batch.outcomes {
            assert!(o.error.is_none(), "{:?}", o.error);
        }
        tokens += batch.outcomes.iter().map(|o| o.steps.len()).sum::<usize>();
    }
    let seconds = start.elapsed().as_secs_f64();
    (tokens, seconds, refs.iter().map(|g| g.rewinds()).sum())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("the model's path");
    let counts: Vec<usize> = args.map(|a| a.parse().unwrap()).collect();
    let model = Model::load(std::path::Path::new(&path), |_, _| {}).unwrap();
    let modes = modes();
    println!(
        "| streams | control | tok/s (median of {ROUNDS}) | range | vs plain | rewinds per 100 tokens |"
    );
    println!("|---|---|---|---|---|---|");
    for n in counts {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        let mut rewinds = vec![(0usize, 0usize); modes.len()];
        for _ in 0..ROUNDS {
            for (k, (_, fields)) in modes.iter().enumerate() {
                let (tokens, seconds, r) = run(&model, n, fields);
                rates[k].push(tokens as f64 / seconds);
                rewinds[k].0 += r;
                rewinds[k].1 += tokens;
            }
        }
        let plain = median(rates[0].clone());
        for (k, (name, _)) in modes.iter().enumerate() {
            let m = median(rates[k].clone());
            let lo = rates[k].iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rates[k].iter().copied().fold(0.0, f64::max);
            println!(
                "| {n} | {name} | {m:.1} | {lo:.1}–{hi:.1} | {:.2}× | {:.1} |",
                m / plain,
                100.0 * rewinds[k].0 as f64 / rewinds[k].1.max(1) as f64
            );
        }
    }
}
