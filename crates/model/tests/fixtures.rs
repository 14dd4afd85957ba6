//! Small GGUF files with random weights, one per architecture and tensor type
//! (tests/data/fixtures, written by `scripts/gguf-fixtures`: F32 by the `gguf` package, the
//! other types by llama.cpp's own `llama-quantize`), each against llama.cpp's answers on
//! the same file, and each through the batch-invariance suite.
//! Release only: `cargo test --release -p dial-model --test fixtures`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod invariance;
mod llama_cpp;

use dial_gguf::{Gguf, TensorData, Value};
use dial_model::Model;
use std::path::PathBuf;

/// Every fixture: its architecture (and variant, after a dash) and tensor type (`Q4_K_M`
/// mixes Q4_K and Q6_K, with llama.cpp's fallbacks where a row is not a multiple of 256).
const FIXTURES: &[(&str, &str)] = &[
    ("llama", "F32"),
    ("llama", "Q8_0"),
    ("llama", "Q4_K_M"),
    ("llama", "Q5_1"),
    ("llama", "Q4_0"),
    ("llama", "Q4_1"),
    ("llama", "Q5_0"),
    ("llama", "Q5_K_M"),
    ("llama", "Q3_K_M"),
    ("llama", "Q2_K"),
    ("llama", "F16"),
    ("llama", "BF16"),
    ("llama", "IQ4_NL"),
    ("llama", "IQ4_XS"),
    ("qwen2", "F32"),
    ("qwen2", "Q8_0"),
    ("qwen2", "Q4_K_M"),
    ("qwen2", "Q5_1"),
    ("qwen3", "F32"),
    ("qwen3", "Q8_0"),
    ("qwen3", "Q4_K_M"),
    ("qwen3", "Q5_1"),
    ("gemma2", "F32"),
    ("gemma2", "Q8_0"),
    ("gemma2", "Q4_K_M"),
    ("gemma2", "Q5_1"),
    ("phi3", "F32"),
    ("phi3", "Q8_0"),
    ("phi3", "Q4_K_M"),
    ("phi3", "Q5_1"),
    ("phi3-longrope", "F32"),
    ("phi3-shortrope", "F32"),
];

/// Log-probability gaps allowed. F32 weights: dial and llama.cpp do the same f32
/// arithmetic in another order (measured: 1·10⁻⁵). Quantized weights: both round each
/// activation row to int8, and wherever the f32 values before that differ in the last bit
/// a rounding can flip, which the next layers carry (measured over the 20 files: at most
/// 0.24, mean at most 0.07).
fn tolerance(kind: &str) -> (f64, f64) {
    if kind == "F32" {
        (1e-3, 1e-4)
    } else {
        (0.5, 0.1)
    }
}

fn each(check: impl Fn(&str, &Model, &PathBuf)) {
    for (arch, kind) in FIXTURES {
        let name = format!("{arch}-{kind}");
        let dir = llama_cpp::data("fixtures").join(&name);
        let m = Model::load(&dir.with_extension("gguf"), |_, _| {}).unwrap();
        assert_eq!(Some(m.architecture()), arch.split('-').next());
        check(kind, &m, &dir);
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn tokens_equal_llama_cpp_s_on_every_case() {
    each(|_, m, dir| assert!(llama_cpp::tokenizer_cases(m, dir) >= 25));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn top_20_log_probabilities_are_within_tolerance() {
    each(|kind, m, dir| {
        let (most, mean_most) = tolerance(kind);
        let (worst, mean) = llama_cpp::top_logprob_gaps(m, dir, most);
        eprintln!("{}: largest {worst:.2e}, mean {mean:.2e}", dir.display());
        assert!(
            worst < most && mean < mean_most,
            "{}: {worst} {mean}",
            dir.display()
        );
    });
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn greedy_continuations_equal_llama_cpp_s_up_to_a_near_tie() {
    each(|kind, m, dir| {
        let matched = llama_cpp::greedy_tokens_matched(m, dir, tolerance(kind).0);
        eprintln!("{}: {matched} greedy tokens equal", dir.display());
        // Four prompts of 24 tokens: most of it must agree.
        assert!(matched >= 48, "{}: {matched}", dir.display());
    });
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn perplexity_is_within_half_a_percent_of_llama_cpp_s() {
    each(|kind, m, dir| {
        let off = llama_cpp::perplexity_gap(m, dir);
        eprintln!("{}: perplexity {:.4} % off", dir.display(), off * 100.0);
        let bound = if kind == "F32" { 1e-4 } else { 5e-3 };
        assert!(off < bound, "{}: {off}", dir.display());
    });
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn prefill_and_decode_give_the_same_bits() {
    each(|_, m, dir| llama_cpp::prefill_equals_decode(m, dir));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn sixteen_seeded_generations_give_the_same_bits_alone_and_together() {
    each(|_, m, _| invariance::sixteen_seeded_generations_alone_and_together(m));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn a_prompts_logits_do_not_depend_on_the_rest_of_the_batch() {
    each(|_, m, _| invariance::a_prompts_logits_alone_and_in_a_batch(m));
}

/// A LongRoPE factor tensor that is not one factor per frequency is refused by name, not
/// read as far as it goes.
#[test]
fn a_rope_factor_tensor_of_the_wrong_length_is_refused() {
    let source = llama_cpp::data("fixtures").join("phi3-longrope-F32.gguf");
    let bytes = std::fs::read(&source).unwrap();
    let file = Gguf::parse(&bytes).unwrap();
    let metadata: Vec<(&str, Value)> = file
        .metadata()
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let tensors: Vec<TensorData> = file
        .tensors()
        .iter()
        .map(|t| {
            let data = &bytes[t.data()];
            if t.name() == "rope_factors_long.weight" {
                TensorData::f32(t.name(), &[16], &[2.0; 16]).unwrap()
            } else {
                TensorData::new(t.name(), t.dims(), t.ggml_type(), data.to_vec()).unwrap()
            }
        })
        .collect();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-short-factors-{}.gguf", std::process::id()));
    let mut out = std::fs::File::create(&path).unwrap();
    dial_gguf::write(&mut out, &metadata, &tensors).unwrap();
    let err = Model::load(&path, |_, _| {}).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        err.to_string(),
        "tensor rope_factors_long.weight: 16 factors, expected one per frequency (32)"
    );
}
