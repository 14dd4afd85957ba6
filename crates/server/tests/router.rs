//! Every endpoint and every error path, through the real router with `oneshot`, on a tiny
//! real model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{Value, json};

fn chat(extra: Value) -> Value {
    let mut body =
        json!({"model": MODEL, "messages": [{"role": "user", "content": "hello the cat"}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn models_health_and_openapi() {
    let app = app();
    let models = get(&app, "/v1/models").await.json();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], MODEL);
    assert_eq!(get(&app, &format!("/v1/models/{MODEL}")).await.status, 200);
    let missing = get(&app, "/v1/models/gpt-4o").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error()["code"], "model_not_found");
    assert_eq!(get(&app, "/health").await.json()["status"], "ok");

    let doc = get(&app, "/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = &doc["components"]["schemas"];
    let temperature = &schemas["ChatRequest"]["properties"]["temperature"];
    assert_eq!(temperature["minimum"], 0.0);
    assert_eq!(temperature["maximum"], 2.0);
    assert_eq!(
        schemas["ResponseRequest"]["properties"]["top_p"]["maximum"],
        1.0
    );
    assert!(schemas["CompletionRequest"]["properties"]["dry_multiplier"].is_object());
    // The voice's knobs come from their own files.
    let voice_settings = &schemas["TextToSpeechRequest"]["properties"]["voice_settings"];
    assert_eq!(voice_settings["properties"]["stability"]["maximum"], 1.0);
    assert_eq!(voice_settings["properties"]["speed"]["minimum"], 0.7);
    assert!(doc["paths"]["/v1/text-to-speech/{voice_id}/stream"]["post"].is_object());
    // Every knob field is in every generation request's schema.
    for field in dial_sampling::SamplingParams::fields() {
        assert!(
            schemas["ChatRequest"]["properties"][field.name].is_object(),
            "{}",
            field.name
        );
    }
    // Every reference resolves.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(schemas[name].is_object(), "dangling $ref {name}");
    }
    for path in [
        "/v1/responses",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/explain",
    ] {
        assert!(doc["paths"][path]["post"].is_object(), "{path}");
    }
}

#[tokio::test]
async fn responses_have_the_openai_shape_and_echo_the_knobs() {
    let app = app();
    let r = post_json(
        &app,
        "/v1/responses",
        &json!({"model": MODEL, "input": "the cat", "temperature": 0.7, "top_p": 0.9,
                "max_output_tokens": 5, "seed": 1, "metadata": {"k": "v"}, "instructions": "be brief"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(v["object"], "response");
    assert_eq!(v["temperature"], 0.7);
    assert_eq!(v["top_p"], 0.9);
    assert_eq!(v["metadata"]["k"], "v");
    assert_eq!(v["instructions"], "be brief");
    assert_eq!(v["parallel_tool_calls"], false);
    assert_eq!(v["tool_choice"], "none");
    assert_eq!(v["tools"], json!([]));
    assert_eq!(v["text"]["format"]["type"], "text");
    let status = v["status"].as_str().unwrap();
    assert!(status == "completed" || status == "incomplete");
    if status == "incomplete" {
        assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
    }
    let item = &v["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["annotations"], json!([]));
    let u = &v["usage"];
    assert_eq!(u["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 0);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["input_tokens"].as_u64().unwrap() + u["output_tokens"].as_u64().unwrap()
    );
    assert!(u["output_tokens"].as_u64().unwrap() <= 5);
    // The same seed, the same text.
    let again = post_json(
        &app,
        "/v1/responses",
        &json!({"model": MODEL, "input": "the cat", "temperature": 0.7, "top_p": 0.9,
                "max_output_tokens": 5, "seed": 1, "instructions": "be brief"}),
    )
    .await
    .json();
    assert_eq!(
        again["output"][0]["content"][0]["text"],
        item["content"][0]["text"]
    );
}

#[tokio::test]
async fn responses_stream_the_named_events_in_order() {
    let app = app();
    let r = post_json(
        &app,
        "/v1/responses",
        &json!({"model": MODEL, "input": "hello", "stream": true, "max_output_tokens": 4,
                "include": ["message.output_text.logprobs"], "top_logprobs": 2, "seed": 3}),
    )
    .await;
    assert_eq!(r.status, 200);
    let events = r.events();
    let names: Vec<String> = events.iter().map(|(n, _)| n.clone().unwrap()).collect();
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    let deltas = names
        .iter()
        .filter(|n| *n == "response.output_text.delta")
        .count();
    assert!((1..=4).contains(&deltas));
    expected.extend(std::iter::repeat_n("response.output_text.delta", deltas));
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names, expected);
    let mut text = String::new();
    for (i, (name, data)) in events.iter().enumerate() {
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"], name.as_deref().unwrap());
        assert_eq!(v["sequence_number"], i as u64);
        if v["type"] == "response.output_text.delta" {
            text.push_str(v["delta"].as_str().unwrap());
            assert_eq!(
                v["logprobs"][0]["top_logprobs"].as_array().unwrap().len(),
                2
            );
        }
        if v["type"] == "response.content_part.added" {
            assert_eq!(v["part"]["text"], "");
        }
    }
    let (_, last) = events.last().unwrap();
    let done: Value = serde_json::from_str(last).unwrap();
    assert_eq!(done["response"]["output"][0]["content"][0]["text"], text);
    // Without logprobs, deltas carry an empty list.
    let r = post_json(
        &app,
        "/v1/responses",
        &json!({"model": MODEL, "input": "hello", "stream": true, "max_output_tokens": 2}),
    )
    .await;
    let delta = r
        .events()
        .into_iter()
        .find(|(n, _)| n.as_deref() == Some("response.output_text.delta"))
        .unwrap();
    let v: Value = serde_json::from_str(&delta.1).unwrap();
    assert_eq!(v["logprobs"], json!([]));
}

#[tokio::test]
async fn chat_completions_answer_stream_and_reproduce() {
    let app = app();
    let a = post_json(
        &app,
        "/v1/chat/completions",
        &chat(json!({"seed": 5, "temperature": 1.0, "max_tokens": 6})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = a.json();
    assert_eq!(a["object"], "chat.completion");
    assert!(a["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(a["choices"][0]["message"]["role"], "assistant");
    let finish = a["choices"][0]["finish_reason"].as_str().unwrap();
    assert!(finish == "stop" || finish == "length");
    let b = post_json(
        &app,
        "/v1/chat/completions",
        &chat(json!({"seed": 5, "temperature": 1.0, "max_tokens": 6})),
    )
    .await
    .json();
    assert_eq!(a["choices"][0]["message"], b["choices"][0]["message"]);
    assert_eq!(a["dial"]["seed"], 5);

    // n > 1 at temperature 0: n identical choices.
    let n = post_json(
        &app,
        "/v1/chat/completions",
        &chat(json!({"n": 3, "temperature": 0, "max_tokens": 4})),
    )
    .await
    .json();
    let choices = n["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    assert!(
        choices
            .iter()
            .all(|c| c["message"] == choices[0]["message"])
    );

    // Streaming: a role chunk, content chunks, a finish chunk, usage only when asked.
    let s = post_json(
        &app,
        "/v1/chat/completions",
        &chat(json!({"stream": true, "max_tokens": 3, "seed": 5, "temperature": 1.0})),
    )
    .await;
    let events = s.events();
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks.last().unwrap()["choices"][0]["finish_reason"].is_string());
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let whole = post_json(
        &app,
        "/v1/chat/completions",
        &chat(json!({"max_tokens": 3, "seed": 5, "temperature": 1.0})),
    )
    .await
    .json();
    assert_eq!(
        streamed,
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );

    let s = post_json(
        &app,
        "/v1/chat/completions",
        &chat(json!({"stream": true, "max_tokens": 3, "stream_options": {"include_usage": true}})),
    )
    .await;
    let events = s.events();
    let usage: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() <= 3);
    assert!(usage["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}

/// The model's own log-softmax after the chat prompt, best first.
fn raw_top(prompt_ids: &[u32], n: usize) -> Vec<(u32, f64)> {
    let model = model();
    let mut session = model.session().unwrap();
    let logits = session.next_logits(prompt_ids).unwrap();
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    let mut all: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l as f64 - max - z.ln()))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

#[tokio::test]
async fn logprobs_are_raw_by_default_and_processed_on_request() {
    let app = app();
    // The plain template's rendering of `chat()`'s message.
    let model = model();
    let prompt = model
        .tokenizer()
        .encode("User: hello the cat\nAssistant:", true);
    let mut want: Vec<(Vec<u8>, f64)> = raw_top(&prompt, 5)
        .into_iter()
        .map(|(id, lp)| (model.tokenizer().token_bytes(id), lp))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    for knobs in [json!({"temperature": 0}), json!({"top_p": 0.01, "seed": 1})] {
        let mut extra = json!({"max_tokens": 1, "logprobs": true, "top_logprobs": 5});
        extra
            .as_object_mut()
            .unwrap()
            .extend(knobs.as_object().unwrap().clone());
        let v = post_json(&app, "/v1/chat/completions", &chat(extra))
            .await
            .json();
        let token = &v["choices"][0]["logprobs"]["content"][0];
        // The real top five, not the first ids, and not cut by top_p.
        let mut got: Vec<(Vec<u8>, f64)> = token["top_logprobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let bytes = t["bytes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_u64().unwrap() as u8)
                    .collect();
                (bytes, t["logprob"].as_f64().unwrap())
            })
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got.len(), 5, "{knobs}: {v}");
        for ((gb, gl), (wb, wl)) in got.iter().zip(&want) {
            assert_eq!(gb, wb, "{knobs}");
            assert!((gl - wl).abs() < 1e-4, "{knobs}: {gl} vs {wl}");
        }
        // Both settings keep only the argmax: it is drawn, with its raw log-probability.
        let best = raw_top(&prompt, 1)[0].1;
        assert!(
            (token["logprob"].as_f64().unwrap() - best).abs() < 1e-4,
            "{knobs}: {token}"
        );
    }
    // Processed: top_p 0.01 keeps one token, drawn with probability 1.
    let v = post_json(
        &app,
        "/v1/chat/completions",
        &chat(
            json!({"max_tokens": 1, "logprobs": true, "top_logprobs": 5, "top_p": 0.01,
                     "dial": {"logprobs": "processed"}}),
        ),
    )
    .await
    .json();
    let token = &v["choices"][0]["logprobs"]["content"][0];
    assert_eq!(token["logprob"].as_f64().unwrap(), 0.0);
    assert_eq!(token["top_logprobs"].as_array().unwrap().len(), 1);
    // The legacy shape: one map of alternatives per token.
    let v = post_json(
        &app,
        "/v1/completions",
        &json!({"model": MODEL, "prompt": "the cat", "max_tokens": 2, "logprobs": 2}),
    )
    .await
    .json();
    let lp = &v["choices"][0]["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().len(), 2);
    assert_eq!(lp["token_logprobs"].as_array().unwrap().len(), 2);
    assert_eq!(lp["text_offset"][0], 0);
}

#[tokio::test]
async fn completions_take_text_or_ids_and_stream() {
    let app = app();
    let v = post_json(
        &app,
        "/v1/completions",
        &json!({"model": MODEL, "prompt": "the cat", "max_tokens": 4, "seed": 2}),
    )
    .await;
    assert_eq!(v.status, 200, "{}", v.text);
    let v = v.json();
    assert_eq!(v["object"], "text_completion");
    assert!(v["choices"][0]["text"].is_string());
    let s = post_json(
        &app,
        "/v1/completions",
        &json!({"model": MODEL, "prompt": "the cat", "max_tokens": 4, "seed": 2, "stream": true}),
    )
    .await;
    let events = s.events();
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let text: String = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|c| c["choices"][0]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, v["choices"][0]["text"].as_str().unwrap());
    let bad = post_json(
        &app,
        "/v1/completions",
        &json!({"model": MODEL, "prompt": [2, 99999999]}),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error()["param"], "prompt");
    // echo puts the prompt first; with logprobs its first token has nulls.
    let echo = post_json(
        &app,
        "/v1/completions",
        &json!({"model": MODEL, "prompt": [2, 5, 6], "echo": true, "logprobs": 1, "max_tokens": 2, "prompt_logprobs": 0}),
    )
    .await;
    assert_eq!(echo.status, 200, "{}", echo.text);
    let choice = &echo.json()["choices"][0];
    let lp = &choice["logprobs"];
    assert_eq!(lp["token_logprobs"][0], Value::Null);
    assert!(lp["token_logprobs"][1].as_f64().unwrap() <= 0.0);
    assert_eq!(lp["tokens"].as_array().unwrap().len(), 3 + 2);
    let rows = choice["prompt_logprobs"].as_array().unwrap();
    assert_eq!((rows.len(), &rows[0]), (3, &Value::Null));
    assert_eq!(rows[1]["5"]["logprob"], lp["token_logprobs"][1]);
    let zero = post_json(
        &app,
        "/v1/completions",
        &json!({"model": MODEL, "prompt": "a", "max_tokens": 0}),
    )
    .await;
    assert_eq!(zero.error()["param"], "max_tokens");
}

#[tokio::test]
async fn explain_reports_the_chain_and_reuses_the_prefill() {
    let app = app();
    let a = post_json(
        &app,
        "/v1/explain",
        &json!({"prompt": "the cat sat", "temperature": 0.8, "top_p": 0.9, "top": 5}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.headers["x-dial-cache"], "miss");
    let report = a.json();
    let chain: Vec<&str> = report["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(chain, ["temperature", "top_p"]);
    assert!(report["rows"].as_array().unwrap().len() <= 6);
    assert!(
        report["entropy_bits_after"].as_f64().unwrap()
            <= report["entropy_bits_before"].as_f64().unwrap() + 1e-9
    );
    // The same prompt with other knobs: a cache hit, and the distribution changes.
    let b = post_json(
        &app,
        "/v1/explain",
        &json!({"prompt": "the cat sat", "min_p": 0.2, "top": 5}),
    )
    .await;
    assert_eq!(b.headers["x-dial-cache"], "hit");
    let b = b.json();
    assert_eq!(b["chain"][0]["stage"], "min_p");
    assert_eq!(b["entropy_bits_before"], report["entropy_bits_before"]);
    let dial = post_json(
        &app,
        "/v1/explain",
        &json!({"prompt": "a", "dial": {"trace": true}}),
    )
    .await;
    assert_eq!(dial.error()["param"], "dial");
    let none = post_json(&app, "/v1/explain", &json!({"top": 5})).await;
    assert_eq!(none.error()["param"], "prompt");
}

#[tokio::test]
async fn the_gguf_chat_template_is_rendered() {
    let template = "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}{{ '<start_of_turn>model\n' }}";
    let model = dial_model::Model::load(&model_path(Some(template)), |_, _| {}).unwrap();
    let expected = model.tokenizer().encode(
        "<start_of_turn>user\nhello<end_of_turn>\n<start_of_turn>model\n",
        true,
    );
    let app = dial_server::app(dial_server::AppState::new(model, config()));
    let v = post_json(&app, "/v1/chat/completions", &json!({"model": "dial-tiny-chat", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 1})).await;
    assert_eq!(v.status, 200, "{}", v.text);
    // BOS once, then the template's text.
    assert_eq!(v.json()["usage"]["prompt_tokens"], expected.len());
    assert_eq!(
        get(&app, "/v1/models").await.json()["data"][0]["dial"]["chat_template"],
        "gguf"
    );
}

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_parameter() {
    let app = app();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            chat(json!({"temperature": 3})),
            "temperature",
            "invalid_value",
        ),
        (
            chat(json!({"temperature": "hot"})),
            "temperature",
            "invalid_type",
        ),
        (chat(json!({"top_p": 1.5})), "top_p", "invalid_value"),
        (
            chat(json!({"presence_penalty": 2.5})),
            "presence_penalty",
            "invalid_value",
        ),
        (
            chat(json!({"frequency_penalty": -2.5})),
            "frequency_penalty",
            "invalid_value",
        ),
        (
            chat(json!({"logit_bias": {"5": 150}})),
            "logit_bias",
            "invalid_value",
        ),
        (
            chat(json!({"logit_bias": {"99999999": 1}})),
            "logit_bias",
            "invalid_value",
        ),
        (
            chat(json!({"logprobs": true, "top_logprobs": 21})),
            "top_logprobs",
            "invalid_value",
        ),
        (
            chat(json!({"top_logprobs": 3})),
            "top_logprobs",
            "invalid_value",
        ),
        (chat(json!({"n": 0})), "n", "invalid_value"),
        (chat(json!({"n": 17})), "n", "invalid_value"),
        (
            chat(json!({"max_tokens": 0})),
            "max_tokens",
            "invalid_value",
        ),
        (
            chat(json!({"max_tokens": 65})),
            "max_tokens",
            "invalid_value",
        ),
        (
            chat(json!({"max_completion_tokens": -1})),
            "max_completion_tokens",
            "invalid_type",
        ),
        (
            chat(json!({"stop": ["a", "b", "c", "d", "e"]})),
            "stop",
            "invalid_value",
        ),
        (chat(json!({"stop": [""]})), "stop[0]", "invalid_value"),
        (
            chat(json!({"repeat_penaltyy": 1.1})),
            "repeat_penaltyy",
            "unknown_parameter",
        ),
        (
            chat(json!({"dial": {"logprobs": "cooked"}})),
            "dial.logprobs",
            "invalid_type",
        ),
        (
            chat(json!({"order": "backwards"})),
            "order",
            "invalid_value",
        ),
        (
            json!({"model": MODEL, "messages": 5}),
            "messages",
            "invalid_type",
        ),
        (
            json!({"model": MODEL, "messages": []}),
            "messages",
            "empty_array",
        ),
        (
            json!({"messages": [{"role": "user", "content": "a"}]}),
            "",
            "missing_required_parameter",
        ),
        (
            chat(json!({"messages": [{"role": "wizard", "content": "a"}]})),
            "messages[0].role",
            "invalid_type",
        ),
    ];
    for (body, param, code) in cases {
        let r = post_json(&app, "/v1/chat/completions", &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        let e = r.error();
        assert_eq!(e["type"], "invalid_request_error", "{body}");
        if !param.is_empty() {
            assert_eq!(e["param"], param, "{body}: {e}");
        }
        assert_eq!(e["code"], code, "{body}: {e}");
    }
    let e = post_json(
        &app,
        "/v1/chat/completions",
        &chat(json!({"repeat_penaltyy": 1.1})),
    )
    .await
    .error();
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `repeat_penalty`?"),
        "{e}"
    );
    // The edges OpenAI accepts.
    for ok in [
        json!({"top_p": 0}),
        json!({"top_p": 1}),
        json!({"temperature": 0}),
        json!({"temperature": 2}),
        json!({"presence_penalty": -2, "frequency_penalty": 2}),
        json!({"logit_bias": {"5": -100}}),
        json!({"user": "u", "store": false, "service_tier": "auto"}),
    ] {
        let r = post_json(&app, "/v1/chat/completions", &chat(ok.clone())).await;
        assert_eq!(r.status, 200, "{ok}: {}", r.text);
    }
    // An unknown model is a 404.
    let r = post_json(
        &app,
        "/v1/chat/completions",
        &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "a"}]}),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["code"], "model_not_found");
    // A prompt over the context.
    let long = "a ".repeat(5000);
    let r = post_json(
        &app,
        "/v1/completions",
        &json!({"model": MODEL, "prompt": long}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["code"], "context_length_exceeded");
}

#[tokio::test]
async fn malformed_bodies_routes_methods_and_sizes_get_the_same_shape() {
    let app = app_with(dial_server::ServerConfig {
        body_limit: 4096,
        ..config()
    });
    let r = post(&app, "/v1/chat/completions", "{\"model\": ").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["code"], "invalid_json");
    let r = post(&app, "/v1/responses", "[1, 2]").await;
    assert_eq!(r.status, 400);
    r.error();
    let r = get(&app, "/v2/nothing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["code"], "unknown_route");
    let r = get(&app, "/v1/chat/completions").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.error()["code"], "method_not_allowed");
    let big = format!("{{\"model\": \"{}\"}}", "x".repeat(10_000));
    let r = post(&app, "/v1/chat/completions", &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error()["code"], "request_too_large");
    // A huge unknown name still gives a small error.
    let app = common::app();
    let name = "k".repeat(100_000);
    let r = post(&app, "/v1/chat/completions", &format!("{{\"{name}\": 1}}")).await;
    assert_eq!(r.status, 400);
    r.error();
}

#[tokio::test]
async fn the_api_key_guards_every_route_but_health() {
    let app = app_with(dial_server::ServerConfig {
        api_key: Some("sesame".into()),
        ..config()
    });
    assert_eq!(get(&app, "/health").await.status, 200);
    let r = get(&app, "/v1/models").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error()["code"], "invalid_api_key");
    let wrong = Request::get("/v1/models")
        .header("authorization", "Bearer nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, wrong).await.status, 401);
    let right = Request::get("/v1/models")
        .header("authorization", "Bearer sesame")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, right).await.status, 200);
    let r = get(&app, "/metrics").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The playground's own files hold no data and load without the key; its calls need it.
    for path in ["/", "/playground.js", "/playground.css"] {
        assert_eq!(get(&app, path).await.status, 200, "{path}");
    }
    assert_eq!(get(&app, "/v1/knobs").await.status, 401);
    // Each API answers in its own shape: ElevenLabs' routes with `detail`.
    let r = get(&app, "/v1/voices").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["detail"]["status"], "invalid_api_key");
}

