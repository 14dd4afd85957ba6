//! Constraints on a tiny random model: whatever its weights say, the output matches. The
//! model knows nothing, so every guarantee here is the constraint's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_grammar::{Constraint, GrammarEngine, GrammarError};
use dial_model::tiny::TinyGemma3;
use dial_model::{FinishReason, GenerateOptions, Model};
use dial_sampling::{Knobs, Sampler, StageId, Temperature, TokenConstraint, TopK};
use serde_json::{Value, json};
use std::sync::OnceLock;

fn model() -> &'static (Model, GrammarEngine) {
    static MODEL: OnceLock<(Model, GrammarEngine)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("grammar-tiny.gguf");
        TinyGemma3::default().write(&path).unwrap();
        let model = Model::load(&path, |_, _| {}).unwrap();
        let engine = GrammarEngine::new(model.tokenizer()).unwrap();
        (model, engine)
    })
}

fn hot() -> Knobs {
    Knobs {
        temperature: Some(Temperature::new(1.5).unwrap()),
        ..Knobs::default()
    }
}

/// Generates under `constraint`; returns the text and why it ended.
fn generate(
    constraint: &Constraint,
    knobs: Knobs,
    seed: u64,
    max_tokens: usize,
) -> (String, FinishReason) {
    let (model, engine) = model();
    let stage = engine.start(constraint).unwrap();
    let options = GenerateOptions {
        knobs,
        seed,
        max_tokens,
        constraint: Some(Box::new(stage)),
        ..GenerateOptions::default()
    };
    let mut generation = model.generate("the cat", options).unwrap();
    let mut text = String::new();
    for step in generation.by_ref() {
        text.push_str(&step.unwrap().text);
    }
    (text, generation.finish_reason().unwrap())
}

#[test]
fn a_choice_gives_one_of_its_strings_and_stops() {
    let options = vec!["yes".to_string(), "no".into(), "maybe not".into()];
    let constraint = Constraint::Choice(options.clone());
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..12 {
        let (text, finish) = generate(&constraint, hot(), seed, 32);
        assert!(options.contains(&text), "{text:?}");
        assert_eq!(finish, FinishReason::Stop);
        seen.insert(text);
    }
    assert!(
        seen.len() >= 2,
        "the draw still depends on the seed: {seen:?}"
    );
}

#[test]
fn a_regex_is_matched_whole() {
    let constraint = Constraint::Regex("[0-9]{3}-[a-z]{2,4}".into());
    for seed in 0..8 {
        let (text, finish) = generate(&constraint, hot(), seed, 32);
        assert_eq!(finish, FinishReason::Stop, "{text:?}");
        let (digits, letters) = text.split_once('-').unwrap();
        assert!(
            digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()),
            "{text:?}"
        );
        assert!((2..=4).contains(&letters.len()), "{text:?}");
        assert!(letters.bytes().all(|b| b.is_ascii_lowercase()), "{text:?}");
    }
}

#[test]
fn a_schema_gives_compact_valid_json() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 6},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3}
        },
        "required": ["name", "age", "tags"],
        "additionalProperties": false
    });
    let constraint = Constraint::JsonSchema {
        schema,
        strict: true,
    };
    for seed in 0..6 {
        let (text, finish) = generate(&constraint, hot(), seed, 96);
        assert_eq!(finish, FinishReason::Stop, "{text:?}");
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        assert_eq!(
            serde_json::to_string(&value).unwrap().len(),
            text.len(),
            "compact: {text:?}"
        );
        let age = value["age"].as_i64().unwrap();
        assert!((0..=120).contains(&age), "{text}");
        assert!(
            value["name"].as_str().unwrap().chars().count() <= 6,
            "{text}"
        );
        let tags = value["tags"].as_array().unwrap();
        assert!(
            tags.len() <= 3 && tags.iter().all(|t| t == "a" || t == "b"),
            "{text}"
        );
        assert_eq!(value.as_object().unwrap().len(), 3, "{text}");
    }
}

#[test]
fn max_tokens_first_gives_length_and_the_partial_text() {
    let constraint = Constraint::JsonSchema {
        schema: json!({"type": "array", "items": {"type": "integer"}, "minItems": 50}),
        strict: true,
    };
    let (text, finish) = generate(&constraint, hot(), 3, 8);
    assert_eq!(finish, FinishReason::Length);
    assert!(text.starts_with('['), "{text:?}");
}

