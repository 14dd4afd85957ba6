//! ElevenLabs' text-to-speech API over dial's voices:
//! `POST /v1/text-to-speech/{voice_id}` (and `/stream`, `/with-timestamps`),
//! `GET /v1/voices` and `GET /v1/voices/settings/default`.
//!
//! Synthesis runs on blocking threads, at most `max_speech_queue` requests at once (more
//! get a 429); a client that disconnects cancels its take at the next sentence step.

use crate::eleven_error::{ElevenError, FieldError};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use dial_voice::{
    OutputFormat, Speed, Stability, Take, TakeSettings, Voice, VoiceError, phoneme_alignment,
    text_alignment,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::OwnedSemaphorePermit;

/// Body fields ElevenLabs defines that change nothing on a single-speaker VITS voice.
/// They are accepted so clients work, and listed back in `x-dial-no-effect`.
pub const NO_EFFECT_FIELDS: &[&str] = &[
    "model_id",
    "language_code",
    "previous_text",
    "next_text",
    "previous_request_ids",
    "next_request_ids",
    "apply_text_normalization",
    "apply_language_text_normalization",
    "pronunciation_dictionary_locators",
    "use_pvc_as_ivc",
    "audio_effects",
];

/// `voice_settings` fields with no effect on a single-speaker VITS voice.
pub const NO_EFFECT_SETTINGS: &[&str] = &["similarity_boost", "style", "use_speaker_boost"];

/// Query parameters ElevenLabs defines that dial accepts without acting on.
const NO_EFFECT_QUERY: &[&str] = &["enable_logging", "optimize_streaming_latency"];

/// The request, checked.
#[derive(Debug, Clone)]
pub(crate) struct SpeechRequest {
    pub text: String,
    pub settings: TakeSettings,
    pub seeded: bool,
    pub format: OutputFormat,
    pub no_effect: Vec<String>,
}

/// The request body's schema for `/openapi.json`, from the knobs' own descriptions.
pub fn request_schema() -> Value {
    let mut no_effect = Map::new();
    for key in NO_EFFECT_SETTINGS {
        no_effect.insert(
            (*key).into(),
            json!({"description": "Accepted; no effect on a single-speaker VITS voice (named in x-dial-no-effect)."}),
        );
    }
    let mut settings = json!({
        Stability::NAME: {"type": "number", "minimum": Stability::CREATIVE.value(),
            "maximum": Stability::ROBUST.value(), "default": Stability::NATURAL.value(),
            "description": Stability::SUMMARY},
        Speed::NAME: {"type": "number", "minimum": Speed::MIN, "maximum": Speed::MAX,
            "default": Speed::DEFAULT.value(), "description": Speed::SUMMARY},
    });
    if let Some(m) = settings.as_object_mut() {
        m.extend(no_effect);
    }
    let mut properties = json!({
        "text": {"type": "string", "description": "What to say."},
        "seed": {"type": "integer", "minimum": 0, "maximum": u32::MAX,
            "description": "The same seed, text and settings give the same samples; without one, a random seed (x-dial-seed)."},
        "voice_settings": {"type": "object", "additionalProperties": false, "properties": settings},
    });
    if let Some(m) = properties.as_object_mut() {
        for key in NO_EFFECT_FIELDS {
            m.insert(
                (*key).into(),
                json!({"description": "Accepted; no effect here (named in x-dial-no-effect)."}),
            );
        }
    }
    json!({"type": "object", "required": ["text"], "additionalProperties": false, "properties": properties})
}

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
fn find_voice(state: &AppState, voice_id: &str) -> Result<(Arc<Voice>, u32), ElevenError> {
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

fn number(
    object: &Map<String, Value>,
    key: &str,
    loc: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<f64> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            errors.push(FieldError::new(
                loc,
                "float_type",
                "Input should be a valid number",
            ));
            None
        }
    }
}

