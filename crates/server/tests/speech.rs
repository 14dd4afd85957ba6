//! The ElevenLabs routes on the real default voice (fetched by dial's own fetch code),
//! driven through the router with `oneshot`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use dial_fetch::{self as fetch, FetchOptions};
use dial_server::{AppState, ServerConfig};
use dial_voice::{Espeak, OnnxRuntime, Voice, VoiceFiles};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const VOICE: &str = "en_US-joe-medium";

fn joe() -> Arc<Voice> {
    static JOE: OnceLock<Arc<Voice>> = OnceLock::new();
    JOE.get_or_init(|| {
        let options = FetchOptions {
            progress: false,
            ..FetchOptions::default()
        };
        let model = fetch::ensure(&fetch::JOE_MEDIUM, &options).unwrap();
        fetch::ensure(&fetch::JOE_MEDIUM_CONFIG, &options).unwrap();
        let runtime =
            OnnxRuntime::load(&fetch::ensure(&fetch::ONNXRUNTIME, &options).unwrap()).unwrap();
        let espeak = Espeak::new(
            &fetch::ensure(&fetch::ESPEAK_NG, &options).unwrap(),
            &fetch::ensure_tree(&fetch::ESPEAK_NG_DATA, &options).unwrap(),
        );
        Arc::new(Voice::load(&runtime, &VoiceFiles::beside(&model), espeak, 2).unwrap())
    })
    .clone()
}

fn app_with(config: ServerConfig) -> Router {
    dial_server::app(AppState::with_voices(common::model(), vec![joe()], config))
}

struct Raw {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    bytes: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap()
    }
}

async fn send(app: &Router, request: Request<Body>) -> Raw {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Raw {
        status,
        headers,
        bytes,
    }
}

async fn speak(app: &Router, path: &str, body: &Value) -> Raw {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, request).await
}

fn tts(suffix: &str) -> String {
    format!("/v1/text-to-speech/{VOICE}{suffix}")
}

