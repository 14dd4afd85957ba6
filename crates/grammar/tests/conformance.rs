//! The official JSON-Schema-Test-Suite (draft 2020-12, vendored in `tests/data/json-schema-test-suite`)
//! through dial's constraint engine, on SmolLM2's real vocabulary.
//!
//! - Coverage: every schema is compiled with `strict: true`; one that is not is a typed
//!   error (an unsupported keyword, an invalid or unsatisfiable schema), never a fallback.
//! - Compliance: for a compiled schema, each instance, written as the grammar writes JSON
//!   (compact), is fed token by token to the matcher; it must be accepted, end included, if
//!   and only if it is `valid`.
//!
//! Every disagreement must be in `tests/data/json-schema-suite-expected.txt` with its
//! reason, and every line there must still disagree: a regression or a fix both fail.
//! Release only: `cargo test --release -p dial-grammar --test conformance -- --nocapture`
//! prints the per-file table that docs/structured-outputs.md and BENCHMARKS.md show.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_fetch::{self as fetch, FetchOptions};
use dial_grammar::{Constraint, GrammarEngine};
use dial_model::Model;
use dial_sampling::TokenConstraint;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/json-schema-test-suite/tests/draft2020-12")
}

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

/// Whether the matcher takes `text`'s tokens and then an end of generation.
fn accepts(
    engine: &GrammarEngine,
    compiled: &std::sync::Arc<dial_grammar::CompiledGrammar>,
    ids: &[u32],
) -> bool {
    let mut stage = engine.start_compiled(compiled);
    for &id in ids {
        if stage.compute_mask().is_err() || !stage.mask().is_some_and(|m| m.contains(id)) {
            return false;
        }
        if stage.accept(id, None).is_err() {
            return false;
        }
    }
    if stage.compute_mask().is_err() {
        return false;
    }
    let mask = stage.mask().unwrap();
    engine
        .vocabulary()
        .end_of_generation()
        .iter()
        .any(|&t| mask.contains(t))
}

/// The group compiled without `strict` (relaxed keywords not enforced), counted apart.
fn lenient_pass(
    engine: &GrammarEngine,
    tokenizer: &dial_model::Tokenizer,
    group: &Value,
    totals: &mut Row,
) {
    let constraint = Constraint::JsonSchema {
        schema: group["schema"].clone(),
        strict: false,
    };
    totals.schemas += 1;
    let Ok(compiled) = engine.compile(&constraint) else {
        return;
    };
    totals.compiled += 1;
    for test in group["tests"].as_array().unwrap() {
        totals.instances += 1;
        let ids = tokenizer.encode(&as_the_grammar_writes(&test["data"]), false);
        if accepts(engine, &compiled, &ids) == test["valid"].as_bool().unwrap() {
            totals.correct += 1;
        }
    }
}

/// `value` as the grammar writes JSON: compact, and a number with no fraction as an
/// integer (`1`, not `1.0`: the same number, and the only spelling an `integer` has).
fn as_the_grammar_writes(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap();
            if x.fract() == 0.0 && x.abs() < 9.0e18 {
                format!("{}", x as i64)
            } else {
                n.to_string()
            }
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(as_the_grammar_writes).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), as_the_grammar_writes(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        other => other.to_string(),
    }
}

impl Row {
    /// `coverage a/b = x %, compliance c/d = y %`.
    fn totals(&self) -> String {
        format!(
            "coverage {}/{} = {:.1} %, compliance {}/{} = {:.1} %",
            self.compiled,
            self.schemas,
            100.0 * self.compiled as f64 / self.schemas.max(1) as f64,
            self.correct,
            self.instances,
            100.0 * self.correct as f64 / self.instances.max(1) as f64
        )
    }
}