#[test]
fn a_seed_reproduces_under_a_constraint() {
    let constraint = Constraint::Regex("[a-z ]{5,30}\\.".into());
    let a = generate(&constraint, hot(), 11, 40);
    let b = generate(&constraint, hot(), 11, 40);
    assert_eq!(a, b);
}

#[test]
fn the_grammar_is_the_first_stage_and_top_k_acts_on_what_it_allows() {
    let (model, engine) = model();
    let mut stage = engine
        .start(&Constraint::Choice(vec!["world".into(), "hello".into()]))
        .unwrap();
    stage.compute_mask().unwrap();
    let allowed: Vec<u32> = stage.mask().unwrap().iter().collect();
    assert!(!allowed.is_empty() && allowed.len() < 20, "{allowed:?}");
    let knobs = Knobs {
        top_k: Some(TopK::new(1)),
        ..Knobs::default()
    };
    let mut sampler = Sampler::new(knobs, 5).unwrap();
    sampler.add_constraint(Box::new(stage));
    assert_eq!(sampler.stages()[0], StageId::Grammar);
    // Logits that favour a token the grammar forbids: top_k = 1 must still keep one
    // allowed token, the best of them.
    let vocab = model.tokenizer().vocab_size();
    let mut logits = vec![0.0f32; vocab];
    let forbidden = (0..vocab as u32).find(|t| !allowed.contains(t)).unwrap();
    logits[forbidden as usize] = 20.0;
    let best_allowed = allowed[allowed.len() - 1];
    logits[best_allowed as usize] = 1.0;
    let explained = sampler.explain(&logits).unwrap();
    assert_eq!(explained.kept_ids(), vec![best_allowed]);
    assert_eq!(explained.trace[0].stage, StageId::Grammar);
    assert_eq!(explained.trace[0].remaining, allowed.len());
    assert!(explained.trace[0].mass_kept < 1e-6);
    let report = sampler.explain_report(&logits, 5).unwrap();
    let cut = report
        .rows
        .iter()
        .find(|r| r.id == forbidden)
        .unwrap()
        .cut
        .clone()
        .unwrap();
    assert_eq!(cut.stage, StageId::Grammar);
    assert!(cut.reason.contains("cannot begin"), "{}", cut.reason);
    let draw = sampler.sample(&logits).unwrap();
    assert_eq!(draw.token, best_allowed);
    assert_eq!(draw.logprob, 0.0);
    assert!(
        draw.raw_logprob < -15.0,
        "raw stays the model's: {}",
        draw.raw_logprob
    );
}

#[test]
fn a_token_the_grammar_forbids_is_refused_on_accept() {
    let (model, engine) = model();
    let stage = engine.start(&Constraint::Regex("[0-9]+".into())).unwrap();
    let mut sampler = Sampler::new(Knobs::default(), 1).unwrap();
    sampler.add_constraint(Box::new(stage));
    sampler.compute_masks().unwrap();
    let letter = model.tokenizer().encode("x", false)[0];
    let err = sampler.accept(letter).unwrap_err();
    assert!(
        matches!(err, dial_sampling::SampleError::Constraint { .. }),
        "{err}"
    );
    assert!(sampler.history().is_empty());
}

#[test]
fn compiled_grammars_are_cached_by_their_text() {
    let (_, engine) = model();
    let c = Constraint::Regex("cached[0-9]".into());
    let first = engine.compile(&c).unwrap();
    let second = engine.compile(&c).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &second));
}

fn compile_error(constraint: Constraint) -> GrammarError {
    model().1.compile(&constraint).unwrap_err()
}

