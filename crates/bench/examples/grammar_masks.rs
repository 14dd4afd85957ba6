//! Structured outputs' costs on a real vocabulary: the parser factory's build, each
//! schema's compile time, and the time of every mask along valid outputs.
//!
//! `cargo run --release -p dial-bench --example grammar_masks [-- --model smollm2]`
//!
//! Schemas: every schema of the JSON-Schema-Test-Suite (draft 2020-12) that compiles with
//! `strict: true`, walked along each of its valid instances, and a few realistic ones
//! (nested objects, arrays of enums, patterns) walked along hand-written outputs. Every
//! mask is timed on its own; the report gives the median, the p99 and the largest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_fetch::{self as fetch, FetchOptions};
use dial_grammar::{Constraint, GrammarEngine};
use dial_model::Model;
use dial_sampling::TokenConstraint;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Realistic schemas with outputs to walk: `crates/bench/data/realistic-schemas.json`
/// (which scripts/grammar-bench samples from too).
fn realistic() -> Vec<(String, Value, Vec<Value>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/realistic-schemas.json");
    let all: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all.into_iter()
        .map(|entry| {
            let name = entry["name"].as_str().unwrap().to_string();
            let outputs = entry["outputs"].as_array().unwrap().clone();
            (name, entry["schema"].clone(), outputs)
        })
        .collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn summary(name: &str, mut xs: Vec<f64>) {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() {
        return;
    }
    println!(
        "{name}: {} samples, median {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        xs.len(),
        percentile(&xs, 0.5),
        percentile(&xs, 0.99),
        xs[xs.len() - 1]
    );
}

/// Masks along `text`'s tokens (and the end), each timed; `None` if a token is refused.
fn walk(
    engine: &GrammarEngine,
    model: &Model,
    constraint: &Constraint,
    text: &str,
) -> Option<Vec<f64>> {
    let compiled = engine.compile(constraint).ok()?;
    let mut stage = engine.start_compiled(&compiled);
    let ids = model.tokenizer().encode(text, false);
    let mut times = Vec::with_capacity(ids.len() + 1);
    for &id in &ids {
        let t = Instant::now();
        stage.compute_mask().ok()?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        if !stage.mask()?.contains(id) {
            return None;
        }
        stage.accept(id, None).ok()?;
    }
    let t = Instant::now();
    stage.compute_mask().ok()?;
    times.push(t.elapsed().as_secs_f64() * 1e6);
    Some(times)
}

fn main() {
    let smollm2 = std::env::args().any(|a| a == "smollm2");
    let artifact = if smollm2 {
        &fetch::SMOLLM2_135M_INSTRUCT
    } else {
        &fetch::GEMMA3_270M
    };
    let path = fetch::ensure(
        artifact,
        &FetchOptions {
            progress: false,
            ..FetchOptions::default()
        },
    )
    .unwrap();
    let model = Model::load(&path, |_, _| {}).unwrap();
    let t = Instant::now();
    let engine = GrammarEngine::new(model.tokenizer()).unwrap();
    println!(
        "{}: vocabulary {}, engine (trie + parser factory) built in {:.0} ms",
        path.file_name().unwrap().to_string_lossy(),
        engine.vocabulary().len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../grammar/tests/data/json-schema-test-suite/tests/draft2020-12");
    let mut all = Vec::new();
    files(&root, &mut all);
    let (mut compile, mut suite_masks, mut refused) = (Vec::new(), Vec::new(), 0usize);
    for file in &all {
        let groups: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for group in &groups {
            let constraint = Constraint::JsonSchema {
                schema: group["schema"].clone(),
                strict: true,
            };
            let t = Instant::now();
            if engine.compile(&constraint).is_err() {
                continue;
            }
            compile.push(t.elapsed().as_secs_f64() * 1e3);
            for test in group["tests"].as_array().unwrap() {
                if test["valid"] != json!(true) {
                    continue;
                }
                match walk(
                    &engine,
                    &model,
                    &constraint,
                    &serde_json::to_string(&test["data"]).unwrap(),
                ) {
                    Some(times) => suite_masks.extend(times),
                    None => refused += 1,
                }
            }
        }
    }
    println!("compile, suite schemas (strict, first compile):");
    let compile_us: Vec<f64> = compile.iter().map(|ms| ms * 1e3).collect();
    summary("  compile", compile_us);
    println!("masks along the suite's valid instances ({refused} instances not walked: refused):");
    summary("  mask", suite_masks);
    let mut realistic_masks = Vec::new();
    for (name, schema, outputs) in realistic() {
        let constraint = Constraint::JsonSchema {
            schema,
            strict: true,
        };
        let t = Instant::now();
        engine.compile(&constraint).unwrap();
        println!(
            "{name}: compiled in {:.2} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        for output in outputs {
            let times = walk(
                &engine,
                &model,
                &constraint,
                &serde_json::to_string(&output).unwrap(),
            )
            .unwrap_or_else(|| panic!("not walked: {output}"));
            realistic_masks.extend(times);
        }
    }
    println!("masks along realistic outputs:");
    summary("  mask", realistic_masks);
}
