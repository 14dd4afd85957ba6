//! The playground at `/`: one page, its script and its style, embedded from `web/` at
//! build time so `dial serve` needs no other file and no network.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The prompt the page opens with; the server warms its logits at start.
pub const DEFAULT_PROMPT: &str = "The capital of France is";

/// The page's files: path, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../../web/index.html"),
    ),
    (
        "/playground.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/playground.js"),
    ),
    (
        "/playground.css",
        "text/css; charset=utf-8",
        include_str!("../../../web/playground.css"),
    ),
];

fn asset(path: &str) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, body)) => {
            let mut response = (*body).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            // Small files, revalidated each time: a rebuilt server is seen at once.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert(
                "content-security-policy",
                HeaderValue::from_static(
                    "default-src 'self'; connect-src 'self' blob:; img-src 'self' data:; media-src 'self' blob:; style-src 'self'; script-src 'self'",
                ),
            );
            response
        }
        None => crate::ApiError::no_route("GET", path).into_response(),
    }
}

/// `GET /`.
pub(crate) async fn index() -> Response {
    asset("/")
}

/// `GET /playground.js`.
pub(crate) async fn script() -> Response {
    asset("/playground.js")
}

/// `GET /playground.css`.
pub(crate) async fn style() -> Response {
    asset("/playground.css")
}
