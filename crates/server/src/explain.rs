//! `POST /v1/explain`: the next-token distribution after a prompt, stage by stage, in the
//! `dial explain --json` schema (docs/explain-json.md), without generating. The logits of
//! recent prompts are cached, so calls that only move a knob skip the model entirely.
//! A request may instead bring its own row of logits (the note's six-token example, or
//! another model's output), which is explained by the knobs alone.

use crate::body::{self, Endpoint};
use crate::engine::Job;
use crate::error::ApiError;
use crate::prompt::Message;
use crate::state::{AppState, Lm};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use dial_sampling::{Knobs, Sampler, SamplingParams};
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Prompts whose logits are kept (each costs `4 · vocab` bytes: 1 MiB for Gemma 3).
const CACHED_PROMPTS: usize = 8;
/// Most rows a report may list.
const MAX_ROWS: u64 = 1000;
/// Longest row of logits a request may bring (a large vocabulary).
pub const MAX_LOGITS: usize = 1 << 18;

/// An explain request: a prompt (or messages), the knobs beside it, and how many rows.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ExplainRequest {
    /// The served model's id (optional here).
    pub model: Option<String>,
    /// Text to continue (tokenized with BOS).
    pub prompt: Option<String>,
    /// Or a conversation, through the chat template.
    pub messages: Option<Vec<Message>>,
    /// Or a row of logits, explained with no model: token `i` has logit `logits[i]`.
    pub logits: Option<Vec<f32>>,
    /// Names for the `logits` row's tokens, one each (shown as each row's `text`).
    pub tokens: Option<Vec<String>>,
    /// Tokens to list, 1 to 1000 (default 20); the rest get one summary row.
    pub top: Option<u64>,
    /// A constraint on the output (vLLM's shape): its mask is the chain's first stage,
    /// `grammar`, at the start of the output. Needs `prompt` or `messages`.
    pub structured_outputs: Option<crate::structured::StructuredOutputs>,
}

impl Endpoint for ExplainRequest {
    const FIELDS: &'static [&'static str] = &[
        "model",
        "prompt",
        "messages",
        "logits",
        "tokens",
        "top",
        "structured_outputs",
    ];
    const IGNORED: &'static [&'static str] = &[];
    // Explain always reports the trace and both entropies; it draws nothing.
    const TAKES_DIAL: bool = false;
}

/// A prompt's token ids and its next-token logits.
type Entry = (Vec<u32>, Arc<Vec<f32>>);

/// Recent prompts and their next-token logits, most recent first.
#[derive(Debug, Default)]
pub struct LogitsCache {
    entries: Mutex<VecDeque<Entry>>,
}

impl LogitsCache {
    fn get(&self, prompt: &[u32]) -> Option<Arc<Vec<f32>>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let at = entries.iter().position(|(p, _)| p == prompt)?;
        let entry = entries.remove(at)?;
        let logits = entry.1.clone();
        entries.push_front(entry);
        Some(logits)
    }

    fn put(&self, prompt: Vec<u32>, logits: Arc<Vec<f32>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(p, _)| *p != prompt);
        entries.push_front((prompt, logits));
        entries.truncate(CACHED_PROMPTS);
    }
}

impl Lm {
    /// The next-token logits after `prompt`, from the cache or the engine; `true` on a hit.
    async fn logits(&self, prompt: &[u32]) -> Result<(Arc<Vec<f32>>, bool), ApiError> {
        if let Some(l) = self.logits_cache.get(prompt) {
            return Ok((l, true));
        }
        let (reply, rx) = oneshot::channel();
        self.engine.submit(Job::Logits {
            prompt: prompt.to_vec(),
            reply,
        })?;
        let logits = rx
            .await
            .map_err(|_| ApiError::internal("the engine stopped before the prefill was done"))??;
        let logits = Arc::new(logits);
        self.logits_cache.put(prompt.to_vec(), logits.clone());
        Ok((logits, false))
    }
}

impl AppState {
    /// Computes each model's logits after the playground's default prompt in the
    /// background, so the page's first chart is a cache hit rather than a prefill.
    pub fn warm_playground(&self) {
        let message =
            serde_json::json!([{"role": "user", "content": crate::playground::DEFAULT_PROMPT}]);
        let Ok(messages) = serde_json::from_value::<Vec<Message>>(message) else {
            return;
        };
        for inner in self.inner.lms.iter().cloned() {
            let Ok(text) = inner.template.render(&messages, "messages") else {
                continue;
            };
            let prompt = inner.encode_rendered(&text);
            let (reply, rx) = oneshot::channel();
            let job = Job::Logits {
                prompt: prompt.clone(),
                reply,
            };
            if inner.engine.submit(job).is_ok() {
                std::thread::spawn(move || {
                    if let Ok(Ok(logits)) = rx.blocking_recv() {
                        inner.logits_cache.put(prompt, Arc::new(logits));
                    }
                });
            }
        }
    }
}

