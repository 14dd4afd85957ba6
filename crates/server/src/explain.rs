//! `POST /v1/explain`: the next-token distribution after a prompt, stage by stage, in the
//! `dial explain --json` schema (docs/explain-json.md), without generating. The logits of
//! recent prompts are cached, so calls that only move a knob skip the model entirely.

use crate::body::{self, Endpoint};
use crate::engine::Job;
use crate::error::ApiError;
use crate::prompt::Message;
use crate::state::{AppState, Inner};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Prompts whose logits are kept (each costs `4 · vocab` bytes: 1 MiB for Gemma 3).
const CACHED_PROMPTS: usize = 8;
/// Most rows a report may list.
const MAX_ROWS: u64 = 1000;

/// An explain request: a prompt (or messages), the knobs beside it, and how many rows.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ExplainRequest {
    /// The served model's id (optional here).
    pub model: Option<String>,
    /// Text to continue (tokenized with BOS).
    pub prompt: Option<String>,
    /// Or a conversation, through the chat template.
    pub messages: Option<Vec<Message>>,
    /// Tokens to list, 1 to 1000 (default 20); the rest get one summary row.
    pub top: Option<u64>,
}

impl Endpoint for ExplainRequest {
    const FIELDS: &'static [&'static str] = &["model", "prompt", "messages", "top"];
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

impl Inner {
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

/// The handler.
pub(crate) async fn explain(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let s = state.inner.clone();
    let body = body::parse::<ExplainRequest>(&bytes)?;
    let req = &body.api;
    if let Some(m) = &req.model {
        s.check_model(m)?;
    }
    let (prompt, param) = match (&req.prompt, &req.messages) {
        (Some(p), None) => (s.model.tokenizer().encode(p, true), "prompt"),
        (None, Some(m)) => (
            s.encode_rendered(&s.template.render(m, "messages")?),
            "messages",
        ),
        _ => {
            return Err(ApiError::invalid(
                "prompt",
                "missing_required_parameter",
                "give exactly one of `prompt` and `messages`",
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
    let rows = match req.top {
        None => 20,
        Some(n) if (1..=MAX_ROWS).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::invalid(
                "top",
                "invalid_value",
                &format!("`top` = {n} is out of range (expected 1 to {MAX_ROWS})"),
            ));
        }
    };
    let knobs = s.model.knobs(&body.params)?;
    let mut sampler = dial_sampling::Sampler::with_order(
        knobs,
        body.params.order().clone(),
        body.params.seed().unwrap_or(0),
    )
    .map_err(|e| ApiError::invalid("order", "invalid_value", &e.to_string()))?;
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
    Ok(response)
}
