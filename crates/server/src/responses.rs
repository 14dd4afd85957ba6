//! `POST /v1/responses`, the OpenAI Responses API.

use crate::body::{self, Endpoint};
use crate::engine::Event;
use crate::error::ApiError;
use crate::generation::{Asked, Plan, TokenLogprob, collect, new_id, now, with_relaxed_header};
use crate::prompt::{FunctionCallIn, Message, Role, ToolCallIn};
use crate::state::AppState;
use crate::stream::{self, Item, Out};
use crate::structured::{
    OutputAsk, Requested, ResponsesTool, StructuredOutputs, TextFormat, ToolSyntax,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use dial_model::FinishReason;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `input`: text, or a list of items.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Input {
    /// One user message.
    Text(String),
    /// Messages (`{"role", "content"}`, optionally `"type": "message"`), and an earlier
    /// turn's `function_call` items and their `function_call_output`s.
    #[schema(value_type = Vec<Object>)]
    Items(Vec<Value>),
}

/// A `function_call` item of an earlier turn, as the response's output gave it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionCallItem {
    #[serde(rename = "type")]
    _kind: String,
    call_id: String,
    name: String,
    arguments: String,
    #[serde(rename = "id")]
    _id: Option<String>,
    #[serde(rename = "status")]
    _status: Option<String>,
}

/// A tool's result for a `function_call`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionCallOutputItem {
    #[serde(rename = "type")]
    _kind: String,
    call_id: String,
    output: String,
    #[serde(rename = "id")]
    _id: Option<String>,
    #[serde(rename = "status")]
    _status: Option<String>,
}

/// `input`'s items as chat messages: consecutive calls become one assistant message
/// with `tool_calls`, each output a `tool` message.
fn input_messages(items: &[Value]) -> Result<Vec<Message>, ApiError> {
    let mut out: Vec<Message> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let param = format!("input[{i}]");
        let at = |mut e: ApiError| {
            e.param = Some(match e.param.as_deref() {
                None | Some("") => param.clone(),
                Some(p) => format!("{param}.{p}"),
            });
            e
        };
        match item.get("type").and_then(Value::as_str) {
            Some("function_call") => {
                let call: FunctionCallItem = crate::body::from_value(item.clone()).map_err(at)?;
                let tool_call = ToolCallIn {
                    id: call.call_id,
                    kind: "function".into(),
                    function: FunctionCallIn {
                        name: call.name,
                        arguments: call.arguments,
                    },
                };
                match out.last_mut() {
                    Some(m) if m.role == Role::Assistant && m.tool_calls.is_some() => {
                        m.tool_calls.get_or_insert_with(Vec::new).push(tool_call);
                    }
                    _ => {
                        let mut m = Message::new(Role::Assistant, "");
                        m.content = None;
                        m.tool_calls = Some(vec![tool_call]);
                        out.push(m);
                    }
                }
            }
            Some("function_call_output") => {
                let result: FunctionCallOutputItem =
                    crate::body::from_value(item.clone()).map_err(at)?;
                let mut m = Message::new(Role::Tool, &result.output);
                m.tool_call_id = Some(result.call_id);
                out.push(m);
            }
            _ => out.push(crate::body::from_value(item.clone()).map_err(at)?),
        }
    }
    Ok(out)
}