fn parse(
    body: &Bytes,
    query: Option<&str>,
    max_characters: usize,
) -> Result<SpeechRequest, ElevenError> {
    let mut errors = Vec::new();
    let mut no_effect = Vec::new();
    let mut format = OutputFormat::DEFAULT;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "output_format" => match OutputFormat::parse(value) {
                Ok(f) => format = f,
                Err(e) => errors.push(FieldError::new(
                    &["query", "output_format"],
                    "enum",
                    e.to_string(),
                )),
            },
            k if NO_EFFECT_QUERY.contains(&k) => no_effect.push(k.to_string()),
            k => errors.push(FieldError::new(
                &["query", &k.chars().take(64).collect::<String>()],
                "extra_forbidden",
                "Extra inputs are not permitted",
            )),
        }
    }
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o,
        Ok(_) => {
            return Err(ElevenError::Invalid(vec![FieldError::new(
                &["body"],
                "model_attributes_type",
                "Input should be a JSON object",
            )]));
        }
        Err(e) => {
            return Err(ElevenError::Invalid(vec![FieldError::new(
                &["body", &e.line().to_string()],
                "json_invalid",
                format!("JSON decode error: {e}"),
            )]));
        }
    };
    let text = match object.get("text") {
        Some(Value::String(s)) => Some(s.clone()),
        None => {
            errors.push(FieldError::new(
                &["body", "text"],
                "missing",
                "Field required",
            ));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                &["body", "text"],
                "string_type",
                "Input should be a valid string",
            ));
            None
        }
    };
    let mut settings = TakeSettings::default();
    let mut seeded = false;
    match object.get("seed") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64().and_then(|s| u32::try_from(s).ok()) {
            Some(s) => {
                settings.seed = s;
                seeded = true;
            }
            None => errors.push(FieldError::new(
                &["body", "seed"],
                "less_than_equal",
                "seed must be an integer from 0 to 4294967295",
            )),
        },
    }
    match object.get("voice_settings") {
        None | Some(Value::Null) => {}
        Some(Value::Object(vs)) => {
            let loc = |k| ["body", "voice_settings", k];
            if let Some(s) = number(vs, Stability::NAME, &loc(Stability::NAME), &mut errors) {
                match Stability::new(s) {
                    Ok(s) => settings.stability = s,
                    Err(e) => errors.push(FieldError::new(
                        &loc(Stability::NAME),
                        "less_than_equal",
                        e.to_string(),
                    )),
                }
            }
            if let Some(x) = number(vs, Speed::NAME, &loc(Speed::NAME), &mut errors) {
                match Speed::new(x) {
                    Ok(x) => settings.speed = x,
                    Err(e) => errors.push(FieldError::new(
                        &loc(Speed::NAME),
                        "less_than_equal",
                        e.to_string(),
                    )),
                }
            }
            for key in vs.keys() {
                if NO_EFFECT_SETTINGS.contains(&key.as_str()) {
                    if !vs[key].is_null() {
                        no_effect.push(format!("voice_settings.{key}"));
                    }
                } else if key != Stability::NAME && key != Speed::NAME {
                    errors.push(FieldError::new(
                        &loc(key),
                        "extra_forbidden",
                        "Extra inputs are not permitted",
                    ));
                }
            }
        }
        Some(_) => errors.push(FieldError::new(
            &["body", "voice_settings"],
            "model_type",
            "Input should be an object",
        )),
    }
    for (key, value) in &object {
        if NO_EFFECT_FIELDS.contains(&key.as_str()) {
            if !value.is_null() {
                no_effect.push(key.clone());
            }
        } else if !matches!(key.as_str(), "text" | "seed" | "voice_settings") {
            errors.push(FieldError::new(
                &["body", &key.chars().take(64).collect::<String>()],
                "extra_forbidden",
                "Extra inputs are not permitted",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ElevenError::Invalid(errors));
    }
    let text = text.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ElevenError::status(
            StatusCode::BAD_REQUEST,
            "empty_text",
            "text is empty: there is nothing to speak",
        ));
    }
    let characters = text.chars().count();
    if characters > max_characters {
        return Err(ElevenError::status(
            StatusCode::BAD_REQUEST,
            "max_character_limit_exceeded",
            format!("text has {characters} characters; this server's limit is {max_characters}"),
        ));
    }
    if !seeded {
        settings.seed = dial_sampling::clock_bits() as u32;
    }
    Ok(SpeechRequest {
        text,
        settings,
        seeded,
        format,
        no_effect,
    })
}

/// Sets the shared cancel flag when dropped: a handler dropped by a disconnect stops its
/// take at the next step.
pub(crate) struct CancelOnDrop(pub Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn slot(state: &AppState) -> Result<OwnedSemaphorePermit, ElevenError> {
    state
        .inner
        .speech_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ElevenError::status(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_concurrent_requests",
                format!(
                    "{} speech requests are already running or waiting; retry shortly",
                    state.inner.config.max_speech_queue
                ),
            )
        })
}

pub(crate) fn synthesis_error(e: VoiceError) -> ElevenError {
    match e {
        VoiceError::EmptyText => ElevenError::status(
            StatusCode::BAD_REQUEST,
            "empty_text",
            "the text has no speakable phonemes",
        ),
        VoiceError::Cancelled => {
            ElevenError::status(StatusCode::SERVICE_UNAVAILABLE, "cancelled", "cancelled")
        }
        e => ElevenError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "synthesis_failed",
            e.to_string(),
        ),
    }
}

