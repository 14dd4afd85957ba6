//! A tiny real model (a random Gemma 3 written as a GGUF by dial-model) behind the real
//! router, driven with `oneshot`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use dial_model::Model;
use dial_model::tiny::TinyGemma3;
use dial_server::{AppState, ServerConfig};
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::PathBuf;
use tower::ServiceExt;

pub const MODEL: &str = "dial-tiny";

/// Writes the tiny model once per test process (`chat` picks the file with a template).
pub fn model_path(chat_template: Option<&str>) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = if chat_template.is_some() {
        "dial-tiny-chat.gguf"
    } else {
        "dial-tiny.gguf"
    };
    let path = dir.join(name);
    if !path.exists() {
        let partial = dir.join(format!("{name}.{:?}", std::thread::current().id()));
        TinyGemma3 {
            chat_template: chat_template.map(str::to_string),
            ..TinyGemma3::default()
        }
        .write(&partial)
        .unwrap();
        std::fs::rename(&partial, &path).unwrap();
    }
    path
}

/// A second tiny model of other weights, under its own name (`dial-tiny-other`).
pub fn other_model() -> Model {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dial-tiny-other.gguf");
    if !path.exists() {
        let partial = dir.join(format!("other.{:?}", std::thread::current().id()));
        TinyGemma3 {
            seed: TinyGemma3::default().seed + 1,
            ..TinyGemma3::default()
        }
        .write(&partial)
        .unwrap();
        std::fs::rename(&partial, &path).unwrap();
    }
    Model::load(&path, |_, _| {}).unwrap()
}

pub fn model() -> Model {
    Model::load(&model_path(None), |_, _| {}).unwrap()
}

pub fn config() -> ServerConfig {
    ServerConfig {
        max_tokens_limit: 64,
        default_max_tokens: 8,
        ..ServerConfig::default()
    }
}

pub fn app_with(config: ServerConfig) -> Router {
    dial_server::app(AppState::new(model(), config))
}

pub fn app() -> Router {
    app_with(config())
}

/// An answer: status, headers, body text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The OpenAI error object, checked for shape.
    pub fn error(&self) -> Value {
        let v = self.json();
        let e = &v["error"];
        assert!(e["message"].is_string(), "{v}");
        assert!(e["type"].is_string(), "{v}");
        assert!(e.get("param").is_some() && e.get("code").is_some(), "{v}");
        assert!(
            self.text.len() <= 4096,
            "error body of {} bytes",
            self.text.len()
        );
        e.clone()
    }

    /// SSE events as (name, data) pairs.
    pub fn events(&self) -> Vec<(Option<String>, String)> {
        let mut out = Vec::new();
        for block in self.text.split("\n\n") {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if !data.is_empty() {
                out.push((name, data));
            }
        }
        out
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn post(app: &Router, path: &str, body: &str) -> Answer {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, request).await
}

pub async fn post_json(app: &Router, path: &str, body: &Value) -> Answer {
    post(app, path, &body.to_string()).await
}

pub async fn get(app: &Router, path: &str) -> Answer {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}
