//! dial's voice: a Piper VITS voice whose `stability` knob sets how far a take may drift
//! from the voice's mean rendering.
//!
//! Done so far: a voice's config ([`VoiceConfig`]), espeak-ng phonemisation loaded at run
//! time ([`Espeak`]), Piper's phoneme → id mapping ([`PhonemeIds`]), the stability
//! mapping ([`Stability`]), 16-bit WAV output with Piper's peak normalisation ([`wav`]),
//! and G.711 µ-law and A-law ([`g711`]). Not yet: ONNX Runtime inference with seeded
//! noise, `dial speak` and the ElevenLabs endpoints.

mod config;
mod espeak;
pub mod g711;
mod phoneme_ids;
mod stability;
pub mod wav;

pub use config::{ConfigError, InferenceDefaults, VoiceConfig};
pub use espeak::{Espeak, EspeakError};
pub use phoneme_ids::{PhonemeIds, Unmapped};
pub use stability::{Noise, Stability, StabilityError};
