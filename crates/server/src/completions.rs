//! `POST /v1/completions`, the legacy text completion API.

use crate::body::{self, Endpoint};
use crate::chat::{StreamOptions, Usage};
use crate::engine::Event;
use crate::error::ApiError;
use crate::generation::{Asked, DialReport, Stop, collect, new_id, now, with_relaxed_header};
use crate::state::{AppState, Lm};
use crate::stream::{self, Item, Out};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use dial_model::{PromptLogprob, Step};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A prompt: text, or token ids.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Prompt {
    /// Text, tokenized with BOS.
    Text(String),
    /// Token ids, used as they are.
    Tokens(Vec<u32>),
}

/// A Completions request; the knobs and `dial` are accepted beside these fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CompletionRequest {
    /// The served model's id.
    pub model: String,
    /// The text to continue.
    pub prompt: Prompt,
    /// Choices, 1 to 16.
    pub n: Option<u64>,
    /// Up to 4 stop strings.
    pub stop: Option<Stop>,
    /// Most tokens to generate.
    pub max_tokens: Option<u64>,
    /// Alternatives per token, 0 to 20 (an integer, as in the legacy API).
    pub logprobs: Option<u64>,
    /// vLLM's `logprob_token_ids`: these tokens' log-probabilities at every step, in place
    /// of the most likely ones (needs `logprobs`).
    #[serde(default)]
    pub logprob_token_ids: Option<Vec<u32>>,
    /// Put the prompt before the completion, in `text` and (with `logprobs`) in the
    /// log-probabilities, the first token's `null`. With `max_tokens: 0` it scores a text.
    pub echo: Option<bool>,
    /// vLLM's `prompt_logprobs`: each prompt token's log-probability, rank and this many
    /// alternatives (0 to 20), in each choice's `prompt_logprobs`, the first `null`.
    pub prompt_logprobs: Option<u64>,
    /// Must equal `n` when given: dial does not rerank.
    pub best_of: Option<u64>,
    /// Stream chunks as server-sent events.
    pub stream: Option<bool>,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// What the output must match (vLLM's shape): one of `json`, `regex`, `choice`,
    /// `grammar`, `json_object`.
    pub structured_outputs: Option<crate::structured::StructuredOutputs>,
}

impl Endpoint for CompletionRequest {
    const FIELDS: &'static [&'static str] = &[
        "model",
        "prompt",
        "n",
        "stop",
        "max_tokens",
        "logprobs",
        "logprob_token_ids",
        "echo",
        "prompt_logprobs",
        "best_of",
        "stream",
        "stream_options",
        "structured_outputs",
    ];
    const IGNORED: &'static [&'static str] = crate::IGNORED_FIELDS;
}

/// The legacy `logprobs` object.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct LegacyLogprobs {
    /// Each token's text.
    pub tokens: Vec<String>,
    /// Each token's log-probability (`null` for an echoed prompt's first token).
    pub token_logprobs: Vec<Option<f64>>,
    /// Each position's alternatives, text → log-probability (`null` for an echoed
    /// prompt's first token).
    pub top_logprobs: Vec<Option<BTreeMap<String, f64>>>,
    /// Each token's byte offset in the text.
    pub text_offset: Vec<usize>,
}

impl Lm {
    fn legacy_logprobs(
        &self,
        steps: &[Step],
        plan: &crate::generation::Plan,
        start: usize,
    ) -> LegacyLogprobs {
        let mut out = LegacyLogprobs::default();
        let mut offset = start;
        for step in steps {
            let t = self.token_logprob(step, plan.mode, plan.top_logprobs);
            out.text_offset.push(offset);
            offset += step.text.len();
            out.top_logprobs.push(Some(
                t.top_logprobs
                    .into_iter()
                    .map(|a| (a.token, a.logprob))
                    .collect(),
            ));
            out.tokens.push(t.token);
            out.token_logprobs.push(Some(t.logprob));
        }
        out
    }