/// A Responses request; the knobs (`temperature`, `top_p`, and dial's: `top_k`, `min_p`,
/// `seed`, …) and the `dial` object are accepted beside these fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResponseRequest {
    /// The served model's id.
    pub model: String,
    /// What to answer.
    pub input: Input,
    /// A system message put before the input.
    pub instructions: Option<String>,
    /// Most tokens to generate.
    pub max_output_tokens: Option<u64>,
    /// Alternatives per token, 0 to 20 (with `include: ["message.output_text.logprobs"]`).
    pub top_logprobs: Option<u64>,
    /// Extra output: `message.output_text.logprobs`.
    pub include: Option<Vec<String>>,
    /// Stream the named events.
    pub stream: Option<bool>,
    /// Up to 16 string pairs, echoed back.
    pub metadata: Option<BTreeMap<String, String>>,
    /// The output's format: `{"format": {"type": "text" | "json_object" | "json_schema",
    /// ...}}`.
    pub text: Option<TextOptions>,
    /// Functions the model may call (`{"type": "function", "name", "parameters", ...}`).
    #[schema(value_type = Option<Vec<ResponsesTool>>)]
    pub tools: Option<Vec<serde_json::Value>>,
    /// `none`, `auto` (the default with tools), `required`, or
    /// `{"type": "function", "name"}`.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<Value>,
    /// `false`: at most one call per answer.
    pub parallel_tool_calls: Option<bool>,
    /// What the output must match (vLLM's shape): one of `json`, `regex`, `choice`,
    /// `grammar`, `json_object`.
    pub structured_outputs: Option<StructuredOutputs>,
    /// `disabled` or `auto`: a prompt over the context is a 400 either way.
    pub truncation: Option<String>,
    /// Must be absent: dial stores no responses.
    pub previous_response_id: Option<String>,
    /// Must be false: dial answers in the foreground.
    pub background: Option<bool>,
}

impl Endpoint for ResponseRequest {
    const FIELDS: &'static [&'static str] = &[
        "model",
        "input",
        "instructions",
        "max_output_tokens",
        "top_logprobs",
        "include",
        "stream",
        "metadata",
        "text",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "structured_outputs",
        "truncation",
        "previous_response_id",
        "background",
    ];
    const IGNORED: &'static [&'static str] = crate::IGNORED_FIELDS;
}

/// `text`: the output's format.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextOptions {
    /// The format; absent means text.
    pub format: Option<TextFormat>,
    /// `medium` (the only one dial has) or absent.
    pub verbosity: Option<String>,
}

const LOGPROBS_INCLUDE: &str = "message.output_text.logprobs";

/// The request's constraint: at most one of `text.format`, `tools`,
/// `structured_outputs`.
fn requested(req: &ResponseRequest, syntax: ToolSyntax) -> Result<Option<Requested>, ApiError> {
    if let Some(v) = req.text.as_ref().and_then(|t| t.verbosity.as_deref())
        && v != "medium"
    {
        return Err(ApiError::invalid(
            "text.verbosity",
            "unsupported_value",
            "dial has one verbosity, `medium`",
        ));
    }
    let format = req
        .text
        .as_ref()
        .and_then(|t| t.format.as_ref())
        .map(TextFormat::constraint)
        .transpose()?
        .flatten();
    OutputAsk {
        tools: req.tools.as_deref(),
        tool_choice: req.tool_choice.as_ref(),
        parallel_tool_calls: req.parallel_tool_calls,
        structured_outputs: req.structured_outputs.as_ref(),
    }
    .requested::<ResponsesTool>(format, syntax)
}

/// A `function_call` output item.
fn function_call_item(name: &str, arguments: &str, status: &str) -> Value {
    json!({
        "type": "function_call",
        "id": new_id("fc_"),
        "call_id": new_id("call_"),
        "name": name,
        "arguments": arguments,
        "status": status,
    })
}

fn check(req: &ResponseRequest) -> Result<bool, ApiError> {
    let mut logprobs = false;
    for (i, item) in req.include.iter().flatten().enumerate() {
        if item == LOGPROBS_INCLUDE {
            logprobs = true;
        } else {
            return Err(ApiError::invalid(
                &format!("include[{i}]"),
                "unsupported_value",
                &format!("dial can include `{LOGPROBS_INCLUDE}` only, not `{item}`"),
            ));
        }
    }
    if req.top_logprobs.is_some_and(|n| n > 0) && !logprobs {
        return Err(ApiError::invalid(
            "top_logprobs",
            "invalid_value",
            &format!("`top_logprobs` needs `include: [\"{LOGPROBS_INCLUDE}\"]`"),
        ));
    }
    if let Some(t) = &req.truncation
        && t != "disabled"
        && t != "auto"
    {
        return Err(ApiError::invalid(
            "truncation",
            "invalid_value",
            "`truncation` is `disabled` or `auto`",
        ));
    }
    if req.previous_response_id.is_some() {
        return Err(ApiError::invalid(
            "previous_response_id",
            "unsupported_value",
            "dial stores no responses; send the whole conversation as `input`",
        ));
    }
    if req.background == Some(true) {
        return Err(ApiError::invalid(
            "background",
            "unsupported_value",
            "dial answers in the foreground only",
        ));
    }
    if req
        .metadata
        .as_ref()
        .is_some_and(|m| m.len() > 16 || m.iter().any(|(k, v)| k.len() > 64 || v.len() > 512))
    {
        return Err(ApiError::invalid(
            "metadata",
            "invalid_value",
            "`metadata` holds at most 16 pairs, keys up to 64 and values up to 512 characters",
        ));
    }
    Ok(logprobs)
}

