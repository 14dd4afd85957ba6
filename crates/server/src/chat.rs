//! `POST /v1/chat/completions`.

use crate::body::{self, Endpoint};
use crate::engine::Event;
use crate::error::ApiError;
use crate::generation::{
    Asked, DialReport, Stop, TokenLogprob, collect, new_id, now, with_relaxed_header,
};
use crate::prompt::Message;
use crate::state::AppState;
use crate::stream::{self, Item, Out};
use crate::structured::{
    ChatTool, OutputAsk, Requested, ResponseFormat, StructuredOutputs, ToolSyntax,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use dial_model::{FinishReason, Step};
use serde::{Deserialize, Serialize};

/// A Chat Completions request. Every knob of `SamplingParams` (`temperature`, `top_p`,
/// `seed`, `presence_penalty`, `frequency_penalty`, `logit_bias`, `top_k`, `min_p`, …) and
/// the `dial` object are accepted beside these fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChatRequest {
    /// The served model's id (`GET /v1/models`).
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Choices to generate, 1 to 16.
    pub n: Option<u64>,
    /// Up to 4 stop strings.
    pub stop: Option<Stop>,
    /// Most tokens to generate (deprecated name).
    pub max_tokens: Option<u64>,
    /// Most tokens to generate.
    pub max_completion_tokens: Option<u64>,
    /// Report each token's log-probability.
    pub logprobs: Option<bool>,
    /// Alternatives per token, 0 to 20 (needs `logprobs`).
    pub top_logprobs: Option<u64>,
    /// vLLM's `logprob_token_ids`: these tokens' log-probabilities at every step, in place
    /// of the most likely ones (needs `logprobs: true`).
    #[serde(default)]
    pub logprob_token_ids: Option<Vec<u32>>,
    /// Stream chunks as server-sent events.
    pub stream: Option<bool>,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// `text`, `json_object`, or `json_schema` with a schema the output follows.
    pub response_format: Option<ResponseFormat>,
    /// Functions the model may call.
    #[schema(value_type = Option<Vec<ChatTool>>)]
    pub tools: Option<Vec<serde_json::Value>>,
    /// `none`, `auto` (the default with tools), `required`, or one named function.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<serde_json::Value>,
    /// `false`: at most one call per answer.
    pub parallel_tool_calls: Option<bool>,
    /// What the output must match (vLLM's shape): one of `json`, `regex`, `choice`,
    /// `grammar`, `json_object`.
    pub structured_outputs: Option<StructuredOutputs>,
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` and no choices.
    #[serde(default)]
    pub include_usage: bool,
    /// Accepted; dial's chunks are sent as they are.
    #[serde(default)]
    pub include_obfuscation: Option<bool>,
}

impl Endpoint for ChatRequest {
    const FIELDS: &'static [&'static str] = &[
        "model",
        "messages",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "logprobs",
        "top_logprobs",
        "logprob_token_ids",
        "stream",
        "stream_options",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "structured_outputs",
    ];
    const IGNORED: &'static [&'static str] = crate::IGNORED_FIELDS;
}

/// Token counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub completion_tokens: usize,
    /// Both.
    pub total_tokens: usize,
}

impl Usage {
    /// Counts with their total.
    pub fn new(prompt_tokens: usize, completion_tokens: usize) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// `choices[i].logprobs`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChoiceLogprobs {
    /// One entry per generated token.
    pub content: Vec<TokenLogprob>,
}

#[derive(Debug, Serialize)]
struct ChatMessageOut {
    role: &'static str,
    content: Option<String>,
    /// dial's model never refuses on its own; always null.
    refusal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCallOut>>,
}

/// `message.tool_calls[i]`.
#[derive(Debug, Clone, Serialize)]
struct ToolCallOut {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCallOut,
}

#[derive(Debug, Clone, Serialize)]
struct FunctionCallOut {
    name: String,
    /// The arguments as JSON text.
    arguments: String,
}

fn tool_calls_out(calls: Vec<(String, String)>) -> Vec<ToolCallOut> {
    calls
        .into_iter()
        .map(|(name, arguments)| ToolCallOut {
            id: new_id("call_"),
            kind: "function",
            function: FunctionCallOut { name, arguments },
        })
        .collect()
}

/// The request's constraint: at most one of `response_format`, `tools`,
/// `structured_outputs`.
fn requested(req: &ChatRequest, syntax: ToolSyntax) -> Result<Option<Requested>, ApiError> {
    let format = req
        .response_format
        .as_ref()
        .map(ResponseFormat::constraint)
        .transpose()?
        .flatten();
    OutputAsk {
        tools: req.tools.as_deref(),
        tool_choice: req.tool_choice.as_ref(),
        parallel_tool_calls: req.parallel_tool_calls,
        structured_outputs: req.structured_outputs.as_ref(),
    }
    .requested::<ChatTool>(format, syntax)
}

#[derive(Debug, Serialize)]
struct ChatChoice {
    index: usize,
    message: ChatMessageOut,
    logprobs: Option<ChoiceLogprobs>,
    finish_reason: &'static str,
}

#[derive(Debug, Serialize)]
struct ChatResponse {
    id: String,
    object: &'static str,
    created: u64,
    model: String,
    choices: Vec<ChatChoice>,
    usage: Usage,
    system_fingerprint: Option<String>,
    dial: DialReport,
}

/// The handler.
pub(crate) async fn create(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = body::parse::<ChatRequest>(&bytes)?;
    let req = &body.api;
    let s = state.inner.lm(&req.model)?.clone();
    if req.top_logprobs.is_some_and(|n| n > 0) && req.logprobs != Some(true) {
        return Err(ApiError::invalid(
            "top_logprobs",
            "invalid_value",
            "`top_logprobs` needs `logprobs: true`",
        ));
    }
    crate::generation::check_stream_options(req.stream, req.stream_options.is_some())?;
    let requested = requested(req, s.template.tool_syntax())?;
    let tools = requested.as_ref().and_then(|r| r.tools.clone());
    let text = crate::prompt::render_for(&s.template, &req.messages, "messages", tools.as_ref())?;
    let prompt = s.encode_rendered(&text);
    let max_tokens = match (req.max_completion_tokens, req.max_tokens) {
        (Some(v), _) => Some((v, "max_completion_tokens")),
        (None, Some(v)) => Some((v, "max_tokens")),
        (None, None) => None,
    };
    if requested.is_some() {
        s.grammar_built().await;
    }
    let plan = s.plan(Asked {
        params: &body.params,
        dial: &body.dial,
        max_tokens,
        stop: req.stop.as_ref(),
        n: req.n,
        logprobs: req.logprobs == Some(true),
        top_logprobs: req.top_logprobs.map(|v| (v, "top_logprobs")),
        prompt_logprobs: None,
        nothing_to_generate_ok: false,
        logprob_token_ids: req.logprob_token_ids.as_deref(),
        prompt,
        prompt_param: "messages",
        template_stops: s.template.stops(),
        constraint: requested.as_ref(),
    })?;
    let rx = s.submit(&plan)?;
    let id = new_id("chatcmpl-");
    let created = now();
    let prompt_tokens = plan.prompt.len();
    if req.stream == Some(true) {
        let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        let n = plan.choices.len();
        let model = s.model_id.clone();
        let inner = s.clone();
        let mut started = vec![false; n];
        let mut generated = 0usize;
        // With tools, a choice's text is held until it is known to be text or calls.
        let mut modes: Vec<Mode> = (0..n)
            .map(|_| match &tools {
                None => Mode::Text,
                Some(t) if t.required => Mode::Calls(String::new()),
                Some(_) => Mode::Undecided(Vec::new()),
            })
            .collect();
        let chunk = move |choices: serde_json::Value, usage: Option<&Usage>| {
            let mut v = serde_json::json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": null,
                "choices": choices,
            });
            if include_usage {
                v["usage"] = serde_json::to_value(usage).unwrap_or_default();
            }
            stream::data(&v)
        };
        let relaxed = plan.relaxed.clone();
        let emit = chunk.clone();
        // The chunks of one token of text.
        let mut text_chunks = move |choice: usize, step: &Step| {
            let mut out = Vec::new();
            if !started[choice] {
                started[choice] = true;
                out.push(emit(
                    serde_json::json!([{"index": choice, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]),
                    None,
                ));
            }
            let logprobs = plan.logprobs.then(|| ChoiceLogprobs {
                content: vec![inner.token_logprob(step, plan.mode, plan.top_logprobs)],
            });
            let mut delta = serde_json::json!({"content": step.text});
            if plan.dial.per_token() {
                delta["dial"] =
                    serde_json::to_value(inner.token_report(step, &plan.dial)).unwrap_or_default();
            }
            out.push(emit(
                serde_json::json!([{"index": choice, "delta": delta, "logprobs": logprobs, "finish_reason": null}]),
                None,
            ));
            out
        };
        let sse = stream::sse(rx, n, Vec::new(), move |item| match item {
            Item::Engine(Event::Prefilled { .. }) => Out::more(vec![]),
            Item::Engine(Event::Token { choice, step }) => {
                generated += 1;
                let Some(mode) = modes.get_mut(choice) else {
                    return Out::more(vec![]);
                };
                let mut out = Vec::new();
                match mode {
                    Mode::Text => out.extend(text_chunks(choice, &step)),
                    Mode::Calls(text) => text.push_str(&step.text),
                    Mode::Undecided(held) => {
                        held.push(*step);
                        let text: String = held.iter().map(|s| s.text.as_str()).collect();
                        if tools
                            .as_ref()
                            .is_some_and(|t| text.starts_with(t.syntax.opening()))
                        {
                            *mode = Mode::Calls(text);
                        } else if !text.is_empty() {
                            for st in std::mem::take(held) {
                                out.extend(text_chunks(choice, &st));
                            }
                            *mode = Mode::Text;
                        }
                    }
                }
                Out::more(out)
            }
            Item::Engine(Event::Done { choice, finish, .. }) => {
                let mut out = Vec::new();
                let mode = modes
                    .get_mut(choice)
                    .map(|m| std::mem::replace(m, Mode::Text));
                let mut finish_reason = finish.name();
                match mode {
                    Some(Mode::Calls(text)) => {
                        let calls = (finish == FinishReason::Stop)
                            .then(|| tools.as_ref().and_then(|t| t.parse(&text)))
                            .flatten();
                        match calls {
                            Some(calls) => {
                                let calls: Vec<serde_json::Value> = tool_calls_out(calls)
                                    .into_iter()
                                    .enumerate()
                                    .map(|(k, c)| serde_json::json!({"index": k, "id": c.id, "type": c.kind, "function": c.function}))
                                    .collect();
                                out.push(chunk(
                                    serde_json::json!([{"index": choice, "delta": {"role": "assistant", "content": null, "tool_calls": calls}, "logprobs": null, "finish_reason": null}]),
                                    None,
                                ));
                                finish_reason = "tool_calls";
                            }
                            None => out.push(chunk(
                                serde_json::json!([{"index": choice, "delta": {"role": "assistant", "content": text}, "logprobs": null, "finish_reason": null}]),
                                None,
                            )),
                        }
                    }
                    Some(Mode::Undecided(held)) => {
                        for st in held {
                            out.extend(text_chunks(choice, &st));
                        }
                    }
                    _ => {}
                }
                out.push(chunk(
                    serde_json::json!([{"index": choice, "delta": {}, "logprobs": null, "finish_reason": finish_reason}]),
                    None,
                ));
                Out::more(out)
            }
            Item::Engine(Event::Failed { error, .. }) => stream::data_failure(&error),
            Item::End => stream::data_end(include_usage.then(|| {
                chunk(
                    serde_json::json!([]),
                    Some(&Usage::new(prompt_tokens, generated)),
                )
            })),
        });
        return Ok(with_relaxed_header(&relaxed, sse));
    }
    let outputs = collect(rx, plan.choices.len()).await?;
    let completion_tokens = outputs.iter().map(|o| o.steps.len()).sum();
    let choices = outputs
        .iter()
        .enumerate()
        .map(|(index, o)| {
            let calls = (o.finish == Some(FinishReason::Stop))
                .then(|| tools.as_ref().and_then(|t| t.parse(&o.text)))
                .flatten();
            let logprobs = plan.logprobs.then(|| ChoiceLogprobs {
                content: o
                    .steps
                    .iter()
                    .map(|st| s.token_logprob(st, plan.mode, plan.top_logprobs))
                    .collect(),
            });
            match calls {
                Some(calls) => ChatChoice {
                    index,
                    message: ChatMessageOut {
                        role: "assistant",
                        content: None,
                        refusal: None,
                        tool_calls: Some(tool_calls_out(calls)),
                    },
                    logprobs,
                    finish_reason: "tool_calls",
                },
                None => ChatChoice {
                    index,
                    message: ChatMessageOut {
                        role: "assistant",
                        content: Some(o.text.clone()),
                        refusal: None,
                        tool_calls: None,
                    },
                    logprobs,
                    finish_reason: o.finish.map_or("stop", |f| f.name()),
                },
            }
        })
        .collect();
    let steps: Vec<_> = outputs.first().map(|o| o.steps.clone()).unwrap_or_default();
    let rewinds = outputs.first().map_or(0, |o| o.rewinds);
    let response = ChatResponse {
        id,
        object: "chat.completion",
        created,
        model: s.model_id.clone(),
        choices,
        usage: Usage::new(prompt_tokens, completion_tokens),
        system_fingerprint: None,
        dial: s.dial_report(&plan, &steps, rewinds),
    };
    Ok(with_relaxed_header(
        &plan.relaxed,
        axum::Json(response).into_response(),
    ))
}

/// What a streamed choice's text is, when tools are on.
#[derive(Debug)]
enum Mode {
    /// Text: streamed as it comes.
    Text,
    /// Calls: held, and sent as `tool_calls` at the end.
    Calls(String),
    /// Not known yet: the tokens so far.
    Undecided(Vec<Step>),
}