    /// The echoed prompt: its text, and its tokens' log-probabilities from `scores` (one
    /// per token after the first) when `logprobs` asks, `top` alternatives each.
    fn echo(
        &self,
        prompt: &[u32],
        scores: &[PromptLogprob],
        logprobs: bool,
        top: usize,
    ) -> (String, Option<LegacyLogprobs>) {
        let tokenizer = self.model.tokenizer();
        let mut stream = dial_model::TextStream::default();
        let mut text = String::new();
        let mut out = LegacyLogprobs::default();
        for (i, &id) in prompt.iter().enumerate() {
            out.text_offset.push(text.len());
            text.push_str(&stream.push(&tokenizer.token_bytes(id)));
            out.tokens.push(self.piece(id).0);
            let score = i.checked_sub(1).and_then(|k| scores.get(k));
            out.token_logprobs.push(score.map(|s| s.logprob));
            out.top_logprobs.push(score.map(|s| {
                s.top
                    .iter()
                    .take(top)
                    .map(|&(id, logprob)| (self.piece(id).0, logprob))
                    .collect()
            }));
        }
        text.push_str(&stream.finish());
        (text, logprobs.then_some(out))
    }

    /// vLLM's `prompt_logprobs`: `null` for the first token, then per token a map from
    /// token id to its log-probability, rank and text: the prompt token and the `top`
    /// most likely.
    fn prompt_logprobs(&self, scores: &[PromptLogprob], top: usize) -> serde_json::Value {
        let entry = |id: u32, logprob: f64, rank: usize| serde_json::json!({"logprob": logprob, "rank": rank, "decoded_token": self.piece(id).0});
        let mut out = vec![serde_json::Value::Null];
        for s in scores {
            let mut map = serde_json::Map::new();
            map.insert(s.token.to_string(), entry(s.token, s.logprob, s.rank));
            for (k, &(id, logprob)) in s.top.iter().take(top).enumerate() {
                map.entry(id.to_string())
                    .or_insert_with(|| entry(id, logprob, k + 1));
            }
            out.push(serde_json::Value::Object(map));
        }
        serde_json::Value::Array(out)
    }
}

#[derive(Debug, Serialize)]
struct CompletionChoice {
    text: String,
    index: usize,
    logprobs: Option<LegacyLogprobs>,
    finish_reason: Option<&'static str>,
    /// vLLM's `prompt_logprobs`, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_logprobs: Option<serde_json::Value>,
}