/// The parts of a response object that do not change while it streams.
struct Frame {
    id: String,
    message_id: String,
    created_at: u64,
    model: String,
    instructions: Option<String>,
    max_output_tokens: Option<u64>,
    metadata: BTreeMap<String, String>,
    temperature: f64,
    top_p: f64,
    top_logprobs: usize,
    text: Value,
    tools: Value,
    tool_choice: Value,
    parallel_tool_calls: bool,
}

impl Frame {
    /// The events that open the message item, before its text.
    fn message_opening(&self) -> [(&'static str, Value); 2] {
        [
            (
                "response.output_item.added",
                json!({"output_index": 0, "item": {"type": "message", "id": self.message_id, "status": "in_progress", "role": "assistant", "content": []}}),
            ),
            (
                "response.content_part.added",
                json!({"item_id": self.message_id, "output_index": 0, "content_index": 0, "part": self.part("", &[])}),
            ),
        ]
    }

    fn message(&self, status: &str, text: &str, logprobs: &[TokenLogprob]) -> Value {
        json!({
            "type": "message",
            "id": self.message_id,
            "status": status,
            "role": "assistant",
            "content": [self.part(text, logprobs)],
        })
    }

    fn part(&self, text: &str, logprobs: &[TokenLogprob]) -> Value {
        json!({"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs})
    }

    fn response(
        &self,
        status: &str,
        output: Vec<Value>,
        usage: Option<Value>,
        extra: Value,
    ) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": self.parallel_tool_calls,
            "previous_response_id": null,
            "reasoning": {"effort": null, "summary": null},
            "store": false,
            "temperature": self.temperature,
            "text": self.text,
            "tool_choice": self.tool_choice,
            "tools": self.tools,
            "top_p": self.top_p,
            "top_logprobs": self.top_logprobs,
            "truncation": "disabled",
            "usage": usage,
            "user": null,
            "metadata": self.metadata,
        });
        if let (Some(map), Value::Object(extra)) = (v.as_object_mut(), extra) {
            map.extend(extra);
        }
        v
    }
}

fn usage(input: usize, output: usize) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

/// `status` and `incomplete_details` for how generation ended.
fn ending(finish: Option<FinishReason>) -> (&'static str, Value) {
    match finish {
        Some(FinishReason::Length) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(FinishReason::ContextFull) => ("incomplete", json!({"reason": "max_output_tokens"})),
        _ => ("completed", Value::Null),
    }
}

