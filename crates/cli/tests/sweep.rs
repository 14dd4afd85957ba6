//! `dial sweep` as a user runs it, on a tiny model written by the test: the JSON report's
//! shape, its seeds, reproducibility whatever the batch, the reference row, the plot, and
//! a clean error for every bad input. The orderings on the real model are in `model.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{dial, ok, one_line_error};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-sweep-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tiny_model() -> PathBuf {
    let path = dir().join("tiny.gguf");
    if !path.exists() {
        let partial = dir().join(format!("tiny-{:?}.gguf", std::thread::current().id()));
        dial_model::tiny::TinyGemma3::default()
            .write(&partial)
            .unwrap();
        std::fs::rename(&partial, &path).unwrap();
    }
    path
}

fn file(name: &str, text: &str) -> PathBuf {
    let path = dir().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn sweep(model: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["sweep", "--model", model.to_str().unwrap()];
    args.extend_from_slice(extra);
    dial(&args)
}

fn json(model: &Path, extra: &[&str]) -> Value {
    let mut args = extra.to_vec();
    args.push("--json");
    serde_json::from_str(&ok(&sweep(model, &args))).unwrap()
}

/// Each setting's continuations, without timings.
fn continuations(v: &Value) -> Vec<Value> {
    v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["continuations"].clone())
        .collect()
}

