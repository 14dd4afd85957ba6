//! Whole-binary tests of the commands that run the real default model (fetched into the
//! cache by `dial fetch`). Release only: `cargo test --release -p dial --test model`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{dial, ok, one_line_error};

const GREEDY: &str = " not defined by the number of years you live, but by the quality of your life.\n\nThe meaning of life is not defined by the number of years you live, but by the quality of your";

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn fetch_then_generate_greedy_streams_llama_cpp_s_text() {
    let path = ok(&dial(&["fetch"]));
    assert!(path.trim().ends_with("gemma-3-270m-q4_k_m.gguf"), "{path}");
    let out = ok(&dial(&[
        "generate",
        "The meaning of life is",
        "--temperature",
        "0",
        "--max-tokens",
        "40",
    ]));
    assert_eq!(out, format!("{GREEDY}\n"));
}

/// A second model by name: fetched, then run natively, as llama.cpp runs it.
#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn a_named_model_is_fetched_and_answers_as_llama_cpp_does() {
    let path = ok(&dial(&["fetch", "--model", "smollm2"]));
    assert!(
        path.trim().ends_with("SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{path}"
    );
    let greedy = |model: &str| {
        ok(&dial(&[
            "generate",
            "The capital of France is",
            "--model",
            model,
            "--temperature",
            "0",
            "--max-tokens",
            "2",
        ]))
    };
    // llama.cpp's greedy continuation (crates/model/tests/data/smollm2/greedy.jsonl).
    assert_eq!(greedy("smollm2"), " Paris.\n");
    // The fetched file by its path answers the same.
    assert_eq!(greedy(path.trim()), " Paris.\n");
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn generate_json_has_logprobs_trace_and_usage() {
    let v: serde_json::Value = serde_json::from_str(&ok(&dial(&[
        "generate",
        "The cat sat on the",
        "--temperature",
        "0.8",
        "--top-p",
        "0.9",
        "--seed",
        "4",
        "--max-tokens",
        "8",
        "--logprobs",
        "3",
        "--trace",
        "--json",
    ])))
    .unwrap();
    assert_eq!(v["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 8);
    assert_eq!(v["usage"]["prompt_tokens"], 6);
    let tokens = v["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 8);
    let text: String = tokens
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(text, v["text"].as_str().unwrap());
    for t in tokens {
        assert!(t["logprob"].as_f64().unwrap() <= 0.0);
        let top = t["top_logprobs"].as_array().unwrap();
        assert!(!top.is_empty() && top.len() <= 3);
        assert_eq!(t["trace"][0]["stage"], "temperature");
        assert_eq!(t["trace"][1]["stage"], "top_p");
    }
    // The same seed gives the same text.
    let again: serde_json::Value = serde_json::from_str(&ok(&dial(&[
        "generate",
        "The cat sat on the",
        "--temperature",
        "0.8",
        "--top-p",
        "0.9",
        "--seed",
        "4",
        "--max-tokens",
        "8",
        "--json",
    ])))
    .unwrap();
    assert_eq!(again["text"], v["text"]);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn compare_shows_robotic_against_random() {
    let out = ok(&dial(&[
        "generate",
        "The meaning of life is",
        "--max-tokens",
        "40",
        "--seed",
        "3",
        "--compare",
        "temperature=0",
        "temperature=1.0,top_p=0.9",
        "temperature=1.5,repetition_penalty=1.3",
    ]));
    let rows: Vec<&str> = out.lines().skip(1).take(3).collect();
    let distinct2 = |line: &str| -> f64 {
        line.split_whitespace()
            .nth_back(2)
            .unwrap()
            .parse()
            .unwrap()
    };
    let entropy = |line: &str| -> f64 {
        line.split_whitespace()
            .nth_back(5)
            .unwrap()
            .parse()
            .unwrap()
    };
    // Greedy loops (it repeats its sentence); the hot, penalised run does not.
    assert!(rows[0].starts_with("temperature=0 "));
    assert!(distinct2(rows[0]) < 0.7, "{}", rows[0]);
    assert!(distinct2(rows[2]) > 0.9, "{}", rows[2]);
    assert!(entropy(rows[2]) > entropy(rows[0]));
    assert!(out.contains("── temperature=1.0,top_p=0.9"));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn perplexity_and_explain_on_the_real_model() {
    let note = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../model/tests/data/sampling-controls.md"
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(&dial(&["perplexity", note, "--ctx", "256", "--json"]))).unwrap();
    assert_eq!(v["chunks"], 7);
    assert_eq!(v["tokens_scored"], 889);
    let ppl = v["ppl"].as_f64().unwrap();
    assert!((ppl / 24.4583 - 1.0).abs() < 0.03, "PPL {ppl}");

    let out = ok(&dial(&[
        "explain",
        "--prompt",
        "The meaning of life is",
        "--temperature",
        "0.8",
        "--top-p",
        "0.9",
        "--top",
        "8",
    ]));
    assert!(out.contains("262144 tokens"), "{out}");
    // The greedy continuation's first token leads the table.
    let first = out.lines().find(|l| l.starts_with('"')).unwrap();
    assert!(first.starts_with("\" not\""), "{first}");
    assert!(
        out.contains("… "),
        "summary line for the rest of the vocabulary"
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn bad_model_input_is_one_line() {
    one_line_error(
        &dial(&["generate", "hi", "--model", "/nonexistent/model.gguf"]),
        "/nonexistent/model.gguf",
    );
    one_line_error(
        &dial(&["generate", "hi", "--model", "smollm3"]),
        "no model by that name (it fetches gemma3-270m, smollm2)",
    );
    let junk = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-junk-{}.gguf", std::process::id()));
    std::fs::write(&junk, b"not a gguf").unwrap();
    one_line_error(
        &dial(&["generate", "hi", "--model", junk.to_str().unwrap()]),
        "not a valid GGUF",
    );
    one_line_error(&dial(&["generate", ""]), "empty");
    one_line_error(&dial(&["generate", "hi", "--top-p", "7"]), "top_p");
    one_line_error(&dial(&["generate", "hi", "--compare", "bogus=1"]), "bogus");
    one_line_error(
        &dial(&["perplexity", "/nonexistent.txt"]),
        "/nonexistent.txt",
    );
    one_line_error(
        &dial(&["explain", "--prompt", "x", "--logits", "-"]),
        "--logits",
    );
}

/// The orderings Holtzman et al. (2020, Table 1) found, on a small sweep of the default
/// model: greedy loops far more than pure sampling, and the perplexity of the
/// continuations rises from greedy to top-k 40 at t = 0.7 to pure sampling. The margins
/// measured when this was written are in docs/sweep.md; the assertions ask for the
/// ordering, not the numbers.
#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn a_small_sweep_shows_the_papers_orderings_and_replays_with_generate() {
    let out = ok(&dial(&[
        "sweep",
        "--max-prompts",
        "8",
        "--setting",
        "greedy=temperature=0",
        "--setting",
        "top-k 40 at 0.7=top_k=40,temperature=0.7",
        "--setting",
        "pure sampling=temperature=1",
        "--seed",
        "11",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let settings = v["settings"].as_array().unwrap();
    let metric = |i: usize, key: &str| settings[i][key].as_f64().unwrap();
    let (greedy, top_k, pure) = (0, 1, 2);
    eprintln!(
        "repetition % {} {} {}; perplexity {} {} {}",
        metric(greedy, "repetition_pct"),
        metric(top_k, "repetition_pct"),
        metric(pure, "repetition_pct"),
        metric(greedy, "perplexity"),
        metric(top_k, "perplexity"),
        metric(pure, "perplexity"),
    );
    // "Far above": at least a quarter of the prompts more, and at least three times.
    assert!(metric(greedy, "repetition_pct") >= metric(pure, "repetition_pct") + 25.0);
    assert!(metric(greedy, "repetition_pct") >= 3.0 * metric(pure, "repetition_pct"));
    assert!(metric(greedy, "perplexity") < metric(top_k, "perplexity"));
    assert!(metric(top_k, "perplexity") < metric(pure, "perplexity"));
    // A continuation is replayed by `dial generate` with its seed and knobs.
    let c = &settings[pure]["continuations"][3];
    let prompt = v["prompts"][c["prompt"].as_u64().unwrap() as usize]
        .as_str()
        .unwrap();
    let seed = c["seed"].as_u64().unwrap().to_string();
    let replay: serde_json::Value = serde_json::from_str(&ok(&dial(&[
        "generate",
        prompt,
        "--temperature",
        "1",
        "--seed",
        &seed,
        "--max-tokens",
        "200",
        "--json",
    ])))
    .unwrap();
    assert_eq!(replay["text"], c["text"]);
    let ids: Vec<u64> = replay["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    let swept: Vec<u64> = c["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    let eos = usize::from(c["eos"].as_bool().unwrap());
    assert_eq!(ids[..ids.len() - eos], swept[..]);
}

/// The constraint flags: the output matches, and explain shows the `grammar` stage first.
#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn constraint_flags_shape_generate_and_explain() {
    for seed in ["1", "2", "3"] {
        let out = ok(&dial(&[
            "generate",
            "Is the sky blue? Answer:",
            "--choice",
            " yes, no",
            "--choice",
            " maybe",
            "--temperature",
            "1.5",
            "--seed",
            seed,
        ]));
        assert!(
            [" yes\n", " no\n", " maybe\n"].contains(&out.as_str()),
            "{out:?}"
        );
    }
    let out = ok(&dial(&[
        "generate",
        "The year the Eiffel Tower opened:",
        "--regex",
        " [0-9]{4}",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(
        text.len() == 5 && text[1..].bytes().all(|b| b.is_ascii_digit()),
        "{text:?}"
    );
    assert_eq!(v["finish_reason"], "stop");
    let schema = r#"{"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": false}"#;
    let out = ok(&dial(&[
        "generate",
        "Answer as JSON:",
        "--json-schema",
        schema,
        "--strict",
        "--max-tokens",
        "20",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["ok"].is_boolean(), "{out}");
    let report = ok(&dial(&[
        "explain",
        "--prompt",
        "The answer is",
        "--regex",
        "(yes|no)",
        "--top-k",
        "1",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(v["chain"][0]["stage"], "grammar");
    assert_eq!(v["nucleus_size"], 1);
    one_line_error(
        &dial(&[
            "generate",
            "x",
            "--json-schema",
            r#"{"not": {}}"#,
            "--strict",
        ]),
        "`not`",
    );
    one_line_error(
        &dial(&["generate", "x", "--regex", "a", "--choice", "b"]),
        "cannot be used with",
    );
}
