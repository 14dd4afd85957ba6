//! `SamplingParams` and the knob registry: one description per knob, read by every front end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dial_sampling::{FieldKind, KnobKind, ParamsError, SamplingParams, Value};

/// Every knob's metadata, listed: a new knob file shows up here through its registry line,
/// and this test fails until its description is complete.
#[test]
fn every_knob_describes_itself_once() {
    let mut listing = Vec::new();
    for &kind in KnobKind::ALL {
        let spec = kind.spec();
        assert_eq!(spec.kind, kind);
        assert!(spec.summary.ends_with('.'), "{kind}: summary is a sentence");
        for f in spec.fields {
            assert!(!f.help.is_empty() && !f.expected.is_empty(), "{}", f.name);
            if matches!(f.kind, FieldKind::Number | FieldKind::Integer) {
                let r = f.range.expect("numeric fields have a range");
                assert!(r.min < r.max && r.max.is_finite(), "{}", f.name);
                for v in f.default.iter().chain(&f.off) {
                    assert!(r.contains(*v), "{}: default/off {v} in range", f.name);
                }
            }
            listing.push(format!(
                "{kind}: {} {:?} aliases={:?} range={:?} default={:?} off={:?}",
                f.name,
                f.kind,
                f.aliases,
                f.range.map(|r| (r.min, r.max)),
                f.default,
                f.off
            ));
        }
    }
    let text = listing.join("\n");
    println!("{text}");
    for name in [
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "typical_p",
        "top_n_sigma",
        "dynatemp_range",
        "xtc_probability",
        "mirostat",
        "mirostat_tau",
        "repetition_penalty",
        "frequency_penalty",
        "presence_penalty",
        "dry_multiplier",
        "dry_sequence_breakers",
        "logit_bias",
        "banned_tokens",
        "allowed_tokens",
    ] {
        assert!(text.contains(&format!(": {name} ")), "{name} is described");
    }
    // No spelling is claimed twice.
    let mut spellings: Vec<&str> = SamplingParams::spellings().collect();
    let n = spellings.len();
    spellings.sort_unstable();
    spellings.dedup();
    assert_eq!(spellings.len(), n, "a name or alias appears twice");
}

#[test]
fn aliases_resolve_to_one_field() {
    let mut p = SamplingParams::default();
    p.set_text("repeat_penalty", "1.3").unwrap();
    assert_eq!(p.number("repetition_penalty"), Some(1.3));
    p.set_text("repeat-last-n", "64").unwrap();
    assert_eq!(p.integer("penalty_last_n"), Some(64));
    let knobs = p.knobs().unwrap();
    assert_eq!(knobs.penalties.unwrap().value().0, 1.3f32);
}

