//! ElevenLabs' text-to-speech API over dial's voices:
//! `POST /v1/text-to-speech/{voice_id}` (and `/stream`, `/with-timestamps`),
//! `GET /v1/voices` and `GET /v1/voices/settings/default`.
//!
//! Synthesis runs on blocking threads, at most `max_speech_queue` requests at once (more
//! get a 429); a client that disconnects cancels its take at the next sentence step.

mod request;
mod routes;
mod synthesis;
mod voices;

pub use request::{NO_EFFECT_FIELDS, NO_EFFECT_SETTINGS, request_schema};
pub use routes::{convert, stream, with_timestamps};
pub(crate) use synthesis::{CancelOnDrop, start, synthesis_error, take_headers};
pub(crate) use voices::served_voice_ids;
pub use voices::{default_voice_settings, voice, voices};