/// Headers every answer carries: the seed, how it was chosen, the settings used, and what
/// had no effect.
pub(crate) fn take_headers(request: &SpeechRequest, take: Option<&Take>) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    put("x-dial-seed", request.settings.seed.to_string());
    put(
        "x-dial-seed-source",
        if request.seeded { "request" } else { "random" }.into(),
    );
    put(
        "x-dial-stability",
        request.settings.stability.value().to_string(),
    );
    put("x-dial-speed", request.settings.speed.value().to_string());
    put("x-dial-output-format", request.format.name());
    if !request.no_effect.is_empty() {
        put("x-dial-no-effect", request.no_effect.join(","));
    }
    if let Some(take) = take {
        let redraws: Vec<String> = take
            .runaways()
            .iter()
            .map(|(sentence, seed)| format!("{sentence}:{seed}"))
            .collect();
        put("x-dial-redraws", redraws.join(","));
        put("x-dial-duration-seconds", format!("{:.3}", take.seconds()));
    }
    h
}

/// Runs a take on a blocking thread. The queue slot goes with it and is released when the
/// synthesis itself stops, not when the handler does; a cancelled take is counted.
async fn synthesize(
    state: &AppState,
    voice: Arc<Voice>,
    request: SpeechRequest,
    permit: OwnedSemaphorePermit,
    cancel: Arc<AtomicBool>,
) -> Result<Take, ElevenError> {
    let text = request.text.clone();
    let settings = request.settings;
    let metrics = state.inner.metrics.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let take = voice.speak(&text, &settings, &|| cancel.load(Ordering::Relaxed));
        if matches!(take, Err(VoiceError::Cancelled)) {
            metrics.add_cancelled();
        }
        take
    })
    .await;
    match joined {
        Ok(Ok(take)) => Ok(take),
        Ok(Err(e)) => Err(synthesis_error(e)),
        Err(e) => Err(ElevenError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "synthesis_failed",
            format!("synthesis stopped: {e}"),
        )),
    }
}

pub(crate) fn start(
    state: &AppState,
    voice_id: &str,
    query: Option<&str>,
    body: &Bytes,
) -> Result<(Arc<Voice>, SpeechRequest, OwnedSemaphorePermit), ElevenError> {
    let (voice, speaker) = find_voice(state, voice_id)?;
    let mut request = parse(body, query, state.inner.config.max_characters)?;
    request.settings.speaker = speaker;
    let permit = slot(state)?;
    Ok((voice, request, permit))
}

/// A whole take, encoded: the shared body of `convert` and `with-timestamps`. Dropping
/// the future (a disconnect) cancels the take at its next step.
async fn whole_take(
    state: &AppState,
    voice_id: &str,
    query: Option<&str>,
    body: &Bytes,
) -> Result<(SpeechRequest, Take, Vec<u8>), ElevenError> {
    let (voice, request, permit) = start(state, voice_id, query, body)?;
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let rate = voice.sample_rate();
    let take = synthesize(state, voice, request.clone(), permit, cancel).await?;
    let bytes = request.format.encode(&take.samples(), rate).map_err(|e| {
        ElevenError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding_failed",
            e.to_string(),
        )
    })?;
    Ok((request, take, bytes))
}

