//! Concurrency, disconnects, a full queue and panics: each request's fate is its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dial_server::{AppState, ServerConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn chat(content: &str, seed: u64, max_tokens: u64, stream: bool) -> Value {
    json!({"model": MODEL, "messages": [{"role": "user", "content": content}],
           "seed": seed, "temperature": 1.2, "top_k": 50, "max_tokens": max_tokens, "stream": stream})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_seeded_streams_each_match_their_solo_run() {
    let app = app_with(ServerConfig {
        max_tokens_limit: 64,
        ..config()
    });
    let prompts = [
        "the cat", "hello", "sat on", "the mat", "world", "model", "user", "cat sat",
    ];
    let mut solo = Vec::new();
    for (i, p) in prompts.iter().enumerate() {
        let v = post_json(&app, "/v1/chat/completions", &chat(p, i as u64, 24, false))
            .await
            .json();
        solo.push(
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let tasks: Vec<_> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let app = app.clone();
            let body = chat(p, i as u64, 24, true);
            tokio::spawn(async move {
                let r = post_json(&app, "/v1/chat/completions", &body).await;
                r.events()
                    .iter()
                    .filter(|(_, d)| d != "[DONE]")
                    .filter_map(|(_, d)| {
                        let v: Value = serde_json::from_str(d).unwrap();
                        v["choices"][0]["delta"]["content"]
                            .as_str()
                            .map(str::to_string)
                    })
                    .collect::<String>()
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), solo[i], "stream {i}");
    }
}

/// A server on a loopback port; returns its address and state.
async fn serve(config: ServerConfig) -> (std::net::SocketAddr, AppState) {
    let state = AppState::new(model(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = dial_server::app(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

async fn open(addr: std::net::SocketAddr, body: &Value) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    s
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_a_constrained_stream_cancels_its_work_within_a_step() {
    let steps = Arc::new(AtomicUsize::new(0));
    let counter = steps.clone();
    let (addr, state) = serve(ServerConfig {
        max_concurrency: 1,
        max_tokens_limit: 2000,
        // Slow steps, so the disconnect lands mid-generation; counts every unit of work.
        step_hook: Some(Arc::new(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(10));
        })),
        ..config()
    })
    .await;
    // Mid-stream, under a constraint that cannot finish before max_tokens: read the first
    // event, then hang up.
    let mut constrained = chat("the cat", 1, 1000, true);
    constrained["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "long",
        "schema": {"type": "array", "items": {"type": "integer"}, "minItems": 5000}}});
    let mut stream = open(addr, &constrained).await;
    let mut buf = vec![0u8; 4096];
    let mut seen = String::new();
    while !seen.contains("data: ") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0);
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // While queued: a second request waits behind the first (one sequence at a time).
    let queued = open(addr, &chat("hello", 2, 1000, false)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(stream);
    drop(queued);
    wait_for("both cancellations", Duration::from_secs(5), || {
        state.metrics().cancelled() >= 2
    })
    .await;
    let at_cancel = steps.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // At most the one step in flight when the cancellation was seen.
    assert!(
        steps.load(Ordering::SeqCst) <= at_cancel + 1,
        "work went on after the disconnect"
    );
    assert!(
        at_cancel < 1000,
        "the stream ran to its end: {at_cancel} steps"
    );
    // The server still answers.
    let app = dial_server::app(state);
    let r = post_json(&app, "/v1/chat/completions", &chat("hello", 3, 2, false)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_a_429_with_retry_after() {
    let app = app_with(ServerConfig {
        max_concurrency: 1,
        max_queue: 1,
        max_tokens_limit: 100,
        step_hook: Some(Arc::new(|_| std::thread::sleep(Duration::from_millis(5)))),
        ..config()
    });
    let first = {
        let app = app.clone();
        tokio::spawn(async move {
            post_json(&app, "/v1/chat/completions", &chat("the cat", 1, 60, false)).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = {
        let app = app.clone();
        tokio::spawn(async move {
            post_json(&app, "/v1/chat/completions", &chat("hello", 1, 2, false)).await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = post_json(&app, "/v1/chat/completions", &chat("world", 1, 2, false)).await;
    assert_eq!(third.status, 429, "{}", third.text);
    assert_eq!(third.error()["code"], "queue_full");
    assert_eq!(third.headers["retry-after"], "1");
    assert_eq!(first.await.unwrap().status, 200);
    assert_eq!(second.await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_its_own_request_and_nothing_else() {
    let model = model();
    let poison = model.tokenizer().encode("world", false);
    let app = dial_server::app(AppState::new(
        model,
        ServerConfig {
            step_hook: Some(Arc::new(move |prompt: &[u32]| {
                if prompt.windows(poison.len()).any(|w| w == poison.as_slice()) {
                    panic!("injected fault");
                }
                std::thread::sleep(Duration::from_millis(2));
            })),
            ..config()
        },
    ));
    let healthy = {
        let app = app.clone();
        tokio::spawn(async move {
            post_json(&app, "/v1/chat/completions", &chat("the cat", 1, 8, false)).await
        })
    };
    let bad = post_json(
        &app,
        "/v1/chat/completions",
        &chat("hello world", 1, 8, false),
    )
    .await;
    assert_eq!(bad.status, 500, "{}", bad.text);
    let e = bad.error();
    assert_eq!(e["type"], "server_error");
    assert!(
        e["message"].as_str().unwrap().contains("injected fault"),
        "{e}"
    );
    let healthy = healthy.await.unwrap();
    assert_eq!(healthy.status, 200, "{}", healthy.text);
    // Streaming: the failure is an error event, then [DONE], not a dropped socket.
    let s = post_json(
        &app,
        "/v1/chat/completions",
        &chat("hello world", 1, 8, true),
    )
    .await;
    let events = s.events();
    assert!(
        events.iter().any(|(_, d)| d.contains("injected fault")),
        "{}",
        s.text
    );
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let r = post_json(
        &app,
        "/v1/responses",
        &json!({"model": MODEL, "input": "hello world", "stream": true}),
    )
    .await;
    let last = r.events().last().cloned().unwrap();
    assert_eq!(last.0.as_deref(), Some("response.failed"));
    // And the server carries on.
    let after = post_json(&app, "/v1/chat/completions", &chat("the cat", 2, 4, false)).await;
    assert_eq!(after.status, 200);
    assert!(
        get(&app, "/metrics")
            .await
            .text
            .contains("dial_panics_total 3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kv_pool_queues_what_does_not_fit_and_refuses_what_never_will() {
    let model = model();
    let prompt = "the cat sat on";
    let tokens = model.tokenizer().encode(prompt, true).len();
    let max_tokens = 40;
    let one = model.kv_bytes(dial_model::Generation::positions_needed(
        tokens,
        max_tokens,
        model.context_length(),
    ));
    let state = AppState::new(
        model,
        ServerConfig {
            // Room for one such request at a time, however many slots there are.
            kv_cache_bytes: one,
            max_concurrency: 8,
            step_hook: Some(Arc::new(|_| std::thread::sleep(Duration::from_millis(3)))),
            ..config()
        },
    );
    let app = dial_server::app(state.clone());
    let body = |seed: u64, n: u64| {
        json!({"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "seed": seed,
               "temperature": 0, "n": n})
    };
    let first = {
        let app = app.clone();
        let b = body(1, 1);
        tokio::spawn(async move { post_json(&app, "/v1/completions", &b).await })
    };
    wait_for("the first request to run", Duration::from_secs(5), || {
        state
            .metrics()
            .render(0)
            .contains("dial_active_sequences 1")
    })
    .await;
    let second = {
        let app = app.clone();
        let b = body(2, 1);
        tokio::spawn(async move { post_json(&app, "/v1/completions", &b).await })
    };
    // The second waits for KV room: queued, not refused, while the first runs.
    let health = loop {
        let h = get(&app, "/health").await.json();
        if h["engine"]["head_waiting"] == true {
            break h;
        }
        assert!(!first.is_finished(), "the second never waited: {h}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert_eq!(health["queued"], 1, "{health}");
    let engine = &health["engine"];
    assert_eq!(engine["kv_cache_capacity_bytes"], one);
    assert_eq!(engine["kv_cache_reserved_bytes"], one);
    let running = &engine["sequences"][0];
    let used = running["kv_cache_bytes"].as_u64().unwrap();
    assert!(used > 0 && used <= one as u64, "{engine}");
    assert_eq!(running["kv_cache_reserved_bytes"], one);
    // Two choices of the same need more than the whole pool: refused, never queued forever.
    let too_big = post_json(&app, "/v1/completions", &body(3, 2)).await;
    assert_eq!(too_big.status, 400, "{}", too_big.text);
    assert_eq!(too_big.error()["code"], "kv_cache_exceeded");
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.json()["usage"]["completion_tokens"], max_tokens);
    let after = get(&app, "/health").await.json();
    assert_eq!(after["engine"]["kv_cache_reserved_bytes"], 0, "{after}");
}