#[test]
fn the_report_has_every_measure_and_every_continuation_with_its_seed() {
    let model = tiny_model();
    let prompts = file("prompts.txt", "the cat\n\na dog ran\nthe sun is\n");
    let v = json(
        &model,
        &[
            "--prompts",
            prompts.to_str().unwrap(),
            "--setting",
            "greedy=temperature=0",
            "--setting",
            "top_k=5,temperature=0.7",
            "--samples",
            "2",
            "--max-tokens",
            "12",
            "--seed",
            "7",
        ],
    );
    assert_eq!(v["seed"], 7);
    assert_eq!(v["max_tokens"], 12);
    assert_eq!(v["prompts"].as_array().unwrap().len(), 3);
    assert!(v["reference"].is_null());
    let settings = v["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 2);
    assert_eq!(settings[0]["name"], "greedy");
    assert_eq!(settings[0]["knobs"]["temperature"], 0.0);
    // A setting without a name is named by its knobs.
    assert_eq!(settings[1]["name"], "top_k=5,temperature=0.7");
    assert_eq!(settings[1]["knobs"]["top_k"], 5);
    let mut drawn = 0;
    for s in settings {
        for key in [
            "perplexity",
            "self_bleu4",
            "zipf",
            "repetition_pct",
            "mean_tokens",
            "eos_pct",
        ] {
            assert!(s.get(key).is_some(), "{key} missing");
        }
        assert_eq!(s["distinct"].as_array().unwrap().len(), 3);
        let cs = s["continuations"].as_array().unwrap();
        assert_eq!(cs.len(), 6, "3 prompts × 2 samples");
        let mut lengths = 0.0;
        for (i, c) in cs.iter().enumerate() {
            assert_eq!(c["prompt"], i / 2);
            assert_eq!(c["sample"], i % 2);
            let seed = dial_sweep::generation_seed(7, s["name"].as_str().unwrap(), i / 2, i % 2);
            assert_eq!(c["seed"].as_u64().unwrap(), seed);
            let tokens = c["tokens"].as_array().unwrap().len();
            assert_eq!(c["nlls"].as_array().unwrap().len(), tokens);
            let eos = c["eos"].as_bool().unwrap();
            assert!(tokens + usize::from(eos) <= 12);
            assert_eq!(c["finish_reason"], if eos { "stop" } else { "length" });
            for nll in c["nlls"].as_array().unwrap() {
                assert!(nll.as_f64().unwrap() >= 0.0);
            }
            lengths += tokens as f64;
            drawn += tokens + usize::from(eos);
        }
        assert!((s["mean_tokens"].as_f64().unwrap() - lengths / 6.0).abs() < 1e-9);
        // Perplexity is exp(mean NLL) over the setting's tokens.
        let nlls: Vec<f64> = cs
            .iter()
            .flat_map(|c| c["nlls"].as_array().unwrap().clone())
            .map(|n| n.as_f64().unwrap())
            .collect();
        if !nlls.is_empty() {
            let ppl = (nlls.iter().sum::<f64>() / nlls.len() as f64).exp();
            assert!((s["perplexity"].as_f64().unwrap() / ppl - 1.0).abs() < 1e-12);
        }
    }
    assert_eq!(v["generated_tokens"], drawn);
    assert!(v["tokens_per_second"].as_f64().unwrap() > 0.0);
    // Greedy's two samples of a prompt are the same text; the seed changes nothing.
    let greedy = settings[0]["continuations"].as_array().unwrap();
    assert_eq!(greedy[0]["tokens"], greedy[1]["tokens"]);
}

#[test]
fn a_sweep_repeats_exactly_whatever_the_batch_and_the_other_settings() {
    let model = tiny_model();
    let sizes = ["--max-prompts", "5", "--samples", "2", "--max-tokens", "16"];
    let base = [
        &sizes[..],
        &[
            "--seed",
            "3",
            "--setting",
            "hot=temperature=1.3",
            "--setting",
            "nucleus=top_p=0.8",
        ],
    ]
    .concat();
    let one = json(&model, &[&base[..], &["--batch", "1"]].concat());
    let many = json(&model, &[&base[..], &["--batch", "7"]].concat());
    assert_eq!(continuations(&one), continuations(&many));
    // A setting's continuations do not depend on the settings beside it.
    let alone = json(
        &model,
        &[
            &sizes[..],
            &["--seed", "3", "--setting", "nucleus=top_p=0.8"],
        ]
        .concat(),
    );
    assert_eq!(
        alone["settings"][0]["continuations"],
        one["settings"][1]["continuations"]
    );
    // Another seed, other continuations.
    let other = json(&model, &[&base[..6], &["--seed", "4"], &base[8..]].concat());
    assert_ne!(continuations(&other), continuations(&one));
}

#[test]
fn the_reference_row_is_scored_by_the_same_code() {
    let model = tiny_model();
    let prompts = file(
        "pairs.jsonl",
        "{\"prompt\": \"the cat\", \"continuation\": \" sat on the mat\"}\n\
         {\"prompt\": \"a dog\", \"continuation\": \" ran and ran and ran\"}\n",
    );
    let p = prompts.to_str().unwrap();
    let v = json(
        &model,
        &[
            "--prompts",
            p,
            "--reference",
            p,
            "--setting",
            "temperature=1",
            "--max-tokens",
            "4",
        ],
    );
    let r = &v["reference"];
    assert_eq!(r["name"], "human");
    assert!(r["eos_pct"].is_null());
    let cs = r["continuations"].as_array().unwrap();
    assert_eq!(cs.len(), 2);
    // Capped at --max-tokens, like the generations.
    for c in cs {
        assert!(c["tokens"].as_array().unwrap().len() <= 4);
        assert_eq!(
            c["nlls"].as_array().unwrap().len(),
            c["tokens"].as_array().unwrap().len()
        );
    }
    assert!(r["perplexity"].as_f64().unwrap() > 1.0);
    // The table puts it first.
    let table = ok(&sweep(
        &model,
        &[
            "--prompts",
            p,
            "--reference",
            p,
            "--setting",
            "greedy=temperature=0",
            "--max-tokens",
            "4",
        ],
    ));
    let human = table.find("human (reference)").unwrap();
    let greedy = table.find("greedy").unwrap();
    assert!(human < greedy, "{table}");
    assert!(table.contains("tok/s"), "{table}");
}

#[test]
fn the_frontier_has_a_labelled_point_per_setting_and_a_line_per_grid_path() {
    let model = tiny_model();
    let out = dir().join("frontier.svg");
    let text = ok(&sweep(
        &model,
        &[
            "--max-prompts",
            "3",
            "--max-tokens",
            "10",
            "--setting",
            "greedy=temperature=0",
            "--grid",
            "temperature=0.5,1.0",
            "--grid",
            "top_k=3,30",
            "--plot",
            out.to_str().unwrap(),
        ],
    ));
    assert!(text.contains("wrote"), "{text}");
    let svg = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("point-label"))
        .filter_map(|n| n.attribute("data-label"))
        .collect();
    for name in [
        "greedy",
        "temperature=0.5 top_k=3",
        "temperature=0.5 top_k=30",
        "temperature=1.0 top_k=3",
        "temperature=1.0 top_k=30",
    ] {
        assert!(labels.contains(&name), "{name} not in {labels:?}");
    }
    // Two axes of two values: two paths along each.
    let lines = doc
        .descendants()
        .filter(|n| n.attribute("data-kind") == Some("line"))
        .count();
    assert_eq!(lines, 4);
    let png = dir().join("frontier.png");
    ok(&sweep(
        &model,
        &[
            "--max-prompts",
            "2",
            "--max-tokens",
            "6",
            "--plot",
            png.to_str().unwrap(),
            "--setting",
            "temperature=1",
        ],
    ));
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
}

