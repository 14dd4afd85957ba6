//! Structured outputs through the real router on a tiny random model: whatever the
//! weights say, the answer has the requested shape, in every API shape dial accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

fn chat(extra: Value) -> Value {
    let mut body = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "hello the cat"}],
        "temperature": 1.3,
        "max_tokens": 64,
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 5},
            "age": {"type": "integer", "minimum": 0, "maximum": 99}
        },
        "required": ["name", "age"],
        "additionalProperties": false
    })
}

fn check_person(text: &str) {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert!(v["name"].as_str().unwrap().chars().count() <= 5, "{text}");
    assert!((0..=99).contains(&v["age"].as_i64().unwrap()), "{text}");
    assert_eq!(v.as_object().unwrap().len(), 2, "{text}");
}

fn weather_tool() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 8}},
                "required": ["city"],
                "additionalProperties": false
            },
            "strict": true
        }
    })
}

#[tokio::test]
async fn chat_json_schema_answers_follow_the_schema() {
    let app = app();
    for seed in 0..4 {
        let body = chat(json!({
            "seed": seed,
            "response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": person_schema()}},
        }));
        let a = post_json(&app, "/v1/chat/completions", &body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let v = a.json();
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "stop", "{v}");
        assert!(choice["message"]["refusal"].is_null());
        check_person(choice["message"]["content"].as_str().unwrap());
        let size = person_schema().to_string().len();
        assert_eq!(
            v["dial"]["constraint"],
            format!("json schema ({size} bytes, strict)")
        );
        // The same seed gives the same bits.
        assert_eq!(
            post_json(&app, "/v1/chat/completions", &body).await.json()["choices"],
            v["choices"]
        );
    }
}