#[tokio::test]
async fn convert_returns_seeded_audio_with_its_headers() {
    let app = app_with(common::config());
    let body = json!({"text": "Hello world.", "seed": 11, "voice_settings": {"stability": 0.3}});
    let a = speak(&app, &tts("?output_format=pcm_22050"), &body).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-type"], "audio/pcm");
    assert_eq!(a.headers["x-dial-seed"], "11");
    assert_eq!(a.headers["x-dial-seed-source"], "request");
    let seconds = a.bytes.len() as f64 / 2.0 / 22050.0;
    assert!((0.6..3.0).contains(&seconds), "{seconds}");
    let b = speak(&app, &tts("?output_format=pcm_22050"), &body).await;
    assert_eq!(a.bytes, b.bytes);
    // Unseeded: a random seed, reported, which reproduces the take when sent back.
    let unseeded = speak(
        &app,
        &tts("?output_format=pcm_22050"),
        &json!({"text": "Hello world.", "voice_settings": {"stability": 0.3}}),
    )
    .await;
    assert_eq!(unseeded.headers["x-dial-seed-source"], "random");
    let seed: u32 = unseeded.headers["x-dial-seed"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let again = speak(
        &app,
        &tts("?output_format=pcm_22050"),
        &json!({"text": "Hello world.", "seed": seed, "voice_settings": {"stability": 0.3}}),
    )
    .await;
    assert_eq!(again.bytes, unseeded.bytes);
    // Defaults: ElevenLabs' mp3_44100_128; fields with no effect are accepted and named.
    let mp3 = speak(
        &app,
        &tts(""),
        &json!({"text": "Hello.", "model_id": "eleven_multilingual_v2",
                "voice_settings": {"similarity_boost": 0.9}}),
    )
    .await;
    assert_eq!(mp3.headers["content-type"], "audio/mpeg");
    assert_eq!(mp3.headers["x-dial-output-format"], "mp3_44100_128");
    assert_eq!((mp3.bytes[0], mp3.bytes[1] & 0xE0), (0xFF, 0xE0));
    assert_eq!(
        mp3.headers["x-dial-no-effect"],
        "voice_settings.similarity_boost,model_id"
    );
}

#[tokio::test]
async fn errors_come_in_elevenlabs_shapes() {
    let app = app_with(common::config());
    let bad = speak(
        &app,
        &tts(""),
        &json!({"text": "hi", "seed": -1, "voice_settings": {"stability": 2, "speed": 0.5}}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = bad.json()["detail"].as_array().unwrap().clone();
    let locs: Vec<String> = detail
        .iter()
        .map(|d| {
            assert!(d["msg"].is_string() && d["type"].is_string(), "{d}");
            d["loc"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    assert_eq!(
        locs,
        [
            "body.seed",
            "body.voice_settings.stability",
            "body.voice_settings.speed"
        ]
    );
    let status = |r: &Raw| r.json()["detail"]["status"].as_str().unwrap().to_string();
    let empty = speak(&app, &tts(""), &json!({"text": ""})).await;
    assert_eq!(
        (empty.status, status(&empty)),
        (StatusCode::BAD_REQUEST, "empty_text".into())
    );
    let long = speak(&app, &tts(""), &json!({"text": "a".repeat(5001)})).await;
    assert_eq!(
        (long.status, status(&long)),
        (
            StatusCode::BAD_REQUEST,
            "max_character_limit_exceeded".into()
        )
    );
    let unknown = speak(&app, "/v1/text-to-speech/nobody", &json!({"text": "hi"})).await;
    assert_eq!(
        (unknown.status, status(&unknown)),
        (StatusCode::NOT_FOUND, "voice_not_found".into())
    );
    for id in ["..%2F..%2Fetc%2Fpasswd", "a%5Cb", "..", "x..y"] {
        let r = speak(
            &app,
            &format!("/v1/text-to-speech/{id}"),
            &json!({"text": "hi"}),
        )
        .await;
        assert_eq!(
            (r.status, status(&r)),
            (StatusCode::BAD_REQUEST, "invalid_voice_id".into()),
            "{id}"
        );
    }
    let malformed = send(
        &app,
        Request::post(tts(""))
            .header("content-type", "application/json")
            .body(Body::from("{\"text\": "))
            .unwrap(),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed.json()["detail"][0]["type"], "json_invalid");
    // A body over the limit is a 413 in ElevenLabs' shape on ElevenLabs' routes.
    let huge = format!("{{\"text\": \"{}\"}}", "a".repeat(2 << 20));
    let over = send(
        &app,
        Request::post(tts(""))
            .header("content-type", "application/json")
            .body(Body::from(huge))
            .unwrap(),
    )
    .await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(over.json()["detail"]["status"], "payload_too_large");
}

#[tokio::test]
async fn voices_settings_auth_and_a_full_queue() {
    let app = app_with(ServerConfig {
        api_key: Some("sekret".into()),
        ..common::config()
    });
    let get = |key: Option<(&'static str, &'static str)>| {
        let mut r = Request::get("/v1/voices");
        if let Some((h, v)) = key {
            r = r.header(h, v);
        }
        r.body(Body::empty()).unwrap()
    };
    let denied = send(&app, get(None)).await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert_eq!(denied.json()["detail"]["status"], "invalid_api_key");
    let xi = send(&app, get(Some(("xi-api-key", "sekret")))).await;
    assert_eq!(xi.status, StatusCode::OK);
    let bearer = send(&app, get(Some(("authorization", "Bearer sekret")))).await;
    assert_eq!(bearer.json(), xi.json());
    let voices = xi.json()["voices"].as_array().unwrap().clone();
    assert_eq!(voices.len(), 1);
    assert_eq!(voices[0]["voice_id"], VOICE);
    assert_eq!(voices[0]["settings"]["stability"], 0.5);
    let open = app_with(common::config());
    let defaults = send(
        &open,
        Request::get("/v1/voices/settings/default")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(defaults.json()["stability"], 0.5);
    assert_eq!(defaults.json()["speed"], 1.0);
    // No room in the queue: a 429 with Retry-After, before any synthesis.
    let full = app_with(ServerConfig {
        max_speech_queue: 0,
        ..common::config()
    });
    let r = speak(&full, &tts(""), &json!({"text": "hi"})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(r.json()["detail"]["status"], "too_many_concurrent_requests");
}

#[tokio::test]
async fn stream_and_timestamps_agree_with_convert() {
    let app = app_with(common::config());
    let body = json!({"text": "One sentence. And another one.", "seed": 3});
    let whole = speak(&app, &tts("?output_format=pcm_16000"), &body).await;
    let streamed = speak(&app, &tts("/stream?output_format=pcm_16000"), &body).await;
    assert_eq!(streamed.status, StatusCode::OK);
    // Sentence-by-sentence resampling may differ at the joins by a sample or two.
    let diff = whole.bytes.len().abs_diff(streamed.bytes.len());
    assert!(
        diff <= 8,
        "{} vs {}",
        whole.bytes.len(),
        streamed.bytes.len()
    );
    let pcm22 = speak(&app, &tts("?output_format=pcm_22050"), &body).await;
    let streamed22 = speak(&app, &tts("/stream?output_format=pcm_22050"), &body).await;
    assert_eq!(pcm22.bytes, streamed22.bytes);
    let timed = speak(
        &app,
        &tts("/with-timestamps?output_format=pcm_22050"),
        &body,
    )
    .await;
    let v = timed.json();
    let chars: String = v["alignment"]["characters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(chars, "One sentence. And another one.");
    use base64::Engine as _;
    let audio = base64::engine::general_purpose::STANDARD
        .decode(v["audio_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(audio, pcm22.bytes);
    assert!(
        v["normalized_alignment"]["characters"]
            .as_array()
            .unwrap()
            .len()
            > 10
    );
}

/// A server on a loopback port, with the voice.
async fn serve(config: ServerConfig) -> (std::net::SocketAddr, AppState) {
    let state = AppState::with_voices(common::model(), vec![joe()], config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = dial_server::app(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

async fn open(addr: std::net::SocketAddr, path: &str, body: &Value) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    s
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_cancels_its_take() {
    use tokio::io::AsyncReadExt;
    let (addr, state) = serve(ServerConfig {
        max_speech_queue: 1,
        ..common::config()
    })
    .await;
    // Forty sentences: seconds of synthesis, of which a cancelled take does one step more.
    let long = json!({"text": "This is one more sentence. ".repeat(40), "seed": 1});
    let mut stream = open(addr, &tts("/stream?output_format=pcm_22050"), &long).await;
    let mut buf = vec![0u8; 65536];
    let mut got = 0;
    while got < 1000 {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got += n;
    }
    drop(stream);
    wait_for("the stream's cancellation", || {
        state.metrics().cancelled() >= 1
    })
    .await;
    // Whole takes: hang up while it is synthesizing.
    let whole = open(addr, &tts("?output_format=pcm_22050"), &long).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(whole);
    wait_for("the take's cancellation", || {
        state.metrics().cancelled() >= 2
    })
    .await;
    // The slot is free again: the next request is served, not refused.
    let app = dial_server::app(state);
    let next = speak(
        &app,
        &tts("?output_format=pcm_22050"),
        &json!({"text": "Hi."}),
    )
    .await;
    assert_eq!(next.status, StatusCode::OK);
}

#[tokio::test]
async fn takes_are_the_seeded_takes_with_their_variation() {
    use base64::Engine as _;
    let app = app_with(common::config());
    let body = json!({"text": "Hello world.", "seed": 11, "takes": 3,
                      "voice_settings": {"stability": 0.2}});
    let r = speak(&app, &tts("/takes"), &body).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["output_format"], "wav_22050");
    let takes = v["takes"].as_array().unwrap();
    assert_eq!(takes.len(), 3);
    // Take i is exactly what convert gives for seed + i.
    for (i, take) in takes.iter().enumerate() {
        assert_eq!(take["seed"], 11 + i as u64);
        let alone = speak(
            &app,
            &tts("?output_format=wav_22050"),
            &json!({"text": "Hello world.", "seed": 11 + i as u64,
                    "voice_settings": {"stability": 0.2}}),
        )
        .await;
        let audio = base64::engine::general_purpose::STANDARD
            .decode(take["audio_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(audio, alone.bytes, "take {i}");
        let seconds: f64 = alone.headers["x-dial-duration-seconds"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((take["seconds"].as_f64().unwrap() - seconds).abs() < 1e-3);
        assert!(take["f0_mean_hz"].as_f64().unwrap() > 60.0);
    }
    let variation = &v["variation"];
    assert!(variation["duration_std_s"].as_f64().unwrap() > 0.0);
    assert!(variation["f0_std_between_takes_hz"].as_f64().unwrap() > 0.0);
    assert!(
        variation["log_mel_distance_between_takes"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // At stability 1 every seed gives one take: no spread at all.
    let robust = speak(
        &app,
        &tts("/takes"),
        &json!({"text": "Hello world.", "seed": 3, "takes": 2, "voice_settings": {"stability": 1}}),
    )
    .await
    .json();
    assert_eq!(
        robust["takes"][0]["audio_base64"],
        robust["takes"][1]["audio_base64"]
    );
    assert_eq!(robust["variation"]["log_mel_distance_between_takes"], 0.0);
    assert_eq!(robust["variation"]["log_mel_distance_to_robust"], 0.0);
    // Bad counts and settings are ElevenLabs-shaped 422s naming the field.
    for (body, field) in [
        (json!({"text": "Hi.", "takes": 6}), "takes"),
        (json!({"text": "Hi.", "takes": 0}), "takes"),
        (json!({"text": "Hi.", "takes": "3"}), "takes"),
        (
            json!({"text": "Hi.", "voice_settings": {"speed": 3}}),
            "speed",
        ),
    ] {
        let r = speak(&app, &tts("/takes"), &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let loc = r.json()["detail"][0]["loc"].clone();
        assert_eq!(loc.as_array().unwrap().last().unwrap(), field, "{body}");
    }
    let missing = speak(
        &app,
        "/v1/text-to-speech/nobody/takes",
        &json!({"text": "Hi."}),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
