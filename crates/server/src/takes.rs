//! `POST /v1/text-to-speech/{voice_id}/takes` (dial's own): several seeded takes of one
//! text at one setting, each as audio, with how much they vary (duration, pitch spread,
//! log-mel distance between them and to the noise-free take): what `dial speak --takes`
//! reports, for the playground and any client.
//!
//! The body is ElevenLabs' text-to-speech body plus `takes` (1 to [`MAX_TAKES`], default
//! 3). Take `i` uses seed `seed + i`. Without `output_format` the audio is WAV at the
//! voice's own rate.

use crate::eleven_error::{ElevenError, FieldError};
use crate::speech::{CancelOnDrop, start, synthesis_error, take_headers};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use dial_voice::{
    OutputFormat, Stability, Take, TakeMeasures, TakeSettings, Variation, VoiceError,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Most takes one request may ask for.
pub const MAX_TAKES: u64 = 5;
/// Takes when the request does not say.
pub const DEFAULT_TAKES: u64 = 3;

/// The body's schema for `/openapi.json`: ElevenLabs' body plus `takes`.
pub fn request_schema() -> Value {
    let mut schema = crate::speech::request_schema();
    schema["properties"]["takes"] = json!({
        "type": "integer", "minimum": 1, "maximum": MAX_TAKES, "default": DEFAULT_TAKES,
        "description": "How many takes; take i uses seed + i.",
    });
    schema
}

/// Takes `takes` out of the body, checked; the rest goes to the speech parser.
fn split_takes(body: &Bytes) -> Result<(u64, Bytes), ElevenError> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        // Not an object: the speech parser reports it in its own words.
        return Ok((DEFAULT_TAKES, body.clone()));
    };
    let count = match object.remove("takes") {
        None | Some(Value::Null) => DEFAULT_TAKES,
        Some(v) => match v.as_u64().filter(|n| (1..=MAX_TAKES).contains(n)) {
            Some(n) => n,
            None => {
                return Err(ElevenError::Invalid(vec![FieldError::new(
                    &["body", "takes"],
                    "less_than_equal",
                    format!("takes must be an integer from 1 to {MAX_TAKES}"),
                )]));
            }
        },
    };
    let rest = serde_json::to_vec(&object).unwrap_or_default();
    Ok((count, Bytes::from(rest)))
}

/// One take's audio and measures.
struct Made {
    audio: Vec<u8>,
    measures: TakeMeasures,
}

/// `count` takes from `settings.seed` on, encoded, and the noise-free take to compare.
fn make(
    speak: impl Fn(&TakeSettings) -> Result<Take, ElevenError>,
    settings: TakeSettings,
    format: OutputFormat,
    count: u64,
) -> Result<(Vec<Made>, Variation), ElevenError> {
    let mut made = Vec::new();
    for i in 0..count as u32 {
        let take_settings = TakeSettings {
            seed: settings.seed.wrapping_add(i),
            ..settings
        };
        let take = speak(&take_settings)?;
        let audio = format
            .encode(&take.samples(), take.sample_rate)
            .map_err(|e| {
                ElevenError::status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "encoding_failed",
                    e.to_string(),
                )
            })?;
        made.push(Made {
            audio,
            measures: TakeMeasures::of(&take, take_settings.seed),
        });
    }
    let reference = speak(&TakeSettings {
        stability: Stability::ROBUST,
        seed: 0,
        ..settings
    })?;
    let measures: Vec<TakeMeasures> = made.iter().map(|m| m.measures.clone()).collect();
    let variation = Variation::measure(&measures, &reference);
    Ok((made, variation))
}

/// The handler.
pub async fn takes(
    State(state): State<AppState>,
    Path(voice_id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ElevenError> {
    let (state, voice_id, query, body) = (&state, voice_id.as_str(), query.as_deref(), &body);
    let (count, rest) = split_takes(body)?;
    let (voice, mut request, permit) = start(state, voice_id, query, &rest)?;
    let format_asked = query
        .unwrap_or("")
        .split('&')
        .any(|p| p.split('=').next() == Some("output_format"));
    if !format_asked {
        request.format = OutputFormat::Wav(voice.sample_rate());
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let metrics = state.inner.metrics.clone();
    let (text, settings, format) = (request.text.clone(), request.settings, request.format);
    let joined = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let stop = || cancel.load(Ordering::Relaxed);
        let speak = |settings: &TakeSettings| {
            voice.speak(&text, settings, &stop).map_err(|e| {
                if matches!(e, VoiceError::Cancelled) {
                    metrics.add_cancelled();
                }
                synthesis_error(e)
            })
        };
        make(speak, settings, format, count)
    })
    .await
    .map_err(|e| {
        ElevenError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "synthesis_failed",
            format!("synthesis stopped: {e}"),
        )
    })?;
    let (made, variation) = joined?;
    let takes: Vec<Value> = made
        .iter()
        .zip(&variation.to_robust)
        .map(|(m, to_robust)| {
            let (f0_mean, f0_std) = m.measures.f0_mean_std();
            json!({
                "seed": m.measures.seed,
                "seconds": m.measures.seconds,
                "f0_mean_hz": f0_mean,
                "f0_std_hz": f0_std,
                "log_mel_distance_to_robust": to_robust,
                "redrawn": m.measures.redraws.iter().map(|(s, seed)| json!({"sentence": s, "seed": seed})).collect::<Vec<_>>(),
                "audio_base64": base64::engine::general_purpose::STANDARD.encode(&m.audio),
            })
        })
        .collect();
    let body = json!({
        "voice_id": voice_id,
        "text": request.text,
        "seed": request.settings.seed,
        "stability": request.settings.stability.value(),
        "noise_factor": request.settings.stability.factor(),
        "speed": request.settings.speed.value(),
        "output_format": request.format.name(),
        "takes": takes,
        "variation": variation,
    });
    Ok((take_headers(&request, None), axum::Json(body)).into_response())
}