/// The handler.
pub(crate) async fn explain(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = body::parse::<ExplainRequest>(&bytes)?;
    let req = &body.api;
    let rows = rows(req.top)?;
    if req.tokens.is_some() && req.logits.is_none() {
        return Err(ApiError::invalid(
            "tokens",
            "invalid_value",
            "`tokens` names the tokens of `logits`; give `logits` too",
        ));
    }
    if let (Some(logits), None, None) = (&req.logits, &req.prompt, &req.messages) {
        if req.structured_outputs.is_some() {
            return Err(ApiError::invalid(
                "structured_outputs",
                "invalid_value",
                "a constraint needs the model's vocabulary: give `prompt` or `messages`, not `logits`",
            ));
        }
        // A row of logits needs no model; a `model` it names must still be this one.
        if let Some(m) = &req.model
            && !state.inner.lms.is_empty()
        {
            state.inner.lm(m)?;
        }
        return explain_row(logits, req.tokens.as_deref(), &body.params, rows);
    }
    let s = match &req.model {
        Some(m) => state.inner.lm(m)?.clone(),
        None => state.inner.default_lm()?.clone(),
    };
    let (prompt, param) = match (&req.prompt, &req.messages, &req.logits) {
        (Some(p), None, None) => (s.model.tokenizer().encode(p, true), "prompt"),
        (None, Some(m), None) => (
            s.encode_rendered(&s.template.render(m, "messages")?),
            "messages",
        ),
        _ => {
            return Err(ApiError::invalid(
                "prompt",
                "missing_required_parameter",
                "give exactly one of `prompt`, `messages` and `logits`",
            ));
        }
    };
    if prompt.is_empty() {
        return Err(ApiError::invalid(
            param,
            "empty_prompt",
            "the prompt is empty",
        ));
    }
    if prompt.len() > s.model.context_length() {
        return Err(ApiError::invalid(
            param,
            "context_length_exceeded",
            &format!(
                "the prompt is {} tokens; the model's context is {}",
                prompt.len(),
                s.model.context_length()
            ),
        ));
    }
    let knobs = s.model.knobs(&body.params)?;
    let mut sampler = sampler(knobs, &body.params)?;
    let mut relaxed = Vec::new();
    if let Some(so) = &req.structured_outputs {
        let requested = so.constraint()?;
        s.grammar_built().await;
        let engine = s
            .grammar()
            .map_err(|e| crate::structured::grammar_error(requested.param, e))?;
        let compiled = engine
            .compile(&requested.constraint)
            .map_err(|e| crate::structured::grammar_error(requested.param, &e))?;
        relaxed = compiled.relaxed().to_vec();
        sampler.add_constraint(Box::new(engine.start_compiled(&compiled)));
    }
    let (logits, hit) = s.logits(&prompt).await?;
    let model = s.model.clone();
    let report = tokio::task::spawn_blocking(move || {
        model.explain_logits(&prompt, &logits, &mut sampler, rows)
    })
    .await
    .map_err(|e| ApiError::internal(&format!("explain failed inside dial: {e}")))??;
    let mut response = axum::Json(report).into_response();
    response.headers_mut().insert(
        "x-dial-cache",
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    Ok(crate::generation::with_relaxed_header(&relaxed, response))
}

/// How many rows `top` asks for.
fn rows(top: Option<u64>) -> Result<usize, ApiError> {
    match top {
        None => Ok(20),
        Some(n) if (1..=MAX_ROWS).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::invalid(
            "top",
            "invalid_value",
            &format!("`top` = {n} is out of range (expected 1 to {MAX_ROWS})"),
        )),
    }
}

fn sampler(knobs: Knobs, params: &SamplingParams) -> Result<Sampler, ApiError> {
    Sampler::with_order(knobs, params.order().clone(), params.seed().unwrap_or(0))
        .map_err(|e| ApiError::invalid("order", "invalid_value", &e.to_string()))
}

/// A request's own row of logits, through the knobs alone: no model, no tokenizer, no
/// history (so the penalties and DRY see nothing to penalise).
fn explain_row(
    logits: &[f32],
    tokens: Option<&[String]>,
    params: &SamplingParams,
    rows: usize,
) -> Result<Response, ApiError> {
    if logits.is_empty() || logits.len() > MAX_LOGITS {
        return Err(ApiError::invalid(
            "logits",
            "invalid_value",
            &format!(
                "`logits` has {} entries (expected 1 to {MAX_LOGITS})",
                logits.len()
            ),
        ));
    }
    if let Some(t) = tokens
        && t.len() != logits.len()
    {
        return Err(ApiError::invalid(
            "tokens",
            "invalid_value",
            &format!(
                "`tokens` names {} tokens but `logits` has {}",
                t.len(),
                logits.len()
            ),
        ));
    }
    let knobs = params.knobs()?;
    let report = sampler(knobs, params)?
        .explain_report(logits, rows)
        .map_err(|e| ApiError::invalid("logits", "invalid_value", &e.to_string()))?;
    let report = report.with_texts(|id| tokens.and_then(|t| t.get(id as usize)).cloned());
    Ok(axum::Json(report).into_response())
}
