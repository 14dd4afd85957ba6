//! Every error the server returns, in the OpenAI shape:
//! `{"error": {"message", "type", "param", "code"}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dial_model::ModelError;
use dial_sampling::ParamsError;
use serde::Serialize;

/// Longest message kept: error bodies stay far below 4 KiB whatever the input.
const MAX_MESSAGE: usize = 1024;
/// Longest parameter name kept.
const MAX_PARAM: usize = 128;

/// An error answer: its status and the OpenAI error object.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `not_found_error`,
    /// `rate_limit_error` or `server_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The request parameter at fault, if one is.
    pub param: Option<String>,
    /// A stable machine-readable code.
    pub code: Option<&'static str>,
    /// Seconds to wait before retrying (a full queue).
    #[serde(skip)]
    retry_after: Option<u64>,
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: &str) -> Self {
        ApiError {
            status,
            message: truncate(message, MAX_MESSAGE),
            kind,
            param: None,
            code: Some(code),
            retry_after: None,
        }
    }

    /// A 404 on a server started with no language model.
    pub fn no_model() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "no_model",
            "this server runs with no language model (dial serve --no-model); only the voice routes and explain on `logits` work",
        )
    }

    /// A 400 about `param`.
    pub fn invalid(param: &str, code: &'static str, message: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
        .with_param(param)
    }

    /// A 400 about the body as a whole (malformed JSON, not an object).
    pub fn bad_body(code: &'static str, message: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
    }

    /// A 401: no key, or the wrong one.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            "missing or invalid API key: send `Authorization: Bearer KEY`",
        )
    }

    /// A 404 for a model this server does not serve.
    pub fn model_not_found(asked: &str, served: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            &format!(
                "the model `{}` does not exist here; this server serves `{served}` (GET /v1/models)",
                truncate(asked, MAX_PARAM)
            ),
        )
        .with_param("model")
    }

    /// A 404 for a route that does not exist.
    pub fn no_route(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "unknown_route",
            &format!(
                "no route {method} {}; see GET /openapi.json",
                truncate(path, MAX_PARAM)
            ),
        )
    }

    /// A 405 for a known route and the wrong method.
    pub fn wrong_method(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            &format!("{method} is not allowed on {}", truncate(path, MAX_PARAM)),
        )
    }

    /// A 413 for a body over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            &format!("the request body is over the server's limit of {limit} bytes"),
        )
    }

    /// A 429: the queue is full.
    pub fn queue_full(depth: usize) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "queue_full",
            &format!("the server's queue is full ({depth} requests waiting); retry shortly"),
        );
        e.retry_after = Some(1);
        e
    }

    /// A 503: the server is draining before it stops; another replica should take the
    /// request.
    pub fn draining(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "draining",
            "the server is shutting down and takes no new requests; retry on another replica",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// A 400: the request's worst-case KV cache is more than the whole pool, so it could
    /// never run.
    pub fn kv_cache_too_small(needed: usize, capacity: usize) -> Self {
        Self::invalid(
            "max_tokens",
            "kv_cache_exceeded",
            &format!(
                "this request needs up to {} MiB of KV cache (its prompt plus max_tokens, for \
                 every choice) and the server's pool holds {} MiB; ask for fewer tokens or \
                 choices, or start the server with a larger --kv-cache-mb",
                needed.div_ceil(1 << 20),
                capacity >> 20
            ),
        )
    }

    /// A 500: dial's fault, not the request's.
    pub fn internal(message: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal_error",
            message,
        )
    }

    /// A 503: the server is shutting down.
    pub fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "shutting_down",
            "the server is shutting down",
        )
    }

    /// Names the parameter at fault.
    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(truncate(param, MAX_PARAM));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body: `{"error": {...}}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self })
    }
}

pub(crate) use dial_model::panic_message;

impl From<ParamsError> for ApiError {
    fn from(e: ParamsError) -> Self {
        let code = match e {
            ParamsError::Unknown { .. } => "unknown_parameter",
            ParamsError::WrongType { .. } => "invalid_type",
            ParamsError::OutOfRange { .. } => "invalid_value",
            ParamsError::NeedsTokenizer { .. } | ParamsError::Config { .. } => "invalid_value",
        };
        ApiError::invalid(e.param(), code, &e.to_string())
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        match &e {
            ModelError::Params(p) => p.clone().into(),
            ModelError::ContextFull { .. } => {
                ApiError::invalid("messages", "context_length_exceeded", &e.to_string())
            }
            ModelError::EmptyPrompt => ApiError::invalid("prompt", "empty_prompt", &e.to_string()),
            ModelError::TokenOutOfRange { .. } => {
                ApiError::invalid("prompt", "invalid_token", &e.to_string())
            }
            ModelError::Knobs(_) => ApiError::invalid("order", "invalid_value", &e.to_string()),
            _ if e.is_caller_fault() => ApiError::bad_body("invalid_request", &e.to_string()),
            _ => ApiError::internal(&e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let retry = self.retry_after;
        let mut response = (status, Json(self.body())).into_response();
        if let Some(seconds) = retry
            && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