#[tokio::test]
async fn openapi_lists_every_route_of_the_table_once() {
    let app = app();
    let doc = get(&app, "/openapi.json").await.json();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/responses", "post"),
        ("/v1/chat/completions", "post"),
        ("/v1/completions", "post"),
        ("/v1/explain", "post"),
        ("/v1/knobs", "get"),
        ("/v1/text-to-speech/{voice_id}", "post"),
        ("/v1/text-to-speech/{voice_id}/stream", "post"),
        ("/v1/text-to-speech/{voice_id}/with-timestamps", "post"),
        ("/v1/text-to-speech/{voice_id}/takes", "post"),
        ("/v1/voices", "get"),
        ("/v1/voices/{voice_id}", "get"),
        ("/v1/voices/settings/default", "get"),
        ("/v1/models", "get"),
        ("/v1/models/{id}", "get"),
        ("/", "get"),
        ("/health", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            paths[path][method]["summary"].is_string(),
            "{path} {method}"
        );
        // Every documented route answers something other than "no such route".
        let status = if method == "get" {
            get(&app, &path.replace("{voice_id}", "x").replace("{id}", "x"))
                .await
                .status
        } else {
            post(&app, &path.replace("{voice_id}", "x"), "{}")
                .await
                .status
        };
        assert_ne!(status, 405, "{path}");
    }
    assert_eq!(paths.len(), 18, "{:?}", paths.keys().collect::<Vec<_>>());
    assert!(
        paths["/v1/chat/completions"]["post"]["responses"]["200"]["content"]["text/event-stream"]
            .is_object()
    );
    assert!(paths["/v1/chat/completions"]["post"]["requestBody"].is_object());
}

