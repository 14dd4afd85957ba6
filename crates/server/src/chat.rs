//! `POST /v1/chat/completions`.

use crate::body::{self, Endpoint};
use crate::engine::Event;
use crate::error::ApiError;
use crate::generation::{Asked, DialReport, Stop, TokenLogprob, collect, new_id, now};
use crate::prompt::Message;
use crate::state::AppState;
use crate::stream::{self, Item, Out};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
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
    /// Stream chunks as server-sent events.
    pub stream: Option<bool>,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
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
        "stream",
        "stream_options",
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
    content: String,
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
    let text = s.template.render(&req.messages, "messages")?;
    let prompt = s.encode_rendered(&text);
    let max_tokens = match (req.max_completion_tokens, req.max_tokens) {
        (Some(v), _) => Some((v, "max_completion_tokens")),
        (None, Some(v)) => Some((v, "max_tokens")),
        (None, None) => None,
    };
    let plan = s.plan(Asked {
        params: &body.params,
        dial: &body.dial,
        max_tokens,
        stop: req.stop.as_ref(),
        n: req.n,
        logprobs: req.logprobs == Some(true),
        top_logprobs: req.top_logprobs.map(|v| (v, "top_logprobs")),
        prompt,
        prompt_param: "messages",
        template_stops: s.template.stops(),
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
        return Ok(stream::sse(rx, n, Vec::new(), move |item| match item {
            Item::Engine(Event::Prefilled { .. }) => Out::more(vec![]),
            Item::Engine(Event::Token { choice, step }) => {
                generated += 1;
                let mut out = Vec::new();
                if !started[choice] {
                    started[choice] = true;
                    out.push(chunk(
                        serde_json::json!([{"index": choice, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]),
                        None,
                    ));
                }
                let logprobs = plan.logprobs.then(|| ChoiceLogprobs {
                    content: vec![inner.token_logprob(&step, plan.mode, plan.top_logprobs)],
                });
                let mut delta = serde_json::json!({"content": step.text});
                if plan.dial.per_token() {
                    delta["dial"] = serde_json::to_value(inner.token_report(&step, &plan.dial))
                        .unwrap_or_default();
                }
                out.push(chunk(
                    serde_json::json!([{"index": choice, "delta": delta, "logprobs": logprobs, "finish_reason": null}]),
                    None,
                ));
                Out::more(out)
            }
            Item::Engine(Event::Done { choice, finish }) => Out::more(vec![chunk(
                serde_json::json!([{"index": choice, "delta": {}, "logprobs": null, "finish_reason": finish.name()}]),
                None,
            )]),
            Item::Engine(Event::Failed { error, .. }) => stream::data_failure(&error),
            Item::End => stream::data_end(include_usage.then(|| {
                chunk(
                    serde_json::json!([]),
                    Some(&Usage::new(prompt_tokens, generated)),
                )
            })),
        }));
    }
    let outputs = collect(rx, plan.choices.len()).await?;
    let completion_tokens = outputs.iter().map(|o| o.steps.len()).sum();
    let choices = outputs
        .iter()
        .enumerate()
        .map(|(index, o)| ChatChoice {
            index,
            message: ChatMessageOut {
                role: "assistant",
                content: o.text.clone(),
            },
            logprobs: plan.logprobs.then(|| ChoiceLogprobs {
                content: o
                    .steps
                    .iter()
                    .map(|st| s.token_logprob(st, plan.mode, plan.top_logprobs))
                    .collect(),
            }),
            finish_reason: o.finish.map_or("stop", |f| f.name()),
        })
        .collect();
    let steps: Vec<_> = outputs.first().map(|o| o.steps.clone()).unwrap_or_default();
    let response = ChatResponse {
        id,
        object: "chat.completion",
        created,
        model: s.model_id.clone(),
        choices,
        usage: Usage::new(prompt_tokens, completion_tokens),
        system_fingerprint: None,
        dial: s.dial_report(&plan, &steps),
    };
    Ok(axum::Json(response).into_response())
}