#[test]
fn out_of_range_and_unknown_fields_are_named() {
    let mut p = SamplingParams::default();
    let e = p.set("temperature", Value::Number(3.0)).unwrap_err();
    assert_eq!(e.param(), "temperature");
    assert!(e.to_string().contains("[0, 2]"), "{e}");
    let e = p.set("top_p", Value::Number(f64::NAN)).unwrap_err();
    assert_eq!(e.param(), "top_p");
    let e = p.set_text("repeat_penaltyy", "1.1").unwrap_err();
    assert!(
        matches!(
            &e,
            ParamsError::Unknown {
                suggestion: Some("repeat_penalty"),
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "unknown parameter `repeat_penaltyy`; did you mean `repeat_penalty`?"
    );
    let e = p.set("top_k", Value::Number(2.5)).unwrap_err();
    assert_eq!(e.param(), "top_k");
    let e = p.set_text("logit_bias", "5=101").unwrap_err();
    assert_eq!(e.param(), "logit_bias");
    // OpenAI's edge values are accepted.
    for (name, v) in [
        ("top_p", 0.0),
        ("top_p", 1.0),
        ("temperature", 0.0),
        ("temperature", 2.0),
    ] {
        p.set(name, Value::Number(v)).unwrap();
    }
}

#[test]
fn a_field_that_would_do_nothing_is_an_error_not_a_silent_drop() {
    for (name, value) in [
        ("xtc_threshold", "0.2"),
        ("mirostat_tau", "4"),
        ("dry_base", "2"),
        ("penalty_last_n", "16"),
        ("dynatemp_exponent", "2"),
    ] {
        let mut p = SamplingParams::default();
        p.set_text(name, value).unwrap();
        let e = p.knobs().unwrap_err();
        assert_eq!(e.param(), name, "{e}");
    }
}

#[test]
fn serde_validates_while_deserializing() {
    let ok: SamplingParams =
        serde_json::from_str(r#"{"temperature": 0.7, "top_p": 0.9, "seed": 7, "logit_bias": {"5": -100}, "mirostat": 2}"#)
            .unwrap();
    assert_eq!(ok.seed(), Some(7));
    let knobs = ok.knobs().unwrap();
    assert!(knobs.mirostat_v2.is_some() && knobs.logit_bias.is_some());
    let json = serde_json::to_value(&ok).unwrap();
    assert_eq!(json["logit_bias"]["5"], -100.0);
    let back: SamplingParams = serde_json::from_value(json).unwrap();
    assert_eq!(back, ok);
    for bad in [
        r#"{"temperature": 3}"#,
        r#"{"top_p": "high"}"#,
        r#"{"top_pp": 0.9}"#,
        r#"{"order": "top_k,top_k"}"#,
        r#"{"temperature": 1, "dynatemp_range": 0.5, "order": "temperature"}"#,
        r#"{"logit_bias": {"x": true}}"#,
        r#"{"seed": -1}"#,
    ] {
        assert!(
            serde_json::from_str::<SamplingParams>(bad).is_err(),
            "{bad}"
        );
    }
    let null: SamplingParams = serde_json::from_str(r#"{"top_p": null}"#).unwrap();
    assert!(!null.is_set("top_p"));
}

#[test]
fn insert_takes_any_serde_value_and_names_the_field() {
    let mut p = SamplingParams::default();
    p.insert("top_k", serde_json::json!(40)).unwrap();
    assert_eq!(p.integer("top_k"), Some(40));
    let e = p.insert("top_k", serde_json::json!("forty")).unwrap_err();
    assert_eq!(e.param(), "top_k");
    let e = p.insert("stop_sequence", serde_json::json!(1)).unwrap_err();
    assert!(matches!(e, ParamsError::Unknown { .. }));
}

#[test]
fn order_parses_and_displays() {
    let mut p = SamplingParams::default();
    p.set_text("order", "temperature-last").unwrap();
    assert_eq!(p.order().to_string(), "temperature-last");
    p.set_text("order", "top_k,temperature").unwrap();
    assert_eq!(p.order().to_string(), "top_k,temperature");
    assert_eq!(
        p.set_text("order", "top_k,nonsense").unwrap_err().param(),
        "order"
    );
}

#[test]
fn dry_breakers_need_a_tokenizer_only_when_given() {
    let mut p = SamplingParams::default();
    p.set_text("dry_multiplier", "0.8").unwrap();
    assert!(p.knobs().unwrap().dry.unwrap().breakers().is_empty());
    let knobs = p
        .knobs_with_tokenizer(&|s: &str| vec![s.len() as u32])
        .unwrap();
    assert_eq!(knobs.dry.unwrap().breakers(), &[1]);
    p.set("dry_sequence_breakers", Value::Strings(vec!["\n\n".into()]))
        .unwrap();
    assert_eq!(p.knobs().unwrap_err().param(), "dry_sequence_breakers");
    let knobs = p
        .knobs_with_tokenizer(&|s: &str| vec![s.len() as u32])
        .unwrap();
    assert_eq!(knobs.dry.unwrap().breakers(), &[2]);
}

#[test]
fn logit_bias_takes_text_keys_and_false_as_llama_cpp_does() {
    // A toy tokenizer: one token per byte.
    let bytes = |s: &str| -> Vec<u32> { s.bytes().map(u32::from).collect() };
    let parse = |body: &str| serde_json::from_str::<SamplingParams>(body);
    let p = parse(r#"{"logit_bias": [["ab", -5], [3, false]]}"#).unwrap();
    let knobs = p.knobs_with_tokenizer(&bytes).unwrap();
    assert_eq!(
        knobs.logit_bias.unwrap().biases(),
        &[(97, -5.0), (98, -5.0), (3, f32::NEG_INFINITY)]
    );
    assert_eq!(p.knobs().unwrap_err().param(), "logit_bias");
    let p = parse(r#"{"logit_bias": {"12": 1.5, "x": false}}"#).unwrap();
    let knobs = p.knobs_with_tokenizer(&bytes).unwrap();
    assert_eq!(
        knobs.logit_bias.unwrap().biases(),
        &[(12, 1.5), (120, f32::NEG_INFINITY)]
    );
    // Ids only stay the OpenAI form; false bans there too.
    let p = parse(r#"{"logit_bias": {"7": false, "2": 1}}"#).unwrap();
    assert_eq!(
        p.token_biases("logit_bias").unwrap(),
        &[(2, 1.0), (7, f32::NEG_INFINITY)]
    );
    let e = p.sampler(0).unwrap().explain(&[0.0; 8]).unwrap();
    assert_eq!(e.probability(7), 0.0);
    for bad in [
        r#"{"logit_bias": {"7": true}}"#,
        r#"{"logit_bias": {"7": 101}}"#,
        r#"{"logit_bias": [["a"]]}"#,
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    // Text that tokenizes to nothing is refused: empty text as the request is read, other
    // text once the model's tokenizer has seen it.
    assert!(parse(r#"{"logit_bias": [["", 1]]}"#).is_err());
    let p = parse(r#"{"logit_bias": [["zz", 1]]}"#).unwrap();
    let none = |_: &str| -> Vec<u32> { Vec::new() };
    assert_eq!(
        p.knobs_with_tokenizer(&none).unwrap_err().param(),
        "logit_bias"
    );
}