#[tokio::test]
async fn the_playground_is_served_from_the_binary_with_no_outside_address() {
    let app = app();
    let page = get(&app, "/").await;
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert!(
        page.text
            .contains("<script type=\"module\" src=\"/playground.js\">")
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let script = get(&app, "/playground.js").await;
    assert_eq!(
        script.headers["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(script.text.contains("/v1/knobs"));
    let style = get(&app, "/playground.css").await;
    assert_eq!(style.headers["content-type"], "text/css; charset=utf-8");
    // No CDN: nothing the page loads names another host.
    for text in [&page.text, &script.text, &style.text] {
        assert!(!text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"));
    }
    assert_eq!(get(&app, "/playground.map").await.status, 404);
}

#[tokio::test]
async fn knobs_describe_every_field_once_with_its_slider() {
    let app = app();
    let doc = get(&app, "/v1/knobs").await.json();
    let listed: Vec<Value> = doc["knobs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|k| k["fields"].as_array().unwrap().clone())
        .collect();
    let expected: Vec<&str> = dial_sampling::SamplingParams::fields()
        .map(|f| f.name)
        .filter(|n| !["seed", "order", "min_keep"].contains(n))
        .collect();
    let names: Vec<&str> = listed.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, expected);
    assert_eq!(doc["chain"]["fields"][0]["name"], "min_keep");
    let p_less = doc["knobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "p_less")
        .unwrap();
    assert_eq!(
        p_less["phase"],
        json!({"truncate": {"first": 10, "last": 10}})
    );
    assert_eq!(p_less["conflicts"], json!(["p_less_norm"]));
    assert_eq!(p_less["needs_tokenizer"], false);
    let top_k = listed.iter().find(|f| f["name"] == "top_k").unwrap();
    assert_eq!(top_k["range"]["max"], 1_048_576.0);
    assert_eq!(
        top_k["slider"],
        json!({"min": 0.0, "max": 100.0, "step": 1.0})
    );
    let temperature = listed.iter().find(|f| f["name"] == "temperature").unwrap();
    assert_eq!(temperature["slider"]["max"], 2.0);
    assert_eq!(temperature["off"], 1.0);
    assert_eq!(
        doc["order"]["choices"],
        json!(["temperature-first", "temperature-last"])
    );
    assert_eq!(doc["seed"]["name"], "seed");
    assert_eq!(doc["note_example"]["tokens"][3], "on");
    let marks = &doc["voice"]["stability"]["marks"];
    assert_eq!(marks[0], json!({"label": "Creative", "value": 0.0}));
    assert_eq!(marks[2]["label"], "Robust");
    assert_eq!(doc["voice"]["speed"]["max"], 1.2);
    let openapi = get(&app, "/openapi.json").await.json();
    assert!(openapi["paths"]["/v1/knobs"]["get"].is_object());
    assert!(openapi["paths"]["/"]["get"].is_object());
    let takes = &openapi["components"]["schemas"]["TakesRequest"]["properties"]["takes"];
    assert_eq!(takes["maximum"], dial_server::takes::MAX_TAKES);
}

#[tokio::test]
async fn explain_takes_a_row_of_logits_with_no_model() {
    let app = app();
    let note = json!({
        "logits": dial_sampling::NOTE_EXAMPLE_LOGITS,
        "tokens": dial_sampling::NOTE_EXAMPLE_TOKENS,
        "top_p": 0.5,
    });
    let r = post_json(&app, "/v1/explain", &note).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let report = r.json();
    assert_eq!(report["vocab"], 6);
    // softmax of the note's logits, computed here.
    let logits = dial_sampling::NOTE_EXAMPLE_LOGITS.map(f64::from);
    let z: f64 = logits.iter().map(|l| l.exp()).sum();
    let rows = report["rows"].as_array().unwrap();
    for row in rows {
        let id = row["id"].as_u64().unwrap() as usize;
        assert!((row["p_raw"].as_f64().unwrap() - logits[id].exp() / z).abs() < 1e-6);
        assert_eq!(row["text"], dial_sampling::NOTE_EXAMPLE_TOKENS[id]);
    }
    assert_eq!(rows[0]["text"], "on");
    assert_eq!(rows[0]["kept"], true);
    assert_eq!(rows[1]["cut"]["stage"], "top_p");
    assert!(
        r.headers.get("x-dial-cache").is_none(),
        "no model, no cache"
    );
    // Without names the rows have none; a wrong count, an empty row or both inputs are 400s.
    let bare = post_json(&app, "/v1/explain", &json!({"logits": [0.0, 1.0]})).await;
    assert_eq!(bare.json()["rows"][0]["text"], Value::Null);
    for (body, param) in [
        (json!({"logits": [0.0, 1.0], "tokens": ["a"]}), "tokens"),
        (json!({"logits": []}), "logits"),
        (json!({"tokens": ["a"]}), "tokens"),
        (json!({"logits": [1.0], "prompt": "the"}), "prompt"),
        (json!({"logits": [1.0], "temperature": 3}), "temperature"),
        (json!({"logits": ["x"]}), "logits[0]"),
    ] {
        let r = post_json(&app, "/v1/explain", &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.error()["param"], param, "{body}");
    }
}

#[tokio::test]
async fn metrics_count_requests_and_tokens() {
    let app = app();
    post_json(
        &app,
        "/v1/chat/completions",
        &chat(json!({"max_tokens": 2})),
    )
    .await;
    post_json(
        &app,
        "/v1/chat/completions",
        &chat(json!({"temperature": 9})),
    )
    .await;
    let text = get(&app, "/metrics").await.text;
    assert!(
        text.contains("dial_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("dial_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("dial_time_to_first_token_seconds_count 1"),
        "{text}"
    );
    assert!(text.contains("dial_queue_depth 0"));
    // Labels are the table's routes, whatever the path held; unknown paths are one label.
    get(&app, "/v1/models/some-model").await;
    get(&app, "/v2/nowhere/else").await;
    let text = get(&app, "/metrics").await.text;
    assert!(
        text.contains("dial_requests_total{endpoint=\"/v1/models/{id}\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("dial_requests_total{endpoint=\"unmatched\",status=\"404\"} 1"),
        "{text}"
    );
    let generated: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("dial_generated_tokens_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&generated));
}

#[tokio::test]
async fn the_playgrounds_first_explain_is_warmed_at_start() {
    let body =
        json!({"messages": [{"role": "user", "content": dial_server::playground::DEFAULT_PROMPT}]});
    let cold = dial_server::app(dial_server::AppState::new(model(), config()));
    assert_eq!(
        post_json(&cold, "/v1/explain", &body).await.headers["x-dial-cache"],
        "miss"
    );
    let state = dial_server::AppState::new(model(), config());
    state.warm_playground();
    let app = dial_server::app(state);
    // The tiny model's prefill takes milliseconds; two seconds leave room on a busy machine.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let first = post_json(&app, "/v1/explain", &body).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.headers["x-dial-cache"], "hit",
        "the first call finds the warmed logits"
    );
    let doc = get(&app, "/v1/knobs").await.json();
    assert_eq!(
        doc["playground"]["default_prompt"],
        dial_server::playground::DEFAULT_PROMPT
    );
}

/// Two models on one server, each with its own engine: a request's `model` picks one, and
/// it answers exactly as a server of that model alone.
#[tokio::test]
async fn several_models_are_served_side_by_side_and_chosen_by_model() {
    use dial_server::AppState;
    let both = dial_server::app(
        AppState::with_models(
            vec![
                model().into(),
                dial_server::ServedModel {
                    model: other_model(),
                    aliases: vec!["other".into()],
                },
            ],
            Vec::new(),
            config(),
        )
        .unwrap(),
    );
    let ids: Vec<Value> = get(&both, "/v1/models").await.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [json!(MODEL), json!("dial-tiny-other")]);
    assert_eq!(get(&both, "/v1/models/dial-tiny-other").await.status, 200);
    let by_alias = get(&both, "/v1/models/other").await.json();
    assert_eq!(by_alias["id"], "dial-tiny-other");
    assert_eq!(by_alias["dial"]["aliases"], json!(["other"]));
    let health = get(&both, "/health").await.json();
    assert_eq!(health["model"], MODEL, "the first is the default");
    assert_eq!(health["models"], json!([MODEL, "dial-tiny-other"]));
    assert!(health["engines"]["dial-tiny-other"]["kv_cache_capacity_bytes"].is_u64());

    let request = |model: &str| {
        json!({"model": model, "prompt": "the cat", "max_tokens": 6, "seed": 11,
               "temperature": 0.9, "logprobs": 2})
    };
    let alone = [
        dial_server::app(AppState::new(model(), config())),
        dial_server::app(AppState::new(other_model(), config())),
    ];
    let mut texts = Vec::new();
    for (id, single) in [MODEL, "dial-tiny-other"].into_iter().zip(&alone) {
        let shared = post_json(&both, "/v1/completions", &request(id)).await;
        assert_eq!(shared.status, 200, "{}", shared.text);
        let own = post_json(single, "/v1/completions", &request(id)).await;
        let (shared, own) = (shared.json(), own.json());
        assert_eq!(shared["model"], id);
        assert_eq!(shared["choices"], own["choices"], "{id}");
        texts.push(shared["choices"][0]["logprobs"].clone());
    }
    assert_ne!(texts[0], texts[1], "the two models are different models");
    // An alias reaches the same engine, and the answer names the model's id.
    let aliased = post_json(&both, "/v1/completions", &request("other"))
        .await
        .json();
    assert_eq!(aliased["model"], "dial-tiny-other");
    assert_eq!(aliased["choices"][0]["logprobs"], texts[1]);

    // Explain without `model` uses the default; with one, that model.
    let explain = |model: Option<&str>| {
        let mut body = json!({"prompt": "the cat", "top": 3});
        if let Some(m) = model {
            body["model"] = json!(m);
        }
        body
    };
    let default = post_json(&both, "/v1/explain", &explain(None)).await.json();
    let first = post_json(&both, "/v1/explain", &explain(Some(MODEL)))
        .await
        .json();
    let second = post_json(&both, "/v1/explain", &explain(Some("dial-tiny-other")))
        .await
        .json();
    assert_eq!(default, first);
    assert_ne!(first["rows"], second["rows"]);

    let missing = post_json(&both, "/v1/completions", &request("gpt-4o")).await;
    assert_eq!(missing.status, 404);
    let message = missing.error()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains(MODEL) && message.contains("dial-tiny-other"),
        "{message}"
    );
    let twice = AppState::with_models(vec![model().into(), model().into()], Vec::new(), config());
    assert_eq!(
        twice.err(),
        Some(dial_server::DuplicateModelId(MODEL.into()))
    );
    let clash = dial_server::ServedModel {
        model: other_model(),
        aliases: vec![MODEL.into()],
    };
    let clashing = AppState::with_models(vec![model().into(), clash], Vec::new(), config());
    assert_eq!(
        clashing.err(),
        Some(dial_server::DuplicateModelId(MODEL.into()))
    );
}

#[tokio::test]
async fn a_server_with_no_model_says_so_and_still_explains_rows_of_logits() {
    let app = dial_server::app(dial_server::AppState::voice_only(Vec::new(), config()));
    assert_eq!(get(&app, "/v1/models").await.json()["data"], json!([]));
    let health = get(&app, "/health").await.json();
    assert_eq!(health["model"], Value::Null);
    assert_eq!(health["queued"], 0);
    for (path, body) in [
        ("/v1/chat/completions", chat(json!({}))),
        ("/v1/completions", json!({"model": MODEL, "prompt": "the"})),
        ("/v1/responses", json!({"model": MODEL, "input": "the"})),
        ("/v1/explain", json!({"prompt": "the"})),
    ] {
        let r = post_json(&app, path, &body).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_eq!(r.error()["code"], "no_model", "{path}");
    }
    assert_eq!(
        get(&app, &format!("/v1/models/{MODEL}")).await.error()["code"],
        "no_model"
    );
    let note = post_json(
        &app,
        "/v1/explain",
        &json!({"logits": [1.0, 2.0], "top_k": 1}),
    )
    .await;
    assert_eq!(note.status, 200, "{}", note.text);
    assert_eq!(note.json()["nucleus_size"], 1);
    assert_eq!(get(&app, "/v1/knobs").await.status, 200);
    assert_eq!(get(&app, "/").await.status, 200);
    assert!(
        get(&app, "/metrics")
            .await
            .text
            .contains("dial_cancelled_total")
    );
}

#[tokio::test]
async fn a_draining_server_refuses_new_work_in_each_api_s_shape_and_is_not_ready() {
    let state = dial_server::AppState::new(common::model(), config());
    let app = dial_server::app(state.clone());
    assert_eq!(get(&app, "/health").await.status, 200);
    state.start_draining();
    let health = get(&app, "/health").await;
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["status"], "draining");
    let chat = post_json(
        &app,
        "/v1/chat/completions",
        &chat(json!({"max_tokens": 1})),
    )
    .await;
    assert_eq!(chat.status, 503);
    assert_eq!(chat.error()["code"], "draining");
    assert_eq!(chat.headers["retry-after"], "1");
    let voices = get(&app, "/v1/voices").await;
    assert_eq!(voices.status, 503);
    assert_eq!(voices.json()["detail"]["status"], "draining");
    assert_eq!(voices.headers["retry-after"], "1");
}