#[derive(Default)]
struct Row {
    schemas: usize,
    compiled: usize,
    instances: usize,
    correct: usize,
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn the_official_suite_matches_the_checked_in_expectations() {
    let path = fetch::ensure(
        &fetch::SMOLLM2_135M_INSTRUCT,
        &FetchOptions {
            progress: false,
            ..FetchOptions::default()
        },
    )
    .unwrap();
    let model = Model::load(&path, |_, _| {}).unwrap();
    let tokenizer = model.tokenizer();
    let engine = GrammarEngine::new(tokenizer).unwrap();
    let root = suite();
    let mut all = Vec::new();
    files(&root, &mut all);
    assert!(
        all.len() >= 70,
        "{} files under {}",
        all.len(),
        root.display()
    );
    let mut table: BTreeMap<String, Row> = BTreeMap::new();
    let mut found: BTreeSet<String> = BTreeSet::new();
    let mut lenient = [Row::default(), Row::default()];
    for file in &all {
        let name = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let groups: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let row = table.entry(name.clone()).or_default();
        for (g, group) in groups.iter().enumerate() {
            row.schemas += 1;
            let constraint = Constraint::JsonSchema {
                schema: group["schema"].clone(),
                strict: true,
            };
            let compiled = match engine.compile(&constraint) {
                Ok(c) => c,
                Err(e) => {
                    found.insert(format!("{name} #{g} compile: {}", kind(&e)));
                    lenient_pass(
                        &engine,
                        tokenizer,
                        group,
                        &mut lenient[usize::from(name.starts_with("optional/"))],
                    );
                    continue;
                }
            };
            row.compiled += 1;
            lenient_pass(
                &engine,
                tokenizer,
                group,
                &mut lenient[usize::from(name.starts_with("optional/"))],
            );
            for (t, test) in group["tests"].as_array().unwrap().iter().enumerate() {
                let text = as_the_grammar_writes(&test["data"]);
                let ids = tokenizer.encode(&text, false);
                assert_eq!(tokenizer.decode(&ids), text, "{name} #{g} test {t}");
                let valid = test["valid"].as_bool().unwrap();
                row.instances += 1;
                if accepts(&engine, &compiled, &ids) == valid {
                    row.correct += 1;
                } else {
                    found.insert(format!(
                        "{name} #{g} test {t}: {}",
                        if valid {
                            "valid rejected"
                        } else {
                            "invalid accepted"
                        }
                    ));
                }
            }
        }
    }
    print_table(&table);
    for (label, t) in ["lenient, required", "lenient, optional/"]
        .iter()
        .zip(&lenient)
    {
        println!("{label}: {}", t.totals());
    }
    let expected_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/json-schema-suite-expected.txt"),
    )
    .unwrap();
    let expected: BTreeSet<String> = expected_text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(" — ").next().unwrap().trim().to_string())
        .collect();
    let new: Vec<&String> = found.difference(&expected).collect();
    let fixed: Vec<&String> = expected.difference(&found).collect();
    assert!(
        new.is_empty() && fixed.is_empty(),
        "new disagreements:\n{}\nlisted but now agreeing:\n{}",
        new.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        fixed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

fn kind(e: &dial_grammar::GrammarError) -> String {
    match e {
        dial_grammar::GrammarError::Unsupported { keyword, .. } => {
            format!("unsupported `{keyword}`")
        }
        dial_grammar::GrammarError::InvalidSchema { message, .. }
            if message.contains("does not fetch") =>
        {
            "invalid schema: a remote `$ref`".into()
        }
        dial_grammar::GrammarError::InvalidSchema { message, .. }
            if message.contains("regular expression") =>
        {
            "invalid schema: a regex Rust's syntax lacks".into()
        }
        dial_grammar::GrammarError::InvalidSchema { message, .. } => {
            format!("invalid schema: {message}")
        }
        dial_grammar::GrammarError::MatchesNothing { .. } => "matches nothing".into(),
        dial_grammar::GrammarError::TooComplex { .. } => "too complex".into(),
        other => format!("{other}"),
    }
}

fn print_table(table: &BTreeMap<String, Row>) {
    let mut totals = [Row::default(), Row::default()];
    println!("| file | schemas | compiled | instances | correct |");
    println!("|---|---:|---:|---:|---:|");
    for (name, r) in table {
        println!(
            "| {name} | {} | {} | {} | {} |",
            r.schemas, r.compiled, r.instances, r.correct
        );
        let t = &mut totals[usize::from(name.starts_with("optional/"))];
        t.schemas += r.schemas;
        t.compiled += r.compiled;
        t.instances += r.instances;
        t.correct += r.correct;
    }
    for (label, t) in ["required (not optional/)", "optional/"]
        .iter()
        .zip(&totals)
    {
        println!("{label}: {}", t.totals());
    }
}