/// The handler.
pub(crate) async fn create(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = body::parse::<CompletionRequest>(&bytes)?;
    let req = &body.api;
    let s = state.inner.lm(&req.model)?.clone();
    let echo = req.echo == Some(true);
    if let Some(b) = req.best_of
        && b != req.n.unwrap_or(1)
    {
        return Err(ApiError::invalid(
            "best_of",
            "unsupported_value",
            "`best_of` must equal `n`: dial returns every choice it draws",
        ));
    }
    crate::generation::check_stream_options(req.stream, req.stream_options.is_some())?;
    let prompt = match &req.prompt {
        Prompt::Text(t) => s.model.tokenizer().encode(t, true),
        Prompt::Tokens(ids) => {
            let vocab = s.model.vocab_size();
            if let Some(id) = ids.iter().find(|id| **id as usize >= vocab) {
                return Err(ApiError::invalid(
                    "prompt",
                    "invalid_token",
                    &format!("token id {id} is out of range for a vocabulary of {vocab}"),
                ));
            }
            ids.clone()
        }
    };
    let constraint = req
        .structured_outputs
        .as_ref()
        .map(crate::structured::StructuredOutputs::constraint)
        .transpose()?;
    if constraint.is_some() {
        s.grammar_built().await;
    }
    let plan = s.plan(Asked {
        params: &body.params,
        dial: &body.dial,
        max_tokens: req.max_tokens.map(|v| (v, "max_tokens")),
        stop: req.stop.as_ref(),
        n: req.n,
        logprobs: req.logprobs.is_some(),
        top_logprobs: req.logprobs.map(|v| (v, "logprobs")),
        logprob_token_ids: req.logprob_token_ids.as_deref(),
        prompt_logprobs: match (req.prompt_logprobs, echo && req.logprobs.is_some()) {
            (Some(v), _) => Some((v.max(req.logprobs.unwrap_or(0)), "prompt_logprobs")),
            (None, true) => req.logprobs.map(|v| (v, "logprobs")),
            (None, false) => None,
        },
        nothing_to_generate_ok: echo || req.prompt_logprobs.is_some(),
        prompt,
        prompt_param: "prompt",
        template_stops: Vec::new(),
        constraint: constraint.as_ref(),
    })?;
    let rx = s.submit(&plan)?;
    let id = new_id("cmpl-");
    let created = now();
    let prompt_tokens = plan.prompt.len();
    let echo_top = req.logprobs.unwrap_or(0) as usize;
    let scored_top = req.prompt_logprobs.map(|v| v as usize);
    if req.stream == Some(true) {
        let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        let model = s.model_id.clone();
        let inner = s.clone();
        let n = plan.choices.len();
        let mut offsets = vec![0usize; n];
        let mut generated = 0usize;
        let chunk = move |choices: serde_json::Value, usage: Option<&Usage>| {
            let mut v = serde_json::json!({
                "id": id, "object": "text_completion", "created": created,
                "model": model, "choices": choices,
            });
            if include_usage {
                v["usage"] = serde_json::to_value(usage).unwrap_or_default();
            }
            stream::data(&v)
        };
        let relaxed = plan.relaxed.clone();
        let sse = stream::sse(rx, n, Vec::new(), move |item| match item {
            Item::Engine(Event::Prefilled {
                choice,
                prompt_logprobs,
            }) => {
                if !echo && scored_top.is_none() {
                    return Out::more(vec![]);
                }
                // The first chunk of a choice: its echoed prompt and the prompt's scores.
                let (text, logprobs) = if echo {
                    inner.echo(&plan.prompt, &prompt_logprobs, plan.logprobs, echo_top)
                } else {
                    (String::new(), None)
                };
                offsets[choice] = text.len();
                let c = CompletionChoice {
                    text,
                    index: choice,
                    logprobs,
                    finish_reason: None,
                    prompt_logprobs: scored_top
                        .map(|top| inner.prompt_logprobs(&prompt_logprobs, top)),
                };
                Out::more(vec![chunk(serde_json::json!([c]), None)])
            }
            Item::Engine(Event::Token { choice, step }) => {
                generated += 1;
                let logprobs = plan.logprobs.then(|| {
                    inner.legacy_logprobs(std::slice::from_ref(&step), &plan, offsets[choice])
                });
                offsets[choice] += step.text.len();
                let c = CompletionChoice {
                    text: step.text.clone(),
                    index: choice,
                    logprobs,
                    finish_reason: None,
                    prompt_logprobs: None,
                };
                Out::more(vec![chunk(serde_json::json!([c]), None)])
            }
            Item::Engine(Event::Done { choice, finish, .. }) => {
                let c = CompletionChoice {
                    text: String::new(),
                    index: choice,
                    logprobs: None,
                    finish_reason: Some(finish.name()),
                    prompt_logprobs: None,
                };
                Out::more(vec![chunk(serde_json::json!([c]), None)])
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
    let completion_tokens: usize = outputs.iter().map(|o| o.steps.len()).sum();
    let choices: Vec<CompletionChoice> = outputs
        .iter()
        .enumerate()
        .map(|(index, o)| {
            let (mut text, mut logprobs) = if echo {
                s.echo(&plan.prompt, &o.prompt_logprobs, plan.logprobs, echo_top)
            } else {
                (String::new(), plan.logprobs.then(LegacyLogprobs::default))
            };
            if let Some(all) = logprobs.as_mut() {
                let generated = s.legacy_logprobs(&o.steps, &plan, text.len());
                all.tokens.extend(generated.tokens);
                all.token_logprobs.extend(generated.token_logprobs);
                all.top_logprobs.extend(generated.top_logprobs);
                all.text_offset.extend(generated.text_offset);
            }
            text.push_str(&o.text);
            CompletionChoice {
                text,
                index,
                logprobs,
                finish_reason: Some(o.finish.map_or("stop", |f| f.name())),
                prompt_logprobs: scored_top.map(|top| s.prompt_logprobs(&o.prompt_logprobs, top)),
            }
        })
        .collect();
    let steps: Vec<_> = outputs.first().map(|o| o.steps.clone()).unwrap_or_default();
    let rewinds = outputs.first().map_or(0, |o| o.rewinds);
    let dial: DialReport = s.dial_report(&plan, &steps, rewinds);
    let response = axum::Json(serde_json::json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": s.model_id,
        "choices": choices,
        "usage": Usage::new(prompt_tokens, completion_tokens),
        "dial": dial,
    }));
    Ok(with_relaxed_header(&plan.relaxed, response.into_response()))
}
