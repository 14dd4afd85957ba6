//! Errors of the ElevenLabs routes, in ElevenLabs' shapes: a 422 lists every invalid
//! field as `{"detail": [{"loc", "msg", "type"}]}`; anything else is
//! `{"detail": {"status", "message"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One invalid field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    /// Where: `["body", "voice_settings", "stability"]`.
    pub loc: Vec<String>,
    /// What is wrong, for a person.
    pub msg: String,
    /// A stable machine-readable kind.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl FieldError {
    /// A field error at `loc`.
    pub fn new(loc: &[&str], kind: &'static str, msg: impl Into<String>) -> Self {
        FieldError {
            loc: loc.iter().map(|s| s.to_string()).collect(),
            msg: msg.into(),
            kind,
        }
    }
}

/// An error answer on an ElevenLabs route.
#[derive(Debug, Clone, PartialEq)]
pub enum ElevenError {
    /// A 422 with every invalid field.
    Invalid(Vec<FieldError>),
    /// Any other status, with ElevenLabs' `status` code and a message.
    Status {
        /// The HTTP status.
        http: StatusCode,
        /// ElevenLabs' code: `voice_not_found`, `max_character_limit_exceeded`, …
        status: &'static str,
        /// For a person.
        message: String,
    },
}

impl ElevenError {
    /// Any non-422 error.
    pub fn status(http: StatusCode, status: &'static str, message: impl Into<String>) -> Self {
        ElevenError::Status {
            http,
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ElevenError {
    fn into_response(self) -> Response {
        match self {
            ElevenError::Invalid(fields) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"detail": fields})),
            )
                .into_response(),
            ElevenError::Status {
                http,
                status,
                message,
            } => {
                let mut r = (
                    http,
                    Json(json!({"detail": {"status": status, "message": message}})),
                )
                    .into_response();
                if http == StatusCode::TOO_MANY_REQUESTS {
                    r.headers_mut()
                        .insert("retry-after", axum::http::HeaderValue::from_static("1"));
                }
                r
            }
        }
    }
}
