//! The layers around every route: request ids and logs; letting a request in (not while
//! draining, not without the API key, not over the body limit); and each API's shape for
//! the errors axum itself produces.

use crate::eleven_error::ElevenError;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

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
    // The route as the table names it (`/v1/models/{id}`), so labels stay few.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status();
    state.inner.metrics.count_request(&route, status.as_u16());
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

/// Whether `--api-key` is off, or the request brings the key as `Authorization: Bearer
/// KEY` or ElevenLabs' `xi-api-key: KEY`.
fn has_key(state: &AppState, request: &Request) -> bool {
    let Some(key) = &state.inner.config.api_key else {
        return true;
    };
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let xi = headers.get("xi-api-key").and_then(|v| v.to_str().ok());
    let matches =
        |g: Option<&str>| g.is_some_and(|g| constant_time_eq(g.as_bytes(), key.as_bytes()));
    matches(bearer) || matches(xi)
}

/// Most bytes of an over-long body read and dropped before its 413 goes out.
const LINGER_BYTES: usize = 64 << 20;
/// Longest that reading an over-long body may take before its 413 goes out.
const LINGER: std::time::Duration = std::time::Duration::from_secs(10);

/// The request, when its body is within `--body-limit`; `None` when it is over.
///
/// An over-long body is read and dropped, up to [`LINGER_BYTES`] and [`LINGER`], before
/// the 413 goes out (a lingering close, as nginx does): a client that writes its whole
/// body before reading (Python's `http.client`) then gets the 413, not a broken pipe.
/// A body within a declared `Content-Length` goes on untouched; one without a length
/// (chunked) is read here, up to the limit.
async fn within_limit(state: &AppState, request: Request) -> Option<Request> {
    use tokio_stream::StreamExt as _;
    let limit = state.inner.config.body_limit;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
    match declared {
        Some(n) if n <= limit as u64 => return Some(request),
        None if !chunked => return Some(request),
        _ => {}
    }
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut kept: Vec<u8> = Vec::new();
    let mut over = declared.is_some();
    let mut read = 0usize;
    let deadline = tokio::time::Instant::now() + LINGER;
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, stream.next()).await {
        read += chunk.len();
        if !over {
            kept.extend_from_slice(&chunk);
            over = kept.len() > limit;
        }
        if over && read > LINGER_BYTES {
            break;
        }
    }
    (!over).then(|| Request::from_parts(parts, axum::body::Body::from(kept)))
}

/// `Retry-After` for requests refused while draining.
const DRAINING_RETRY_SECONDS: u64 = 1;

/// Why a request was not let in.
enum Refusal {
    /// The server is draining (a 503).
    Draining,
    /// `--api-key` is set and the request lacks it (a 401).
    NoKey,
    /// The body is over `--body-limit` (a 413).
    TooLarge(usize),
}

/// Lets a request in: not while draining, not without the key (with `--api-key`), and
/// not with a body over the limit; `refuse` answers each refusal in the route's API's
/// shape.
async fn admit(
    state: &AppState,
    request: Request,
    next: Next,
    refuse: fn(Refusal) -> Response,
) -> Response {
    if state.is_draining() {
        return refuse(Refusal::Draining);
    }
    if !has_key(state, &request) {
        return refuse(Refusal::NoKey);
    }
    match within_limit(state, request).await {
        Some(request) => next.run(request).await,
        None => refuse(Refusal::TooLarge(state.inner.config.body_limit)),
    }
}

/// [`admit`] for the OpenAI (and dial) routes: refusals in OpenAI's shape.
pub(crate) async fn admit_openai(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    admit(&state, request, next, |refusal| {
        match refusal {
            Refusal::Draining => ApiError::draining(DRAINING_RETRY_SECONDS),
            Refusal::NoKey => ApiError::unauthorized(),
            Refusal::TooLarge(limit) => ApiError::too_large(limit),
        }
        .into_response()
    })
    .await
}

/// [`admit`] for the ElevenLabs routes: refusals in ElevenLabs' shape.
pub(crate) async fn admit_elevenlabs(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    admit(&state, request, next, |refusal| match refusal {
        Refusal::Draining => {
            let mut response = ElevenError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "draining",
                "the server is shutting down and takes no new requests; retry on another replica",
            )
            .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(DRAINING_RETRY_SECONDS),
            );
            response
        }
        Refusal::NoKey => ElevenError::status(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "missing or invalid API key: send `xi-api-key: KEY` or `Authorization: Bearer KEY`",
        )
        .into_response(),
        Refusal::TooLarge(limit) => eleven_too_large(limit).into_response(),
    })
    .await
}

/// Compares without an early exit, so timing does not reveal the key's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error axum answered itself (an over-long body, a body it could not read): not JSON.
fn is_axum_error(response: &Response) -> bool {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    (status.is_client_error() || status.is_server_error()) && !is_json
}

/// Rewrites errors that axum answers itself into ElevenLabs' error shape; dial's own
/// errors are JSON already and pass through.
pub(crate) async fn errors_in_elevenlabs_shape(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if !is_axum_error(&response) {
        return response;
    }
    let status = response.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return eleven_too_large(state.inner.config.body_limit).into_response();
    }
    let message = format!(
        "the request was rejected: {}",
        status.canonical_reason().unwrap_or("bad request")
    );
    ElevenError::status(status, "invalid_request", message).into_response()
}

/// A 413 in ElevenLabs' shape.
fn eleven_too_large(limit: usize) -> ElevenError {
    ElevenError::status(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is over the {limit} byte limit"),
    )
}

/// Rewrites errors that axum answers itself (an over-long body, a bad path) into the
/// OpenAI error shape; dial's own errors are JSON already and pass through.
pub(crate) async fn errors_in_openai_shape(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if !is_axum_error(&response) {
        return response;
    }
    let status = response.status();
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
