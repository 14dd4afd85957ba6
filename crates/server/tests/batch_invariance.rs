//! Batch invariance through the server, on the real default model: 16 seeded requests,
//! four of them constrained (regex, JSON Schema, choice, JSON object), answer with the
//! same tokens and the same logprob bits alone and together, in three
//! arrival orders, on 1 and 2 compute threads; `/v1/explain` gives the same distribution
//! on an idle server and on one busy with other streams. Release only:
//! `cargo test --release -p dial-server --test batch_invariance`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::Router;
use common::*;
use dial_fetch::{self as fetch, FetchOptions};
use dial_model::Model;
use dial_server::{AppState, ServerConfig};
use serde_json::{Value, json};
use std::time::Duration;

fn real_model() -> Model {
    let options = FetchOptions {
        progress: false,
        ..FetchOptions::default()
    };
    let path = fetch::ensure(&fetch::GEMMA3_270M, &options).unwrap();
    Model::load(&path, |_, _| {}).unwrap()
}

fn server(model: &Model, threads: usize) -> (Router, AppState) {
    let state = AppState::new(
        model.clone(),
        ServerConfig {
            max_concurrency: 16,
            threads: Some(threads),
            ..ServerConfig::default()
        },
    );
    (dial_server::app(state.clone()), state)
}

const MODEL_ID: &str = "gemma-3-270m-q4_k_m";

/// 16 completions with their own prompts, lengths, knobs and seeds; raw logprobs with
/// three alternatives, and dial's entropy report (token ids, both distributions).
fn requests() -> Vec<Value> {
    let knobs = [
        json!({"temperature": 0}),
        json!({"temperature": 1.0}),
        json!({"temperature": 0.8, "top_p": 0.9}),
        json!({"temperature": 1.2, "top_k": 40}),
        json!({"temperature": 1.0, "min_p": 0.1}),
        json!({"temperature": 1.5, "top_n_sigma": 1.0}),
        json!({"temperature": 0.9, "typical_p": 0.95, "presence_penalty": 0.5}),
        json!({"temperature": 1.0, "dry_multiplier": 0.8, "frequency_penalty": 0.3}),
    ];
    let long = "Every morning the baker lit the ovens before the town woke, and by six the \
                street smelled of bread. "
        .repeat(14);
    let prompts = [
        "Once upon a time",
        "The capital of Italy is",
        "fn main() {",
        "The recipe calls for",
        long.as_str(),
        "Q: Why is the sky blue?\nA:",
        "The planets of the solar system are",
        "Yesterday I went to",
        "A limerick:\nThere once was",
        "Water boils at",
        "The history of the bicycle",
        "1, 1, 2, 3, 5, 8,",
        "He looked out of the window and",
        "Learning to play the piano",
        "The meeting was postponed because",
        "SELECT name FROM",
    ];
    prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut body = json!({
                "model": MODEL_ID,
                "prompt": p,
                "max_tokens": 5 + (i * 7) % 16,
                "seed": 77 + i,
                "logprobs": 3,
                "dial": {"entropy": true},
            });
            for (k, v) in knobs[i % knobs.len()].as_object().unwrap() {
                body[k] = v.clone();
            }
            // Every fourth is constrained: masks mix with free rows in the same steps.
            let constraints = [
                json!({"regex": "[a-z ]{3,40}[.!]"}),
                json!({"json": {"type": "object", "properties": {"n": {"type": "integer"}, "w": {"type": "string"}}, "required": ["n", "w"]}}),
                json!({"choice": [" yes", " no", " perhaps"]}),
                json!({"json_object": true}),
            ];
            if i % 4 == 3 {
                body["structured_outputs"] = constraints[i / 4].clone();
            }
            body
        })
        .collect()
}

/// What must not move: the choices (text, tokens, logprobs, finish) and the usage.
/// serde_json writes the shortest text that reads back as the same f64, so equal text is
/// equal bits.
fn answer(a: &Answer) -> String {
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    format!("{} {}", v["choices"], v["usage"])
}

async fn alone(app: &Router, requests: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for r in requests {
        out.push(answer(&post_json(app, "/v1/completions", r).await));
    }
    out
}

/// Sends `order`'s requests, each `gap` after the one before, and waits for them all.
async fn together(app: &Router, requests: &[Value], order: &[usize], gap: Duration) -> Vec<String> {
    let mut tasks = Vec::new();
    for &i in order {
        let app = app.clone();
        let body = requests[i].clone();
        tasks.push((
            i,
            tokio::spawn(async move { post_json(&app, "/v1/completions", &body).await }),
        ));
        tokio::time::sleep(gap).await;
    }
    let mut out = vec![String::new(); requests.len()];
    for (i, t) in tasks {
        out[i] = answer(&t.await.unwrap());
    }
    out
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(debug_assertions, ignore = "release only")]
async fn sixteen_seeded_requests_answer_the_same_bits_alone_and_in_a_crowd() {
    let model = real_model();
    let requests = requests();
    let n = requests.len();
    let (solo_app, _) = server(&model, 2);
    let solo = alone(&solo_app, &requests).await;
    let forward: Vec<usize> = (0..n).collect();
    let reversed: Vec<usize> = (0..n).rev().collect();
    let interleaved: Vec<usize> = (0..n)
        .filter(|i| i % 2 == 1)
        .chain((0..n).step_by(2))
        .collect();
    for threads in [1, 2] {
        for (name, order, gap) in [
            ("at once, in order", &forward, Duration::ZERO),
            ("at once, reversed", &reversed, Duration::ZERO),
            (
                "interleaved, 25 ms apart",
                &interleaved,
                Duration::from_millis(25),
            ),
        ] {
            let (app, _) = server(&model, threads);
            let crowd = together(&app, &requests, order, gap).await;
            for i in 0..n {
                assert_eq!(
                    crowd[i], solo[i],
                    "request {i}, {name}, {threads} thread(s)"
                );
            }
            // They did share passes: fewer steps than rows.
            let m = get(&app, "/metrics").await.text;
            let steps = metric(&m, "dial_engine_steps_total");
            let generated = metric(&m, "dial_generated_tokens_total");
            assert!(
                steps < generated * 0.5,
                "{name}: {steps} steps for {generated} tokens; the requests did not batch"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(debug_assertions, ignore = "release only")]
async fn explain_gives_the_same_distribution_idle_and_under_load() {
    let model = real_model();
    let body = json!({"prompt": "The best thing about the sea is", "top": 50, "temperature": 0.7});
    let (idle, _) = server(&model, 2);
    let quiet = post_json(&idle, "/v1/explain", &body).await;
    assert_eq!(quiet.status, 200, "{}", quiet.text);
    let (busy, state) = server(&model, 2);
    // Eight free requests: constrained ones could start late, behind their grammar's
    // compile, and the eight would never all be decoding at once.
    let load: Vec<_> = requests()
        .into_iter()
        .filter(|r| r.get("structured_outputs").is_none())
        .take(8)
        .map(|mut r| {
            r["max_tokens"] = json!(24);
            let app = busy.clone();
            tokio::spawn(async move { post_json(&app, "/v1/completions", &r).await })
        })
        .collect();
    // Explain once the streams are decoding.
    let start = std::time::Instant::now();
    while state
        .metrics()
        .render(0)
        .lines()
        .all(|l| l != "dial_active_sequences 8")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the load never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let loud = post_json(&busy, "/v1/explain", &body).await;
    assert_eq!(loud.status, 200, "{}", loud.text);
    assert_eq!(loud.json(), quiet.json(), "explain moved with the load");
    for t in load {
        assert_eq!(t.await.unwrap().status, 200);
    }
}