#[test]
fn bad_constraints_are_typed_errors() {
    let bad_type = compile_error(Constraint::JsonSchema {
        schema: json!({"type": "object", "properties": {"a": {"type": "strin"}}}),
        strict: false,
    });
    assert!(
        matches!(&bad_type, GrammarError::InvalidSchema { pointer, .. } if pointer == "/properties/a/type"),
        "{bad_type}"
    );
    let not_schema = compile_error(Constraint::JsonSchema {
        schema: json!({"items": [1]}),
        strict: false,
    });
    assert!(
        matches!(&not_schema, GrammarError::InvalidSchema { pointer, .. } if pointer == "/items"),
        "{not_schema}"
    );
    let unsupported = compile_error(Constraint::JsonSchema {
        schema: json!({"type": "object", "properties": {"a": {"not": {"type": "string"}}}}),
        strict: true,
    });
    assert!(
        matches!(&unsupported, GrammarError::Unsupported { keyword, pointer } if keyword == "not" && pointer == "/properties/a"),
        "{unsupported}"
    );
    assert!(matches!(
        compile_error(Constraint::Regex("(unclosed".into())),
        GrammarError::Invalid { kind: "regex", .. }
    ));
    assert!(matches!(
        compile_error(Constraint::Choice(Vec::new())),
        GrammarError::Invalid { kind: "choice", .. }
    ));
    let nothing = compile_error(Constraint::Regex("[^\\s\\S]".into()));
    assert!(
        matches!(nothing, GrammarError::MatchesNothing { .. }),
        "{nothing}"
    );
    assert!(matches!(
        compile_error(Constraint::Grammar("start: nowhere".into())),
        GrammarError::Invalid {
            kind: "grammar",
            ..
        }
    ));
    let huge = compile_error(Constraint::Regex(
        "a".repeat(dial_grammar::MAX_CONSTRAINT_BYTES + 1),
    ));
    assert!(matches!(huge, GrammarError::TooLarge { .. }), "{huge}");
}

#[test]
fn a_lenient_schema_says_what_it_relaxed() {
    let (_, engine) = model();
    let compiled = engine
        .compile(&Constraint::JsonSchema {
            schema: json!({"type": "array", "items": {"type": "integer"}, "uniqueItems": true}),
            strict: false,
        })
        .unwrap();
    let relaxed = compiled.relaxed();
    assert_eq!(relaxed.len(), 1);
    assert_eq!(relaxed[0].keyword, "uniqueItems");
    assert_eq!(relaxed[0].pointer, "");
}

#[test]
fn tool_calls_or_text_in_either_syntax() {
    let call_schema = json!({"type": "object", "properties": {
        "name": {"const": "add"},
        "arguments": {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 99}}, "required": ["a"], "additionalProperties": false}
    }, "required": ["name", "arguments"], "additionalProperties": false});
    let syntax =
        |open: &str, sep: &str, close: &str, call_open: &str, call_close: &str, text: bool| {
            Constraint::ToolCalls(dial_grammar::ToolCallSyntax {
                call_schema: call_schema.clone(),
                strict: true,
                list_open: open.into(),
                separator: sep.into(),
                list_close: close.into(),
                call_open: call_open.into(),
                call_close: call_close.into(),
                max_calls: Some(2),
                text_allowed: text,
            })
        };
    // A call list, or text that cannot be taken for one.
    let check_list = |text: &str| {
        let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        let items = value.as_array().unwrap();
        assert!((1..=2).contains(&items.len()), "{text}");
        assert!(
            items
                .iter()
                .all(|c| c["name"] == "add" && c["arguments"]["a"].is_i64()),
            "{text}"
        );
    };
    let check_tagged = |text: &str| {
        let blocks: Vec<&str> = text
            .split("</tool_call>")
            .filter(|b| !b.trim().is_empty())
            .collect();
        assert!((1..=2).contains(&blocks.len()), "{text:?}");
        for block in blocks {
            let body = block
                .trim()
                .strip_prefix("<tool_call>")
                .unwrap_or_else(|| panic!("{text:?}"));
            let call: Value =
                serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"));
            assert_eq!(call["name"], "add");
        }
    };
    let list = |text| syntax("[", ",", "]", "", "", text);
    let tagged = |text| syntax("", "\n", "", "<tool_call>\n", "\n</tool_call>", text);
    for seed in 0..6 {
        let (text, finish) = generate(&list(false), hot(), seed, 200);
        assert_eq!(finish, dial_model::FinishReason::Stop, "{text:?}");
        check_list(&text);
        let (text, finish) = generate(&tagged(false), hot(), seed, 200);
        assert_eq!(finish, dial_model::FinishReason::Stop, "{text:?}");
        check_tagged(&text);
        for (constraint, opening) in [(list(true), '['), (tagged(true), '<')] {
            let (text, _) = generate(&constraint, hot(), seed, 200);
            if text.starts_with(opening) {
                if opening == '[' {
                    check_list(&text)
                } else {
                    check_tagged(&text)
                }
            } else {
                assert!(!text.starts_with(char::is_whitespace), "{text:?}");
            }
        }
    }
}
