//! Running a take: the queue slot, cancellation on disconnect, the headers every answer
//! carries, and errors in ElevenLabs' shape.

use super::request::{SpeechRequest, parse};
use super::voices::find_voice;
use crate::eleven_error::ElevenError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use dial_voice::{Take, Voice, VoiceError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::OwnedSemaphorePermit;

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
pub(super) async fn whole_take(
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