#[tokio::test]
async fn chat_streams_a_json_answer_that_concatenates_to_a_valid_document() {
    let app = app();
    let body = chat(json!({
        "seed": 5,
        "stream": true,
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": person_schema()}},
    }));
    let a = post_json(&app, "/v1/chat/completions", &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let mut text = String::new();
    let mut finish = None;
    for (_, data) in a.events() {
        if data == "[DONE]" {
            break;
        }
        let v: Value = serde_json::from_str(&data).unwrap();
        let c = &v["choices"][0];
        text.push_str(c["delta"]["content"].as_str().unwrap_or(""));
        if let Some(f) = c["finish_reason"].as_str() {
            finish = Some(f.to_string());
        }
    }
    assert_eq!(finish.as_deref(), Some("stop"));
    check_person(&text);
}

#[tokio::test]
async fn required_tools_give_tool_calls_with_valid_arguments() {
    let app = app();
    for (seed, stream) in [(1, false), (2, false), (3, true)] {
        let body = chat(json!({
            "seed": seed,
            "stream": stream,
            "tools": [weather_tool()],
            "tool_choice": "required",
            "parallel_tool_calls": false,
        }));
        let a = post_json(&app, "/v1/chat/completions", &body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let (calls, finish) = if stream {
            let mut calls = Vec::new();
            let mut finish = None;
            for (_, data) in a.events() {
                if data == "[DONE]" {
                    break;
                }
                let v: Value = serde_json::from_str(&data).unwrap();
                let c = &v["choices"][0];
                if let Some(tc) = c["delta"]["tool_calls"].as_array() {
                    calls.extend(tc.iter().cloned());
                }
                assert!(
                    c["delta"]["content"].as_str().is_none_or(str::is_empty),
                    "{v}"
                );
                if let Some(f) = c["finish_reason"].as_str() {
                    finish = Some(f.to_string());
                }
            }
            (calls, finish)
        } else {
            let v = a.json();
            let m = &v["choices"][0]["message"];
            assert!(m["content"].is_null(), "{v}");
            (
                m["tool_calls"].as_array().unwrap().clone(),
                v["choices"][0]["finish_reason"]
                    .as_str()
                    .map(str::to_string),
            )
        };
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        assert_eq!(calls.len(), 1, "parallel_tool_calls: false: {calls:?}");
        let call = &calls[0];
        assert!(call["id"].as_str().unwrap().starts_with("call_"));
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert!(
            args["city"].as_str().unwrap().chars().count() <= 8,
            "{args}"
        );
        assert_eq!(args.as_object().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn auto_tools_give_text_or_calls() {
    let app = app();
    for seed in 0..6 {
        let body = chat(json!({"seed": seed, "tools": [weather_tool()], "max_tokens": 24}));
        let v = post_json(&app, "/v1/chat/completions", &body).await.json();
        let choice = &v["choices"][0];
        match choice["finish_reason"].as_str().unwrap() {
            "tool_calls" => assert!(
                choice["message"]["tool_calls"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty())
            ),
            _ => {
                let text = choice["message"]["content"].as_str().unwrap();
                assert!(
                    !text.starts_with('[') && !text.starts_with(char::is_whitespace),
                    "{text:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn responses_take_text_format_and_function_tools() {
    let app = app();
    let body = json!({
        "model": MODEL, "input": "hello", "seed": 4, "temperature": 1.3, "max_output_tokens": 64,
        "text": {"format": {"type": "json_schema", "name": "person", "strict": true, "schema": person_schema()}},
    });
    let a = post_json(&app, "/v1/responses", &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let v = a.json();
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["text"]["format"]["type"], "json_schema");
    assert_eq!(v["text"]["format"]["name"], "person");
    check_person(v["output"][0]["content"][0]["text"].as_str().unwrap());

    let tool = json!({
        "type": "function", "name": "get_weather", "strict": true,
        "parameters": weather_tool()["function"]["parameters"].clone(),
    });
    for stream in [false, true] {
        let body = json!({
            "model": MODEL, "input": "weather?", "seed": 6, "max_output_tokens": 64,
            "tools": [tool], "tool_choice": {"type": "function", "name": "get_weather"}, "stream": stream,
        });
        let a = post_json(&app, "/v1/responses", &body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let v = if stream {
            let events = a.events();
            let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
            assert!(
                names.contains(&"response.function_call_arguments.done"),
                "{names:?}"
            );
            assert!(!names.contains(&"response.output_text.delta"), "{names:?}");
            let (_, last) = events.last().unwrap();
            serde_json::from_str::<Value>(last).unwrap()["response"].clone()
        } else {
            a.json()
        };
        let items = v["output"].as_array().unwrap();
        assert!(
            !items.is_empty() && items.iter().all(|i| i["type"] == "function_call"),
            "{v}"
        );
        assert_eq!(items[0]["name"], "get_weather");
        assert!(items[0]["call_id"].as_str().unwrap().starts_with("call_"));
        serde_json::from_str::<Value>(items[0]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(
            v["tool_choice"],
            json!({"type": "function", "name": "get_weather"})
        );
    }
}

#[tokio::test]
async fn structured_outputs_work_on_completions_and_explain() {
    let app = app();
    for seed in 0..4 {
        let body = json!({
            "model": MODEL, "prompt": "the cat", "seed": seed, "temperature": 1.5, "max_tokens": 16,
            "structured_outputs": {"choice": ["world", "hello there"]},
        });
        let v = post_json(&app, "/v1/completions", &body).await.json();
        let text = v["choices"][0]["text"].as_str().unwrap();
        assert!(text == "world" || text == "hello there", "{text:?}");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }
    let body = json!({
        "model": MODEL, "prompt": "the cat", "seed": 2, "max_tokens": 16,
        "structured_outputs": {"regex": "[0-9]{2}:[0-9]{2}"},
    });
    let v = post_json(&app, "/v1/completions", &body).await.json();
    let text = v["choices"][0]["text"].as_str().unwrap();
    assert!(text.len() == 5 && text.as_bytes()[2] == b':', "{text:?}");

    let body = json!({
        "model": MODEL, "prompt": "the cat", "top_k": 2,
        "structured_outputs": {"choice": ["world", "mat"]},
    });
    let a = post_json(&app, "/v1/explain", &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let v = a.json();
    assert_eq!(v["chain"][0]["stage"], "grammar");
    assert_eq!(v["chain"][1]["stage"], "top_k");
    assert_eq!(v["trace"][0]["stage"], "grammar");
    assert!(v["nucleus_size"].as_u64().unwrap() <= 2);
    let cut = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cut"]["stage"] == "grammar")
        .unwrap();
    assert!(
        cut["cut"]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot begin"),
        "{cut}"
    );
}

#[tokio::test]
async fn min_tokens_and_ignore_eos_yield_to_a_complete_value_and_say_so() {
    let app = app();
    for knob in [json!({"min_tokens": 12}), json!({"ignore_eos": true})] {
        let mut body = json!({
            "model": MODEL, "prompt": "the cat", "seed": 1, "max_tokens": 16,
            "structured_outputs": {"choice": ["world"]},
        });
        body.as_object_mut()
            .unwrap()
            .extend(knob.as_object().unwrap().clone());
        let a = post_json(&app, "/v1/completions", &body).await;
        assert_eq!(a.status, StatusCode::OK, "{knob}: {}", a.text);
        let v = a.json();
        assert_eq!(v["choices"][0]["text"], "world", "{knob}: {v}");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            v["dial"]["yielded"],
            json!([{"knob": "end_of_generation", "tokens": 1}]),
            "{knob}: {v}"
        );
    }
    let body = json!({"model": MODEL, "prompt": "the cat", "max_tokens": 4, "min_tokens": 5});
    let a = post_json(&app, "/v1/completions", &body).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.error()["param"], "min_tokens");
}

#[tokio::test]
async fn max_tokens_first_returns_the_partial_text_with_length() {
    let app = app();
    let body = chat(json!({
        "seed": 1, "max_tokens": 3,
        "response_format": {"type": "json_schema", "json_schema": {"name": "list", "schema": {"type": "array", "items": {"type": "integer"}, "minItems": 40}}},
    }));
    let a = post_json(&app, "/v1/chat/completions", &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let v = a.json();
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with('[')
    );
}

#[tokio::test]
async fn lenient_schemas_report_what_they_relaxed() {
    let app = app();
    let body = chat(json!({
        "seed": 1, "max_tokens": 8,
        "response_format": {"type": "json_schema", "json_schema": {"name": "set", "schema": {"type": "array", "items": {"type": "integer"}, "uniqueItems": true}}},
    }));
    let a = post_json(&app, "/v1/chat/completions", &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.headers["dial-relaxed-keywords"], "uniqueItems at #");
    assert_eq!(
        a.json()["dial"]["relaxed"],
        json!([{"keyword": "uniqueItems", "pointer": ""}])
    );
}

/// `(body, param, code)`: each is a 400 naming the parameter.
#[tokio::test]
async fn every_bad_constraint_is_a_400_that_names_it() {
    let app = app();
    let format = |schema: Value, strict: bool| json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": strict, "schema": schema}}});
    let cases = [
        (
            format(
                json!({"type": "object", "properties": {"a": {"type": "strin"}}}),
                false,
            ),
            "response_format.json_schema",
            "invalid_schema",
            "#/properties/a/type",
        ),
        (
            format(
                json!({"type": "object", "properties": {"a": {"not": {}}}}),
                true,
            ),
            "response_format.json_schema",
            "unsupported_schema_keyword",
            "`not`",
        ),
        (
            format(json!({"type": "string", "pattern": "(unclosed"}), false),
            "response_format.json_schema",
            "invalid_schema",
            "#/pattern",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "bad name!", "schema": {}}}}),
            "response_format.json_schema.name",
            "invalid_value",
            "name",
        ),
        (
            json!({"response_format": {"type": "xml"}}),
            "response_format.type",
            "invalid_type",
            "xml",
        ),
        (
            json!({"response_format": {"type": "json_object"}, "structured_outputs": {"regex": "a"}}),
            "structured_outputs.regex",
            "conflicting_parameters",
            "both",
        ),
        (
            json!({"structured_outputs": {"regex": "a", "choice": ["b"]}}),
            "structured_outputs",
            "conflicting_parameters",
            "one constraint",
        ),
        (
            json!({"structured_outputs": {}}),
            "structured_outputs",
            "invalid_value",
            "needs one",
        ),
        (
            json!({"structured_outputs": {"json_object": false}}),
            "structured_outputs.json_object",
            "invalid_value",
            "true",
        ),
        (
            json!({"structured_outputs": {"regex": "a", "disable_fallback": true}}),
            "structured_outputs.disable_fallback",
            "invalid_type",
            "disable_fallback",
        ),
        (
            json!({"structured_outputs": {"regex": "[^\\s\\S]"}}),
            "structured_outputs.regex",
            "constraint_matches_nothing",
            "matches nothing",
        ),
        (
            json!({"structured_outputs": {"regex": "(a"}}),
            "structured_outputs.regex",
            "invalid_value",
            "regex",
        ),
        (
            json!({"structured_outputs": {"grammar": "start: missing_rule"}}),
            "structured_outputs.grammar",
            "invalid_value",
            "grammar",
        ),
        (
            json!({"structured_outputs": {"choice": []}}),
            "structured_outputs.choice",
            "invalid_value",
            "empty",
        ),
        (
            json!({"structured_outputs": {"json": "{not json"}}),
            "structured_outputs.json",
            "invalid_value",
            "JSON",
        ),
        (
            json!({"structured_outputs": {"regex": "a".repeat(300_000)}}),
            "structured_outputs.regex",
            "constraint_too_large",
            "limit",
        ),
        (
            json!({"tools": [weather_tool()], "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            "tool_choice",
            "invalid_value",
            "nope",
        ),
        (
            json!({"tools": [{"type": "web_search"}]}),
            "tools[0].type",
            "unsupported_value",
            "`web_search`",
        ),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f", "strictly": true}}]}),
            "tools[0].function.strictly",
            "invalid_type",
            "strictly",
        ),
        (
            json!({"tool_choice": "required"}),
            "tool_choice",
            "invalid_value",
            "needs `tools`",
        ),
        (
            json!({"tools": [weather_tool(), weather_tool()]}),
            "tools[1].name",
            "invalid_value",
            "two tools",
        ),
        (
            json!({"tools": [weather_tool()], "response_format": {"type": "json_object"}}),
            "response_format",
            "conflicting_parameters",
            "both",
        ),
    ];
    let mut wrong = Vec::new();
    for (extra, param, code, needle) in cases {
        let a = post_json(&app, "/v1/chat/completions", &chat(extra.clone())).await;
        let ok = a.status == StatusCode::BAD_REQUEST && {
            let e = a.error();
            e["param"] == param
                && e["code"] == code
                && e["message"].as_str().unwrap().contains(needle)
        };
        if !ok {
            wrong.push(format!("{extra}: {} {}", a.status, a.text));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn the_knobs_document_lists_the_constraint_kinds() {
    let v = get(&app(), "/v1/knobs").await.json();
    let c = &v["constraints"];
    assert_eq!(c["field"], "structured_outputs");
    assert_eq!(c["stage"], "grammar");
    let names: Vec<&str> = c["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["json", "regex", "choice", "grammar", "json_object"]);
    // Each example compiles: the playground starts from it.
    let app = app();
    for kind in c["kinds"].as_array().unwrap() {
        let example = kind["example"].as_str().unwrap();
        let value = match kind["name"].as_str().unwrap() {
            "json" => serde_json::from_str(example).unwrap(),
            "choice" => json!(example.lines().collect::<Vec<_>>()),
            "json_object" => json!(true),
            _ => json!(example),
        };
        let body = json!({"model": MODEL, "prompt": "the cat", "max_tokens": 4, "structured_outputs": {kind["name"].as_str().unwrap(): value}});
        let a = post_json(&app, "/v1/completions", &body).await;
        assert_eq!(a.status, StatusCode::OK, "{kind}: {}", a.text);
    }
}

/// A template with Hermes' tool syntax, as Qwen 2.5's and Hermes' define it.
const HERMES: &str = "{%- if tools %}<|im_start|>system\n# Tools\n<tools>\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}</tools>\nFor each call, return <tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n{% endif %}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

#[tokio::test]
async fn a_template_with_its_own_tool_syntax_gets_calls_in_it() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hermes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dial-tiny-hermes.gguf");
    dial_model::tiny::TinyGemma3 {
        chat_template: Some(HERMES.into()),
        ..Default::default()
    }
    .write(&path)
    .unwrap();
    let model = dial_model::Model::load(&path, |_, _| {}).unwrap();
    let config = dial_server::ServerConfig {
        max_tokens_limit: 256,
        ..config()
    };
    let app = dial_server::app(dial_server::AppState::new(model, config));
    for (seed, stream) in [(1, false), (2, false), (4, true)] {
        let body = json!({
            "model": "dial-tiny-hermes", "messages": [{"role": "user", "content": "weather?"}],
            "seed": seed, "temperature": 1.3, "max_tokens": 200, "stream": stream,
            "tools": [weather_tool()], "tool_choice": "required", "parallel_tool_calls": false,
        });
        let a = post_json(&app, "/v1/chat/completions", &body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let calls: Vec<Value> = if stream {
            a.events()
                .iter()
                .filter(|(_, d)| d != "[DONE]")
                .filter_map(|(_, d)| {
                    serde_json::from_str::<Value>(d).unwrap()["choices"][0]["delta"]["tool_calls"]
                        .as_array()
                        .cloned()
                })
                .flatten()
                .collect()
        } else {
            let v = a.json();
            assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
            v["choices"][0]["message"]["tool_calls"]
                .as_array()
                .unwrap()
                .clone()
        };
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0]["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
        assert!(args["city"].is_string(), "{args}");
    }
    // The template renders the tools: the prompt grows by their description.
    let prompt_tokens = |tools: bool| {
        let mut body = json!({"model": "dial-tiny-hermes", "messages": [{"role": "user", "content": "weather?"}], "max_tokens": 1});
        if tools {
            body["tools"] = json!([weather_tool()]);
            body["tool_choice"] = json!("none");
        }
        body
    };
    let without = post_json(&app, "/v1/chat/completions", &prompt_tokens(false))
        .await
        .json();
    let with = post_json(&app, "/v1/chat/completions", &prompt_tokens(true))
        .await
        .json();
    assert_eq!(
        without["usage"]["prompt_tokens"], with["usage"]["prompt_tokens"],
        "tool_choice none shows no tools"
    );
    let auto = {
        let mut b = prompt_tokens(true);
        b["tool_choice"] = json!("auto");
        post_json(&app, "/v1/chat/completions", &b).await.json()
    };
    assert!(
        auto["usage"]["prompt_tokens"].as_u64().unwrap()
            > without["usage"]["prompt_tokens"].as_u64().unwrap() + 100,
        "{auto}"
    );
}

#[tokio::test]
async fn earlier_tool_calls_and_their_results_go_back_to_the_model() {
    let app = app();
    let call = json!({"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}});
    let turn = |extra: Value| {
        let mut body = json!({
            "model": MODEL, "max_tokens": 1, "tools": [weather_tool()],
            "messages": [
                {"role": "user", "content": "weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 degrees"},
            ],
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let a = post_json(
        &app,
        "/v1/chat/completions",
        &turn(json!({"tool_choice": "none"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let first = post_json(&app, "/v1/chat/completions", &json!({
        "model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "weather in Paris?"}],
    }))
    .await
    .json();
    // The call and its result are in the prompt.
    assert!(
        a.json()["usage"]["prompt_tokens"].as_u64().unwrap()
            > first["usage"]["prompt_tokens"].as_u64().unwrap() + 20,
        "{}",
        a.text
    );
    let mut bad = turn(json!({}));
    bad["messages"][2]
        .as_object_mut()
        .unwrap()
        .remove("tool_call_id");
    let e = post_json(&app, "/v1/chat/completions", &bad).await;
    assert_eq!(e.status, StatusCode::BAD_REQUEST);
    assert_eq!(e.error()["param"], "messages[2].tool_call_id");
    let mut bad = turn(json!({}));
    bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = json!("{not json");
    let e = post_json(&app, "/v1/chat/completions", &bad).await;
    assert_eq!(
        e.error()["param"],
        "messages[1].tool_calls[0].function.arguments"
    );
    let mut bad = turn(json!({}));
    bad["messages"][0]["content"] = Value::Null;
    let e = post_json(&app, "/v1/chat/completions", &bad).await;
    assert_eq!(e.error()["param"], "messages[0].content");
}

#[tokio::test]
async fn responses_take_an_earlier_turns_function_calls_and_outputs() {
    let app = app();
    let body = |input: Value| json!({"model": MODEL, "input": input, "max_output_tokens": 1});
    let alone = post_json(
        &app,
        "/v1/responses",
        &body(json!([{"role": "user", "content": "weather in Paris?"}])),
    )
    .await
    .json();
    let items = json!([
        {"role": "user", "content": "weather in Paris?"},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21 degrees"},
    ]);
    let a = post_json(&app, "/v1/responses", &body(items.clone())).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(
        a.json()["usage"]["input_tokens"].as_u64().unwrap()
            > alone["usage"]["input_tokens"].as_u64().unwrap() + 20,
        "{}",
        a.text
    );
    let mut bad = items;
    bad[2].as_object_mut().unwrap().remove("call_id");
    let e = post_json(&app, "/v1/responses", &body(bad)).await;
    assert_eq!(e.status, StatusCode::BAD_REQUEST, "{}", e.text);
    assert_eq!(e.error()["param"], "input[2]");
}
