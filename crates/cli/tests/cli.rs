//! Whole-binary tests: run the built `dial` and check what it prints and how it exits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn dial(args: &[&str]) -> Output {
    dial_with_stdin(args, None)
}

fn dial_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dial"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// A file in a fresh temporary directory for this test.
fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A 1-D little-endian `.npy` of f32 values.
fn npy_f32(values: &[f32]) -> Vec<u8> {
    let header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    let mut header = header.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header);
    for v in values {
        out.extend(v.to_le_bytes());
    }
    out
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "dial failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Asserts a clean failure: non-zero exit, one line on stderr naming `needle`, no panic.
fn assert_one_line_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got: {}", stdout(o));
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("dial: error: "), "{err:?}");
    assert!(err.contains(needle), "{err:?} does not name {needle:?}");
    assert!(!err.contains("panicked"), "{err:?}");
    assert!(o.stdout.is_empty());
}

#[test]
fn sample_runs_out_of_the_box_on_the_note_example() {
    let o = dial(&["sample"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for token in ["The", "cat", "sat", "on", "mat", "."] {
        assert!(out.contains(token), "{out}");
    }
    assert!(out.contains("kept 6 of 6 tokens"), "{out}");
}

#[test]
fn json_counts_match_draws_and_probabilities_sum_to_one() {
    let v = json(&dial(&[
        "sample",
        "--json",
        "--draws",
        "20000",
        "--seed",
        "7",
        "--temperature",
        "0.8",
        "--top-p",
        "0.9",
    ]));
    let counts = v["counts"].as_object().unwrap();
    let total: u64 = counts.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(total, 20000);
    let probs = v["probabilities"].as_object().unwrap();
    let sum: f64 = probs.values().map(|p| p.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    // Only kept tokens are drawn, and each is near its exact probability.
    for (id, n) in counts {
        let p = probs[id].as_f64().unwrap();
        let f = n.as_u64().unwrap() as f64 / 20000.0;
        assert!((f - p).abs() < 0.02, "token {id}: frequency {f}, p {p}");
    }
    assert_eq!(v["tokens"]["3"], "on");
    let trace = v["trace"].as_array().unwrap();
    assert_eq!(trace.len(), 2);
    assert_eq!(trace[0]["stage"], "temperature");
    assert_eq!(trace[1]["stage"], "top_p");
}

#[test]
fn a_seed_reproduces_its_counts() {
    let args = ["sample", "--json", "--draws", "500", "--seed", "42"];
    let a = json(&dial(&args));
    let b = json(&dial(&args));
    assert_eq!(a["counts"], b["counts"]);
    let c = json(&dial(&[
        "sample", "--json", "--draws", "500", "--seed", "43",
    ]));
    assert_ne!(a["counts"], c["counts"]);
}

#[test]
fn greedy_and_order_flags_reach_the_chain() {
    let v = json(&dial(&[
        "sample", "--json", "--draws", "50", "--top-k", "1",
    ]));
    assert_eq!(v["counts"]["3"], 50, "{v}");
    let v = json(&dial(&[
        "sample",
        "--json",
        "--draws",
        "10",
        "--temperature",
        "1.5",
        "--top-p",
        "0.5",
        "--order",
        "temperature-last",
    ]));
    assert_eq!(v["order"], "temperature-last");
    assert_eq!(v["trace"][0]["stage"], "top_p");
}

#[test]
fn reads_json_objects_npy_files_and_stdin() {
    let obj = br#"{"tokens": ["a", "b", "c"], "logits": [0.0, 5.0, "-inf"]}"#;
    let path = temp_file("row.json", obj);
    let v = json(&dial(&[
        "sample",
        "--json",
        "--draws",
        "100",
        "--logits",
        path.to_str().unwrap(),
    ]));
    assert_eq!(v["tokens"]["1"], "b");
    assert!(v["probabilities"].get("2").is_none(), "-inf is never kept");

    let path = temp_file("row.npy", &npy_f32(&[1.0, 9.0, 2.0]));
    let v = json(&dial(&[
        "sample",
        "--json",
        "--draws",
        "10",
        "--temperature",
        "0",
        "--logits",
        path.to_str().unwrap(),
    ]));
    assert_eq!(v["counts"]["1"], 10);

    let o = dial_with_stdin(
        &[
            "sample", "--json", "--draws", "10", "--top-k", "1", "--logits", "-",
        ],
        Some(b"[3.0, 1.0, 4.0, 1.0]"),
    );
    assert_eq!(json(&o)["counts"]["2"], 10);
}

#[test]
fn bad_input_fails_with_one_line_naming_the_problem() {
    let stdin = |bytes: &[u8], extra: &[&str]| {
        let mut args = vec!["sample", "--logits", "-"];
        args.extend_from_slice(extra);
        dial_with_stdin(&args, Some(bytes))
    };
    assert_one_line_error(&stdin(b"[1.0, 2.0", &[]), "not valid JSON");
    assert_one_line_error(&stdin(b"[]", &[]), "empty");
    assert_one_line_error(&stdin(b"[1.0, \"NaN\", 2.0]", &[]), "NaN");
    assert_one_line_error(&stdin(b"[1.0, \"inf\"]", &[]), "+inf");
    assert_one_line_error(&stdin(b"[\"-inf\", \"-inf\"]", &[]), "masked");
    assert_one_line_error(
        &stdin(br#"{"tokens": ["a"], "logits": [1.0, 2.0]}"#, &[]),
        "tokens",
    );
    assert_one_line_error(&dial(&["sample", "--top-p", "1.5"]), "top_p");
    assert_one_line_error(&dial(&["sample", "--temperature", "-1"]), "temperature");
    assert_one_line_error(&dial(&["sample", "--top-p", "abc"]), "--top-p");
    assert_one_line_error(&dial(&["sample", "--logit-bias", "99=1.0"]), "99");
    assert_one_line_error(&dial(&["sample", "--ban", "6"]), "6");
    assert_one_line_error(&dial(&["sample", "--order", "sideways"]), "sideways");
    assert_one_line_error(&dial(&["sample", "--bogus"]), "--bogus");
    assert_one_line_error(&dial(&["frobnicate"]), "frobnicate");
    assert_one_line_error(
        &dial(&["sample", "--logits", "/nonexistent/row.json"]),
        "/nonexistent/row.json",
    );
    assert_one_line_error(&dial(&["sample", "--draws", "99999999999"]), "--draws");
    let npy = temp_file("nan.npy", &npy_f32(&[1.0, f32::NAN]));
    assert_one_line_error(
        &dial(&["sample", "--logits", npy.to_str().unwrap()]),
        "index 1",
    );
}

#[test]
fn a_closed_pipe_is_not_a_crash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dial"))
        .args(["sample", "--draws", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn help_and_version_succeed() {
    let o = dial(&["--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("sample"));
    let o = dial(&["sample", "--help"]);
    assert!(stdout(&o).contains("--top-p"));
    assert!(dial(&["--version"]).status.success());
}
