//! `dial serve` as a user runs it: the real binary on a tiny model, on a loopback port,
//! stopped with SIGTERM while a stream is in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Written once per process: the tests run in parallel and must not read a half-written file.
fn tiny_model() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("dial-serve-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tiny.gguf");
        dial_model::tiny::TinyGemma3::default()
            .write(&path)
            .unwrap();
        path
    })
    .clone()
}

/// `dial serve` on the tiny model with `args`, and its address.
fn serve(args: &[&str]) -> (std::process::Child, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_dial"))
        .args(["serve", "--port", "0", "--model"])
        .arg(tiny_model())
        .args(["--max-tokens-limit", "2000"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The URL is the first line on stdout.
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let addr = url.trim_start_matches("http://").trim_end_matches("/v1");
    (server, addr.to_string())
}

/// A request on its own connection, closed after the answer.
fn send(addr: &str, method: &str, path: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
}

/// A long stream that can only end at max_tokens (no template stops, EOS banned), once
/// its first bytes arrived.
fn long_stream(addr: &str) -> TcpStream {
    let body = r#"{"model": "tiny", "prompt": "the cat", "max_tokens": 1500, "temperature": 1, "seed": 1, "banned_tokens": [1], "stream": true}"#;
    let mut stream = send(addr, "POST", "/v1/completions", body);
    let mut first = [0u8; 512];
    let n = stream.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("200 OK"));
    stream
}

fn sigterm(server: &std::process::Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn during_the_drain_grace_new_requests_get_503_and_the_stream_in_flight_finishes() {
    let (mut server, addr) = serve(&["--drain-grace", "2", "--drain-seconds", "60"]);
    let mut stream = long_stream(&addr);
    sigterm(&server);
    std::thread::sleep(Duration::from_millis(300));
    // The listener is still open: /health says not ready, new work is refused.
    let mut health = String::new();
    send(&addr, "GET", "/health", "")
        .read_to_string(&mut health)
        .unwrap();
    assert!(health.starts_with("HTTP/1.1 503"), "{health}");
    assert!(health.contains("\"status\":\"draining\""), "{health}");
    let mut refused = String::new();
    let body = r#"{"model": "tiny", "prompt": "x", "max_tokens": 2}"#;
    send(&addr, "POST", "/v1/completions", body)
        .read_to_string(&mut refused)
        .unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(refused.contains("\"code\":\"draining\""), "{refused}");
    // The stream in flight is not cut short.
    let mut rest = String::new();
    stream.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("\"finish_reason\":\"length\""));
    assert!(rest.contains("data: [DONE]"));
    let status = server.wait().unwrap();
    assert!(status.success(), "exit {status:?}");
    assert!(TcpStream::connect(&addr).is_err());
}

#[test]
fn a_client_that_writes_a_40_mib_body_first_still_reads_its_413() {
    let (mut server, addr) = serve(&[]);
    for path in ["/v1/completions", "/v1/text-to-speech/any"] {
        // As Python's http.client does: the whole body goes out before the answer is read.
        let body = vec![b'x'; 40 << 20];
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream
            .write_all(&body)
            .expect("the server reads the body rather than reset");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            answer.contains("request_too_large") || answer.contains("payload_too_large"),
            "{path}: {answer}"
        );
    }
    sigterm(&server);
    assert!(server.wait().unwrap().success());
}

#[test]
fn sigterm_lets_the_stream_in_flight_finish_then_exits_cleanly() {
    let (mut server, addr) = serve(&["--shutdown-timeout", "60"]);
    let addr = addr.as_str();
    let mut stream = long_stream(addr);
    sigterm(&server);
    let start = Instant::now();
    let mut rest = String::new();
    stream.read_to_string(&mut rest).unwrap();
    // The stream ran to its end after the signal.
    let tail: String = rest
        .chars()
        .rev()
        .take(400)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert!(rest.contains("\"finish_reason\":\"length\""), "{tail}");
    assert!(rest.contains("data: [DONE]"), "{tail}");
    // Most of its tokens came after the signal.
    assert!(rest.matches("\"text\":").count() > 1000, "{tail}");
    let status = server.wait().unwrap();
    assert!(status.success(), "exit {status:?}");
    assert!(start.elapsed() < Duration::from_secs(60));
    // New connections are refused once it has stopped.
    assert!(TcpStream::connect(addr).is_err());
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("request_id"), "{log}");
}

#[test]
fn the_same_model_twice_or_a_model_with_no_model_is_a_one_line_error() {
    let model = tiny_model();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_dial"))
            .args(["serve", "--port", "0", "--no-voice", "--model"])
            .arg(&model)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty(), "it never listened");
        err
    };
    let twice = run(&["--model", model.to_str().unwrap()]);
    assert!(
        twice.contains("two models would both be served as `tiny`"),
        "{twice}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dial"))
        .args(["serve", "--port", "0", "--no-model", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--no-model and --model contradict"), "{err}");
}
