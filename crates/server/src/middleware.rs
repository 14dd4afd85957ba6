//! The layers around every route: request ids and logs, the API key, and OpenAI-shaped
//! bodies for the errors axum itself produces.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The routes, as metrics label them.
const ROUTES: &[&str] = &[
    "/",
    "/playground.js",
    "/playground.css",
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/explain",
    "/v1/knobs",
    "/v1/models",
    "/v1/voices",
    "/health",
    "/metrics",
    "/openapi.json",
];

fn route_label(path: &str) -> &'static str {
    if path.starts_with("/v1/models/") {
        return "/v1/models/{id}";
    }
    if let Some(rest) = path.strip_prefix("/v1/text-to-speech/") {
        return if rest.ends_with("/stream") {
            "/v1/text-to-speech/{voice_id}/stream"
        } else if rest.ends_with("/takes") {
            "/v1/text-to-speech/{voice_id}/takes"
        } else if rest.ends_with("/with-timestamps") {
            "/v1/text-to-speech/{voice_id}/with-timestamps"
        } else {
            "/v1/text-to-speech/{voice_id}"
        };
    }
    if path == "/v1/voices/settings/default" {
        return "/v1/voices/settings/default";
    }
    if path.starts_with("/v1/voices/") {
        return "/v1/voices/{voice_id}";
    }
    ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("unmatched")
}

/// Gives each request an id (`x-request-id`), counts it, and logs one line when it is
/// answered.
pub(crate) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = format!("req_{:08x}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let start = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status();
    let route = route_label(&path);
    state.inner.metrics.count_request(route, status.as_u16());
    tracing::info!(
        request_id = %id,
        %method,
        path = %route,
        status = status.as_u16(),
        ms = start.elapsed().as_millis() as u64,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// With `--api-key`, every route but `/health` and the playground's files needs `Authorization: Bearer KEY` or
/// ElevenLabs' `xi-api-key: KEY`.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(key) = &state.inner.config.api_key
        && request.uri().path() != "/health"
        && !crate::playground::is_asset(request.uri().path())
    {
        let headers = request.headers();
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let xi = headers.get("xi-api-key").and_then(|v| v.to_str().ok());
        let matches =
            |g: Option<&str>| g.is_some_and(|g| constant_time_eq(g.as_bytes(), key.as_bytes()));
        if !(matches(bearer) || matches(xi)) {
            let path = request.uri().path();
            if path.starts_with("/v1/text-to-speech") || path.starts_with("/v1/voices") {
                return crate::eleven_error::ElevenError::status(
                    StatusCode::UNAUTHORIZED,
                    "invalid_api_key",
                    "missing or invalid API key: send `xi-api-key: KEY` or `Authorization: Bearer KEY`",
                )
                .into_response();
            }
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

/// Compares without an early exit, so timing does not reveal the key's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Rewrites errors that axum answers itself (an over-long body, a bad path) into the
/// OpenAI error shape; dial's own errors are JSON already and pass through.
pub(crate) async fn errors_in_openai_shape(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(state.inner.config.body_limit),
        s if s.is_server_error() => ApiError::internal(&format!("the server failed: {s}")),
        s => ApiError::bad_body(
            "invalid_request",
            &format!(
                "the request was rejected: {}",
                s.canonical_reason().unwrap_or("bad request")
            ),
        ),
    };
    let mut out = error.into_response();
    *out.status_mut() = status;
    out
}

/// A panic in a handler: this request's 500, in the OpenAI shape.
pub(crate) fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = crate::error::panic_message(panic.as_ref());
    tracing::error!("a handler panicked: {what}");
    ApiError::internal(&format!("the request failed inside dial: {what}")).into_response()
}
