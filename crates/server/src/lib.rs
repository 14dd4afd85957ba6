//! `dial serve`: the OpenAI Responses, Chat Completions and Completions APIs and dial's
//! explain, over one or more models, each shared by concurrent requests; ElevenLabs'
//! text-to-speech routes over dial's voices; and the playground at `/`.
//!
//! [`app`] builds the router; [`AppState::new`] loads nothing itself: it takes a loaded
//! [`dial_model::Model`] and starts the [`engine`] that steps every request's sequence.
//! [`AppState::with_models`] serves several, an engine and KV pool each, chosen by a
//! request's `model`; [`AppState::voice_only`] serves voices with no language model.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let model = dial_model::Model::load("model.gguf".as_ref(), |_, _| {})?;
//! let state = dial_server::AppState::new(model, dial_server::ServerConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, dial_server::app(state)).await?;
//! # Ok(())
//! # }
//! ```

mod body;
pub mod chat;
pub mod completions;
pub mod dial_options;
mod eleven_error;
pub mod engine;
mod error;
pub mod explain;
pub mod generation;
pub mod knobs;
mod metrics;
mod middleware;
mod openapi;
pub mod playground;
pub mod prompt;
pub mod responses;
mod routes;
pub mod speech;
mod state;
mod stream;
pub mod structured;
pub mod takes;

pub use eleven_error::{ElevenError, FieldError};
pub use error::ApiError;
pub use metrics::Metrics;
pub use openapi::openapi;
pub use state::{AppState, DuplicateModelId, ServedModel, ServerConfig};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use routes::Api;
use serde_json::json;
use state::{Inner, Lm};
use std::sync::Arc;

/// OpenAI fields every generation endpoint accepts and does not act on. They change
/// nothing about the tokens, so dial takes them rather than break existing clients.
pub const IGNORED_FIELDS: &[&str] = &[
    "user",
    "store",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "metadata",
];

/// The router, with every route of [`routes::routes`], each API's own auth check and
/// error shape, the body limit, request logging and OpenAI-shaped errors for unknown
/// routes and wrong methods.
pub fn app(state: AppState) -> Router {
    let limit = state.inner.config.body_limit;
    let mut openai = Router::new();
    let mut eleven = Router::new();
    let mut open = Router::new();
    for route in routes::routes() {
        let router = match route.api {
            Api::OpenAi => &mut openai,
            Api::ElevenLabs => &mut eleven,
            Api::Open => &mut open,
        };
        *router = std::mem::take(router).route(route.path, route.handler);
    }
    let openai = openai
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::admit_openai,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::errors_in_openai_shape,
        ));
    let eleven = eleven
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::admit_elevenlabs,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::errors_in_elevenlabs_shape,
        ));
    Router::new()
        .merge(openai)
        .merge(eleven)
        .merge(open)
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
        .with_state(state)
}

impl Inner {
    /// The language model `asked` names; a 404 otherwise, or on a voice-only server.
    pub(crate) fn lm(&self, asked: &str) -> Result<&Arc<Lm>, ApiError> {
        if self.lms.is_empty() {
            return Err(ApiError::no_model());
        }
        self.lms
            .iter()
            .find(|lm| lm.model_id == asked || lm.aliases.iter().any(|a| a == asked))
            .ok_or_else(|| {
                let served: Vec<&str> = self.lms.iter().map(|lm| lm.model_id.as_str()).collect();
                ApiError::model_not_found(asked, &served.join("`, `"))
            })
    }

    /// The default model: the first served.
    pub(crate) fn default_lm(&self) -> Result<&Arc<Lm>, ApiError> {
        self.lms.first().ok_or_else(ApiError::no_model)
    }

    /// Requests waiting for the engines.
    fn queued(&self) -> usize {
        self.lms.iter().map(|lm| lm.engine.queued()).sum()
    }
}

impl Lm {
    /// Token ids of a rendered chat prompt: BOS once, even when the template wrote it.
    pub(crate) fn encode_rendered(&self, text: &str) -> Vec<u32> {
        let tokenizer = self.model.tokenizer();
        let mut ids = tokenizer.encode(text, true);
        if let Some(bos) = tokenizer.bos()
            && ids.len() >= 2
            && ids[0] == bos
            && ids[1] == bos
        {
            ids.remove(0);
        }
        ids
    }

    fn model_object(&self) -> serde_json::Value {
        json!({
            "id": self.model_id,
            "object": "model",
            "created": self.created,
            "owned_by": "dial",
            "dial": {
                "architecture": self.model.architecture(),
                "context_length": self.model.context_length(),
                "vocab_size": self.model.vocab_size(),
                "chat_template": if self.template.is_plain() { "dial plain" } else { "gguf" },
                "aliases": self.aliases,
            },
        })
    }
}

pub(crate) async fn models(State(state): State<AppState>) -> Response {
    let data: Vec<_> = state.inner.lms.iter().map(|lm| lm.model_object()).collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

pub(crate) async fn model(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    Ok(axum::Json(state.inner.lm(&id)?.model_object()))
}

pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let engines: serde_json::Map<String, serde_json::Value> = state
        .inner
        .lms
        .iter()
        .map(|lm| (lm.model_id.clone(), json!(lm.engine.status())))
        .collect();
    // Not ready while draining, so load balancers stop routing here.
    let status = if state.is_draining() {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    } else {
        axum::http::StatusCode::OK
    };
    let body = axum::Json(json!({
        "status": if state.is_draining() { "draining" } else { "ok" },
        "model": state.model_id(),
        "models": state.model_ids(),
        "voices": speech::served_voice_ids(&state),
        "queued": state.inner.queued(),
        "engine": state.inner.lms.first().map(|lm| lm.engine.status()),
        "engines": engines,
    }));
    (status, body).into_response()
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.inner.metrics.render(state.inner.queued());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

pub(crate) async fn openapi_json() -> Response {
    axum::Json(openapi()).into_response()
}

async fn no_route(method: Method, uri: Uri) -> Response {
    ApiError::no_route(method.as_str(), uri.path()).into_response()
}

async fn wrong_method(method: Method, uri: Uri) -> Response {
    ApiError::wrong_method(method.as_str(), uri.path()).into_response()
}
