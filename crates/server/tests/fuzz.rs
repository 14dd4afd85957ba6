//! 20,000 generated bodies through the real router: random JSON, mutated valid requests,
//! wrong types, huge and negative numbers, deep nesting, long strings. Every answer is a
//! success or the OpenAI error shape; none is a 5xx, and nothing panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

const CASES: u32 = 20_000;

const ENDPOINTS: [&str; 4] = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/explain",
];

fn valid(endpoint: &str) -> Value {
    match endpoint {
        "/v1/chat/completions" => {
            json!({"model": MODEL, "messages": [{"role": "user", "content": "the cat"}], "max_tokens": 2})
        }
        "/v1/completions" => json!({"model": MODEL, "prompt": "the cat", "max_tokens": 2}),
        "/v1/responses" => json!({"model": MODEL, "input": "the cat", "max_output_tokens": 2}),
        _ => json!({"prompt": "the cat", "top": 3}),
    }
}

/// Field names worth hitting: the endpoints', the knobs', and near misses.
fn names() -> Vec<String> {
    let mut v: Vec<String> = [
        "model",
        "messages",
        "prompt",
        "input",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "logprobs",
        "top_logprobs",
        "stream",
        "stream_options",
        "include",
        "instructions",
        "metadata",
        "dial",
        "top",
        "echo",
        "best_of",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "structured_outputs",
        "text",
        "user",
        "temperatur",
        "top-p",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(dial_sampling::SamplingParams::spellings().map(str::to_string));
    v
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|x| json!(x)),
        prop_oneof![
            Just(1e308),
            Just(-1e308),
            Just(5e-324),
            Just(-0.0),
            Just(2.0),
            Just(0.0),
            Just(1.0),
            Just(-1.0),
            Just(100.0)
        ]
        .prop_map(|x| json!(x)),
        "[a-z_ ]{0,12}".prop_map(Value::String),
        "\\PC{0,40}".prop_map(Value::String),
        (0usize..200_000).prop_map(|n| Value::String("x".repeat(n % 50_000))),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// A body: its endpoint and bytes.
fn body() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let names = names();
    prop_oneof![
        // Random JSON of any shape.
        (0..ENDPOINTS.len(), any_json()).prop_map(|(e, v)| (e, v.to_string().into_bytes())),
        // A valid request with fields set to random values.
        (
            0..ENDPOINTS.len(),
            prop::collection::vec((prop::sample::select(names), any_json()), 1..4),
        )
            .prop_map(|(e, edits)| {
                let mut v = valid(ENDPOINTS[e]);
                for (name, value) in edits {
                    v[name] = value;
                }
                (e, v.to_string().into_bytes())
            }),
        // Deep nesting.
        (0..ENDPOINTS.len(), 1usize..3000).prop_map(|(e, depth)| {
            let mut s = "[".repeat(depth);
            s.push_str(&"]".repeat(depth));
            (e, format!("{{\"model\": {s}}}").into_bytes())
        }),
        // Truncated or corrupted valid bodies.
        (
            0..ENDPOINTS.len(),
            any::<prop::sample::Index>(),
            any::<u8>()
        )
            .prop_map(|(e, at, byte)| {
                let mut bytes = valid(ENDPOINTS[e]).to_string().into_bytes();
                let i = at.index(bytes.len());
                if byte % 2 == 0 {
                    bytes.truncate(i);
                } else {
                    bytes[i] = byte;
                }
                (e, bytes)
            }),
    ]
}

/// Sends `CASES` generated `(endpoint, body)` pairs through the real router: each answer
/// is a success (JSON, or a stream) or the OpenAI error shape, never a 5xx. Returns how
/// many got each status.
fn fuzz<S: Strategy>(
    strategy: S,
    request: impl Fn(S::Value) -> (usize, Vec<u8>),
) -> std::collections::BTreeMap<u16, u32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = app_with(dial_server::ServerConfig {
        max_tokens_limit: 2,
        default_max_tokens: 2,
        ..config()
    });
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    runner
        .run(&strategy, |value| {
            let (endpoint, bytes) = request(value);
            let answer = runtime.block_on(async {
                let request = axum::http::Request::post(ENDPOINTS[endpoint])
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(bytes.clone()))
                    .unwrap();
                send(&app, request).await
            });
            *statuses
                .borrow_mut()
                .entry(answer.status.as_u16())
                .or_default() += 1;
            prop_assert!(
                !answer.status.is_server_error(),
                "{} for {}",
                answer.text,
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            );
            if answer.status.is_success() {
                let sse = answer
                    .headers
                    .get("content-type")
                    .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
                if !sse {
                    prop_assert!(serde_json::from_str::<Value>(&answer.text).is_ok());
                }
            } else {
                answer.error();
            }
            Ok(())
        })
        .unwrap();
    let statuses = statuses.into_inner();
    let total: u32 = statuses.values().sum();
    assert_eq!(total, CASES);
    eprintln!("statuses: {statuses:?}");
    statuses
}