/// `POST /v1/text-to-speech/{voice_id}`: the whole take as one audio body.
pub async fn convert(
    State(state): State<AppState>,
    Path(voice_id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    match whole_take(&state, &voice_id, query.as_deref(), &body).await {
        Ok((request, take, bytes)) => {
            let mut headers = take_headers(&request, Some(&take));
            if let Ok(v) = HeaderValue::from_str(request.format.content_type()) {
                headers.insert(header::CONTENT_TYPE, v);
            }
            (headers, bytes).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/text-to-speech/{voice_id}/with-timestamps`: the audio in base64 with each
/// character's times, from the model's own durations.
pub async fn with_timestamps(
    State(state): State<AppState>,
    Path(voice_id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    match whole_take(&state, &voice_id, query.as_deref(), &body).await {
        Ok((request, take, bytes)) => {
            let body = json!({
                "audio_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
                "alignment": text_alignment(&request.text, &take),
                "normalized_alignment": phoneme_alignment(&take),
            });
            (take_headers(&request, Some(&take)), axum::Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/text-to-speech/{voice_id}/stream`: audio sentence by sentence, as each is
/// synthesized. Raw formats are concatenable; WAV gets a header with an open length.
pub async fn stream(
    State(state): State<AppState>,
    Path(voice_id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (voice, request, permit) = match start(&state, &voice_id, query.as_deref(), &body) {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let plan = {
        let voice = voice.clone();
        let text = request.text.clone();
        match tokio::task::spawn_blocking(move || voice.plan(&text)).await {
            Ok(Ok(p)) if !p.is_empty() => p,
            Ok(Ok(_)) => return synthesis_error(VoiceError::EmptyText).into_response(),
            Ok(Err(e)) => return synthesis_error(e).into_response(),
            Err(e) => {
                return ElevenError::status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "synthesis_failed",
                    e.to_string(),
                )
                .into_response();
            }
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let format = request.format;
    let settings = request.settings;
    let rate = voice.sample_rate();
    let metrics = state.inner.metrics.clone();
    tokio::spawn(async move {
        let _permit = permit;
        if let OutputFormat::Wav(r) = format {
            // An open-ended WAV header: the length is not known until the end.
            let mut header = dial_voice::wav::wav_bytes(&[], r);
            header[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
            header[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
            if tx.send(Ok(Bytes::from(header))).await.is_err() {
                return;
            }
        }
        let silence = vec![0i16; Take::silence_samples(rate)];
        for sentence in plan {
            let voice = voice.clone();
            // A client that goes away closes the channel: the take stops at its next step.
            let receiver_gone = tx.clone();
            let rendered = tokio::task::spawn_blocking(move || {
                voice.render(sentence, &settings, &|| receiver_gone.is_closed())
            })
            .await;
            let encoded = rendered
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .and_then(|r| {
                    format
                        .encode_raw(&[r.samples, silence.clone()].concat(), rate)
                        .map_err(|e| e.to_string())
                });
            if tx.is_closed() {
                metrics.add_cancelled();
                return;
            }
            let bytes = match encoded {
                Ok(b) => b,
                Err(message) => {
                    // The status is already sent: end the body with an error.
                    let _ = tx.send(Err(std::io::Error::other(message))).await;
                    return;
                }
            };
            if tx.send(Ok(Bytes::from(bytes))).await.is_err() {
                metrics.add_cancelled(); // the client went away
                return;
            }
        }
    });
    let mut headers = take_headers(&request, None);
    if let Ok(v) = HeaderValue::from_str(format.content_type()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    (
        headers,
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
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
pub async fn voice(State(state): State<AppState>, Path(voice_id): Path<String>) -> Response {
    match find_voice(&state, &voice_id) {
        Ok((v, speaker)) => axum::Json(voice_object(&v, &voice_id, speaker)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/voices/settings/default`.
pub async fn default_voice_settings() -> Response {
    axum::Json(default_settings()).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn errors(body: &str, query: Option<&str>) -> Vec<FieldError> {
        match parse(&Bytes::from(body.to_string()), query, 100) {
            Err(ElevenError::Invalid(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_invalid_field_is_listed_in_one_422() {
        let e = errors(
            r#"{"text": "hi", "seed": 4294967296, "voice_settings": {"stability": 1.5, "speed": 2, "warmth": 1}, "colour": 1}"#,
            Some("output_format=opus_48000_64&nonsense=1"),
        );
        let locs: Vec<String> = e.iter().map(|f| f.loc.join(".")).collect();
        for want in [
            "query.output_format",
            "query.nonsense",
            "body.seed",
            "body.voice_settings.stability",
            "body.voice_settings.speed",
            "body.voice_settings.warmth",
            "body.colour",
        ] {
            assert!(
                locs.contains(&want.to_string()),
                "{want} missing from {locs:?}"
            );
        }
        assert_eq!(errors(r#"{}"#, None)[0].kind, "missing");
        assert_eq!(errors("{", None)[0].kind, "json_invalid");
        assert_eq!(errors("[1]", None)[0].kind, "model_attributes_type");
    }

    #[test]
    fn text_limits_no_effect_fields_and_seeds() {
        let status = |body: &str| match parse(&Bytes::from(body.to_string()), None, 5) {
            Err(ElevenError::Status { status, .. }) => status,
            other => panic!("{other:?}"),
        };
        assert_eq!(status(r#"{"text": "  "}"#), "empty_text");
        assert_eq!(
            status(r#"{"text": "abcdef"}"#),
            "max_character_limit_exceeded"
        );
        let ok = parse(
            &Bytes::from(
                r#"{"text": "hi", "model_id": "eleven_v3", "seed": 7,
                   "voice_settings": {"stability": 1, "style": 0.5}}"#,
            ),
            Some("output_format=pcm_16000&enable_logging=false"),
            5,
        )
        .unwrap();
        assert_eq!(ok.settings.seed, 7);
        assert!(ok.seeded);
        assert_eq!(ok.settings.stability, Stability::ROBUST);
        assert_eq!(ok.format, OutputFormat::Pcm(16000));
        assert_eq!(
            ok.no_effect,
            ["enable_logging", "voice_settings.style", "model_id"]
        );
        let unseeded = parse(&Bytes::from(r#"{"text": "hi"}"#), None, 5).unwrap();
        assert!(!unseeded.seeded);
    }
}
