//! The voices: `GET /v1/voices`, `GET /v1/voices/{voice_id}` and the default settings,
//! and how a path's `voice_id` finds one.

use crate::eleven_error::ElevenError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dial_voice::{Speed, Stability, Voice};
use serde_json::{Value, json};
use std::sync::Arc;

/// The default settings, as `GET /v1/voices/settings/default` and every voice show them.
fn default_settings() -> Value {
    json!({
        "stability": Stability::NATURAL.value(),
        "similarity_boost": 0.75,
        "style": 0.0,
        "use_speaker_boost": true,
        "speed": Speed::DEFAULT.value(),
    })
}

/// Every voice id this server answers to (`ID`, or `ID:SPEAKER` per speaker).
pub(crate) fn served_voice_ids(state: &AppState) -> Vec<String> {
    state
        .inner
        .voices
        .iter()
        .flat_map(|v| v.voice_ids().into_iter().map(|(id, _)| id))
        .collect()
}

fn not_found(voice_id: &str, state: &AppState) -> ElevenError {
    let ids = served_voice_ids(state);
    ElevenError::status(
        StatusCode::NOT_FOUND,
        "voice_not_found",
        format!(
            "A voice with the voice_id `{}` was not found; this server has {} (GET /v1/voices)",
            voice_id.chars().take(64).collect::<String>(),
            if ids.is_empty() {
                "no voices".to_string()
            } else {
                ids.join(", ")
            }
        ),
    )
}

/// The voice and speaker for a path's `voice_id` (`ID`, or `ID:SPEAKER` for a
/// multi-speaker voice). Ids are compared with the loaded voices' names and never reach
/// the file system; one that could name a path is refused outright.
pub(super) fn find_voice(
    state: &AppState,
    voice_id: &str,
) -> Result<(Arc<Voice>, u32), ElevenError> {
    if voice_id.contains(['/', '\\']) || voice_id.contains("..") || voice_id.contains('\0') {
        return Err(ElevenError::status(
            StatusCode::BAD_REQUEST,
            "invalid_voice_id",
            "a voice_id cannot contain `/`, `\\`, `..` or NUL",
        ));
    }
    state
        .inner
        .voices
        .iter()
        .find_map(|v| {
            v.voice_ids()
                .into_iter()
                .find(|(id, _)| id == voice_id)
                .map(|(_, speaker)| (v.clone(), speaker))
        })
        .ok_or_else(|| not_found(voice_id, state))
}

fn voice_object(voice: &Voice, voice_id: &str, speaker: u32) -> Value {
    let config = voice.config();
    json!({
        "voice_id": voice_id,
        "name": voice_id,
        "category": "premade",
        "labels": {
            "engine": "piper-vits",
            "language": config.espeak_voice,
            "sample_rate": config.sample_rate.to_string(),
            "speakers": config.num_speakers.to_string(),
            "speaker": speaker.to_string(),
        },
        "description": "A Piper VITS voice served by dial; stability sets how far a take may drift.",
        "settings": default_settings(),
        "samples": null,
        "preview_url": null,
        "available_for_tiers": [],
        "dial": {
            "noise_scale": config.inference.noise_scale,
            "noise_w": config.inference.noise_w,
            "length_scale": config.inference.length_scale,
            "speaker_id_map": config.speaker_id_map,
        },
    })
}

/// `GET /v1/voices`.
pub async fn voices(State(state): State<AppState>) -> Response {
    let voices: Vec<Value> = state
        .inner
        .voices
        .iter()
        .flat_map(|v| {
            v.voice_ids()
                .into_iter()
                .map(|(id, speaker)| voice_object(v, &id, speaker))
        })
        .collect();
    axum::Json(json!({ "voices": voices })).into_response()
}

/// `GET /v1/voices/{voice_id}`.
pub async fn voice(
    State(state): State<AppState>,
    Path(voice_id): Path<String>,
) -> Result<axum::Json<Value>, ElevenError> {
    let (v, speaker) = find_voice(&state, &voice_id)?;
    Ok(axum::Json(voice_object(&v, &voice_id, speaker)))
}

/// `GET /v1/voices/settings/default`.
pub async fn default_voice_settings() -> Response {
    axum::Json(default_settings()).into_response()
}