#[test]
fn no_body_gets_a_5xx_or_another_shape() {
    let statuses = fuzz(body(), |request| request);
    // The generator reaches both sides: some bodies succeed, most fail.
    assert!(
        statuses.get(&200).copied().unwrap_or(0) > 100,
        "{statuses:?}"
    );
    assert!(
        statuses.get(&400).copied().unwrap_or(0) > 1000,
        "{statuses:?}"
    );
}

const KEYWORDS: [&str; 26] = [
    "type",
    "properties",
    "items",
    "enum",
    "const",
    "minLength",
    "maxLength",
    "pattern",
    "anyOf",
    "allOf",
    "oneOf",
    "required",
    "additionalProperties",
    "minimum",
    "maximum",
    "multipleOf",
    "format",
    "$ref",
    "not",
    "uniqueItems",
    "prefixItems",
    "minItems",
    "maxItems",
    "$defs",
    "exclusiveMinimum",
    "patternProperties",
];

/// Schema-like JSON: objects of real keywords with plausible or wrong values.
fn schema() -> impl Strategy<Value = Value> {
    let small = prop_oneof![
        prop::sample::select(vec![
            "string", "integer", "number", "object", "array", "boolean", "null", "strin"
        ])
        .prop_map(|t| json!({"type": t})),
        Just(json!(true)),
        Just(json!(false)),
        Just(json!({})),
        "[a-z0-9.*+?()\\[\\]{}|^$\\\\-]{0,12}"
            .prop_map(|p| json!({"type": "string", "pattern": p})),
        (-5i64..50).prop_map(|n| json!({"type": "string", "maxLength": n})),
        Just(json!({"$ref": "#/$defs/missing"})),
        Just(json!({"format": "date-time"})),
        Just(json!({"format": "no-such-format"})),
        leaf(),
    ];
    small.prop_recursive(3, 24, 4, |inner| {
        prop::collection::vec(
            (
                prop::sample::select(KEYWORDS.to_vec()),
                prop_oneof![
                    inner.clone(),
                    prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                    prop::collection::btree_map("[a-z]{1,4}", inner.clone(), 0..3)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                    leaf(),
                ],
            ),
            1..4,
        )
        .prop_map(|pairs| {
            let mut m = Map::new();
            for (k, v) in pairs {
                m.insert(k.to_string(), v);
            }
            Value::Object(m)
        })
    })
}

/// A constraint field in any of the shapes dial reads, with fuzzed contents.
fn constraint_field() -> impl Strategy<Value = (&'static str, Value)> {
    let text = prop_oneof!["\\PC{0,24}", "[a-z0-9.*+?()\\[\\]{}|^$\\\\-]{0,16}"];
    prop_oneof![
        (schema(), any::<Option<bool>>()).prop_map(|(s, strict)| (
            "response_format",
            json!({"type": "json_schema", "json_schema": {"name": "f", "schema": s, "strict": strict}})
        )),
        schema().prop_map(|s| ("structured_outputs", json!({"json": s}))),
        text.clone().prop_map(|r| ("structured_outputs", json!({"regex": r}))),
        prop::collection::vec(text.clone(), 0..4)
            .prop_map(|c| ("structured_outputs", json!({"choice": c}))),
        text.clone().prop_map(|g| ("structured_outputs", json!({"grammar": format!("start: {g}")}))),
        any_json().prop_map(|v| ("structured_outputs", v)),
        any_json().prop_map(|v| ("response_format", v)),
        (schema(), any_json()).prop_map(|(s, choice)| (
            "tools",
            json!([{"type": "function", "function": {"name": "f", "parameters": s}, "tool_choice": choice}])
        )),
        any_json().prop_map(|v| ("tool_choice", v)),
        schema().prop_map(|s| ("text", json!({"format": {"type": "json_schema", "name": "f", "schema": s}}))),
    ]
}

#[test]
fn no_constraint_gets_a_5xx() {
    let statuses = fuzz(
        (0..ENDPOINTS.len(), constraint_field()),
        |(endpoint, (name, value))| {
            let mut body = valid(ENDPOINTS[endpoint]);
            body[name] = value;
            (endpoint, body.to_string().into_bytes())
        },
    );
    assert!(
        statuses.get(&200).copied().unwrap_or(0) > 500,
        "{statuses:?}"
    );
    assert!(
        statuses.get(&400).copied().unwrap_or(0) > 1000,
        "{statuses:?}"
    );
}
