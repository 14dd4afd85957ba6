//! The text-to-speech routes: the whole take, the take with timestamps, and the stream.

use super::synthesis::{start, synthesis_error, take_headers, whole_take};
use crate::eleven_error::ElevenError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use dial_voice::{OutputFormat, Take, VoiceError, phoneme_alignment, text_alignment};
use serde_json::json;

/// `POST /v1/text-to-speech/{voice_id}`: the whole take as one audio body.
pub async fn convert(
    State(state): State<AppState>,
    Path(voice_id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ElevenError> {
    let (request, take, bytes) = whole_take(&state, &voice_id, query.as_deref(), &body).await?;
    let mut headers = take_headers(&request, Some(&take));
    if let Ok(v) = HeaderValue::from_str(request.format.content_type()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    Ok((headers, bytes).into_response())
}

/// `POST /v1/text-to-speech/{voice_id}/with-timestamps`: the audio in base64 with each
/// character's times, from the model's own durations.
pub async fn with_timestamps(
    State(state): State<AppState>,
    Path(voice_id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ElevenError> {
    let (request, take, bytes) = whole_take(&state, &voice_id, query.as_deref(), &body).await?;
    let body = json!({
        "audio_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        "alignment": text_alignment(&request.text, &take),
        "normalized_alignment": phoneme_alignment(&take),
    });
    Ok((take_headers(&request, Some(&take)), axum::Json(body)).into_response())
}

/// `POST /v1/text-to-speech/{voice_id}/stream`: audio sentence by sentence, as each is
/// synthesized. Raw formats are concatenable; WAV gets a header with an open length.
pub async fn stream(
    State(state): State<AppState>,
    Path(voice_id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ElevenError> {
    let (voice, request, permit) = start(&state, &voice_id, query.as_deref(), &body)?;
    let plan = {
        let voice = voice.clone();
        let text = request.text.clone();
        match tokio::task::spawn_blocking(move || voice.plan(&text)).await {
            Ok(Ok(p)) if !p.is_empty() => p,
            Ok(Ok(_)) => return Err(synthesis_error(VoiceError::EmptyText)),
            Ok(Err(e)) => return Err(synthesis_error(e)),
            Err(e) => {
                return Err(ElevenError::status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "synthesis_failed",
                    e.to_string(),
                ));
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
    Ok((
        headers,
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response())
}