/// The handler.
pub(crate) async fn create(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = body::parse::<ResponseRequest>(&bytes)?;
    let req = &body.api;
    let s = state.inner.lm(&req.model)?.clone();
    let logprobs = check(req)?;
    let requested = requested(req, s.template.tool_syntax())?;
    let tools = requested.as_ref().and_then(|r| r.tools.clone());
    let mut messages = Vec::new();
    if let Some(i) = &req.instructions {
        messages.push(Message::new(Role::System, i));
    }
    match &req.input {
        Input::Text(t) => messages.push(Message::new(Role::User, t)),
        Input::Items(items) => messages.extend(input_messages(items)?),
    }
    let text = crate::prompt::render_for(&s.template, &messages, "input", tools.as_ref())?;
    let prompt = s.encode_rendered(&text);
    if requested.is_some() {
        s.grammar_built().await;
    }
    let plan: Plan = s.plan(Asked {
        params: &body.params,
        dial: &body.dial,
        max_tokens: req.max_output_tokens.map(|v| (v, "max_output_tokens")),
        stop: None,
        n: None,
        logprobs,
        top_logprobs: req.top_logprobs.map(|v| (v, "top_logprobs")),
        prompt_logprobs: None,
        nothing_to_generate_ok: false,
        logprob_token_ids: None,
        prompt,
        prompt_param: "input",
        template_stops: s.template.stops(),
        constraint: requested.as_ref(),
    })?;
    let rx = s.submit(&plan)?;
    let frame = Frame {
        id: new_id("resp_"),
        message_id: new_id("msg_"),
        created_at: now(),
        model: s.model_id.clone(),
        instructions: req.instructions.clone(),
        max_output_tokens: req.max_output_tokens,
        metadata: req.metadata.clone().unwrap_or_default(),
        temperature: body.params.number("temperature").unwrap_or(1.0),
        top_p: body.params.number("top_p").unwrap_or(1.0),
        top_logprobs: plan.top_logprobs,
        text: json!({"format": req
            .text
            .as_ref()
            .and_then(|t| t.format.as_ref())
            .map_or_else(|| json!({"type": "text"}), TextFormat::echo)}),
        tools: json!(req.tools.clone().unwrap_or_default()),
        tool_choice: req.tool_choice.clone().unwrap_or_else(|| {
            json!(if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
                "auto"
            } else {
                "none"
            })
        }),
        // No tools, no calls: `false`, whatever was asked.
        parallel_tool_calls: tools.is_some() && req.parallel_tool_calls.unwrap_or(true),
    };
    let input_tokens = plan.prompt.len();
    if req.stream != Some(true) {
        let outputs = collect(rx, 1).await?;
        let out = outputs.into_iter().next().unwrap_or_default();
        let lps: Vec<TokenLogprob> = if plan.logprobs {
            out.steps
                .iter()
                .map(|st| s.token_logprob(st, plan.mode, plan.top_logprobs))
                .collect()
        } else {
            Vec::new()
        };
        let (status, incomplete) = ending(out.finish);
        let dial =
            serde_json::to_value(s.dial_report(&plan, &out.steps, out.rewinds)).unwrap_or_default();
        let calls = (out.finish == Some(FinishReason::Stop))
            .then(|| tools.as_ref().and_then(|t| t.parse(&out.text)))
            .flatten();
        let items = match calls {
            Some(calls) => calls
                .iter()
                .map(|(name, arguments)| function_call_item(name, arguments, "completed"))
                .collect(),
            None => vec![frame.message(status, &out.text, &lps)],
        };
        let mut v = frame.response(
            status,
            items,
            Some(usage(input_tokens, out.steps.len())),
            json!({"dial": dial}),
        );
        v["incomplete_details"] = incomplete;
        return Ok(with_relaxed_header(
            &plan.relaxed,
            axum::Json(v).into_response(),
        ));
    }
    // With tools, the answer is held to the end, when it is known to be text or calls.
    let holding = tools.is_some();
    let relaxed = plan.relaxed.clone();
    let inner = s.clone();
    let mut seq = 0u64;
    let mut text = String::new();
    let mut lps: Vec<TokenLogprob> = Vec::new();
    let mut steps = Vec::new();
    let mut finish = None;
    let mut rewinds = 0;
    let mut next = move |name: &str, mut v: Value| {
        v["type"] = json!(name);
        v["sequence_number"] = json!(seq);
        seq += 1;
        stream::named(name, &v)
    };
    // The opening events go out before the first token, as soon as the request is
    // accepted.
    let mut opening = {
        let created = frame.response("in_progress", vec![], None, json!({}));
        vec![
            next("response.created", json!({"response": created.clone()})),
            next("response.in_progress", json!({"response": created})),
        ]
    };
    if !holding {
        for (name, event) in frame.message_opening() {
            opening.push(next(name, event));
        }
    }
    let sse = stream::sse(rx, 1, opening, move |item| {
        let mut out = Vec::new();
        match item {
            Item::Engine(Event::Prefilled { .. }) => Out::more(out),
            Item::Engine(Event::Token { step, .. }) => {
                let lp: Vec<TokenLogprob> = if plan.logprobs {
                    vec![inner.token_logprob(&step, plan.mode, plan.top_logprobs)]
                } else {
                    Vec::new()
                };
                text.push_str(&step.text);
                lps.extend(lp.iter().cloned());
                let mut delta = json!({"item_id": frame.message_id, "output_index": 0, "content_index": 0, "delta": step.text, "logprobs": lp});
                if plan.dial.per_token() {
                    delta["dial"] = serde_json::to_value(inner.token_report(&step, &plan.dial))
                        .unwrap_or_default();
                }
                steps.push(*step);
                if !holding {
                    out.push(next("response.output_text.delta", delta));
                }
                Out::more(out)
            }
            Item::Engine(Event::Done {
                finish: f,
                rewinds: r,
                ..
            }) => {
                finish = Some(f);
                rewinds = r;
                Out::more(out)
            }
            Item::Engine(Event::Failed { error, .. }) => {
                let mut failed = frame.response("failed", vec![], None, json!({}));
                failed["error"] =
                    json!({"code": error.code.unwrap_or("server_error"), "message": error.message});
                out.push(next("response.failed", json!({"response": failed})));
                Out::last(out)
            }
            Item::End => {
                let (status, incomplete) = ending(finish);
                let calls = (finish == Some(FinishReason::Stop))
                    .then(|| tools.as_ref().and_then(|t| t.parse(&text)))
                    .flatten();
                if let Some(calls) = calls {
                    let mut items = Vec::new();
                    for (k, (name, arguments)) in calls.iter().enumerate() {
                        let item = function_call_item(name, arguments, "completed");
                        let mut added = item.clone();
                        added["status"] = json!("in_progress");
                        added["arguments"] = json!("");
                        out.push(next(
                            "response.output_item.added",
                            json!({"output_index": k, "item": added}),
                        ));
                        out.push(next(
                            "response.function_call_arguments.delta",
                            json!({"item_id": item["id"], "output_index": k, "delta": arguments}),
                        ));
                        out.push(next(
                            "response.function_call_arguments.done",
                            json!({"item_id": item["id"], "output_index": k, "arguments": arguments}),
                        ));
                        out.push(next(
                            "response.output_item.done",
                            json!({"output_index": k, "item": item.clone()}),
                        ));
                        items.push(item);
                    }
                    let dial = serde_json::to_value(inner.dial_report(&plan, &steps, rewinds))
                        .unwrap_or_default();
                    let mut done = frame.response(
                        status,
                        items,
                        Some(usage(input_tokens, steps.len())),
                        json!({"dial": dial}),
                    );
                    done["incomplete_details"] = incomplete;
                    out.push(next("response.completed", json!({"response": done})));
                    return Out::last(out);
                }
                if holding {
                    for (name, event) in frame.message_opening() {
                        out.push(next(name, event));
                    }
                    out.push(next(
                        "response.output_text.delta",
                        json!({"item_id": frame.message_id, "output_index": 0, "content_index": 0, "delta": text, "logprobs": lps}),
                    ));
                }
                out.push(next(
                    "response.output_text.done",
                    json!({"item_id": frame.message_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": lps}),
                ));
                out.push(next(
                    "response.content_part.done",
                    json!({"item_id": frame.message_id, "output_index": 0, "content_index": 0, "part": frame.part(&text, &lps)}),
                ));
                let message = frame.message(status, &text, &lps);
                out.push(next(
                    "response.output_item.done",
                    json!({"output_index": 0, "item": message.clone()}),
                ));
                let dial = serde_json::to_value(inner.dial_report(&plan, &steps, rewinds))
                    .unwrap_or_default();
                let mut done = frame.response(
                    status,
                    vec![message],
                    Some(usage(input_tokens, steps.len())),
                    json!({"dial": dial}),
                );
                done["incomplete_details"] = incomplete;
                // Every finished stream ends with `response.completed` (the status says
                // `incomplete` when max_output_tokens cut it), so the SDK's
                // `get_final_response()` works either way.
                out.push(next("response.completed", json!({"response": done})));
                Out::last(out)
            }
        }
    });
    Ok(with_relaxed_header(&relaxed, sse))
}