#[test]
fn bad_input_gets_one_clear_line() {
    let model = tiny_model();
    let m = model.to_str().unwrap();
    let empty = file("empty.txt", "\n\n");
    let broken = file("broken.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": 3}\n");
    let two = file("two.txt", "a\nb\n");
    let one = file("one.txt", "a\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--setting", "x=temprature=1"], "temprature"),
        (vec!["--setting", "x=temperature=9"], "temperature"),
        (
            vec!["--setting", "a=top_k=3", "--setting", "a=top_k=4"],
            "two settings are named",
        ),
        (vec!["--grid", "top_k="], "no values"),
        (vec!["--samples", "0"], "at least 1"),
        (vec!["--max-tokens", "0"], "at least 1"),
        (vec!["--max-tokens", "99999999"], "over the limit"),
        (vec!["--max-prompts", "0"], "at least 1"),
        (vec!["--batch", "0"], "at least 1"),
        (vec!["--samples", "100000000"], "generations"),
        (vec!["--history", "1,2"], "--history"),
        (vec!["--plot", "out.gif"], ".svg or .png"),
        (vec!["--plot-y", "distinct2"], "--plot"),
        (vec!["--prompts", empty.to_str().unwrap()], "no prompts"),
        (vec!["--prompts", broken.to_str().unwrap()], "line 2"),
        (vec!["--prompts", "/nonexistent/prompts.txt"], "cannot read"),
        (
            vec![
                "--prompts",
                two.to_str().unwrap(),
                "--reference",
                one.to_str().unwrap(),
            ],
            "1 reference continuations for 2 prompts",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["sweep", "--model", m];
        if !extra.contains(&"--max-tokens") {
            args.extend(["--max-tokens", "4"]);
        }
        args.extend(extra);
        one_line_error(&dial(&args), needle);
    }
}

#[test]
fn a_saved_sweep_is_read_back_for_its_table_and_plot() {
    let model = tiny_model();
    let saved = ok(&sweep(
        &model,
        &[
            "--max-prompts",
            "3",
            "--max-tokens",
            "8",
            "--setting",
            "greedy=temperature=0",
            "--grid",
            "temperature=0.6,1.2",
            "--json",
        ],
    ));
    let full = file("saved.json", &saved);
    // The round trip is exact.
    let again = ok(&dial(&[
        "sweep",
        "--from",
        full.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(again, saved);
    let v: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(v["grid_axes"][0]["name"], "temperature");
    // Without the continuations, the table and the plot still come out.
    let mut lean = v.clone();
    for s in lean["settings"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("continuations");
    }
    let lean = file("lean.json", &lean.to_string());
    let svg = dir().join("from.svg");
    let table = ok(&dial(&[
        "sweep",
        "--from",
        lean.to_str().unwrap(),
        "-o",
        svg.to_str().unwrap(),
        "--plot-y",
        "distinct2",
    ]));
    assert!(
        table.contains("temperature=0.6") && table.contains("greedy"),
        "{table}"
    );
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.contains("distinct-2"));
    assert!(svg.contains(r#"data-kind="line""#));
    one_line_error(
        &dial(&[
            "sweep",
            "--from",
            lean.to_str().unwrap(),
            "--setting",
            "a=top_k=1",
        ]),
        "--setting",
    );
    one_line_error(
        &dial(&["sweep", "--from", lean.to_str().unwrap(), "--top-k", "3"]),
        "knob flags",
    );
    one_line_error(
        &dial(&[
            "sweep",
            "--from",
            lean.to_str().unwrap(),
            "--cache-dir",
            "/tmp",
        ]),
        "--cache-dir",
    );
    let junk = file("junk.json", "{\"model\": 3}");
    one_line_error(
        &dial(&["sweep", "--from", junk.to_str().unwrap()]),
        "not a sweep report",
    );
}
