//! dial's voice: a Piper VITS voice whose `stability` knob sets how far a take may drift
//! from the voice's mean rendering.
//!
//! Done so far: the parts that need no runtime, each exact and unit-tested. A voice's
//! config ([`VoiceConfig`]), Piper's phoneme → id mapping ([`PhonemeIds`]), the stability
//! mapping ([`Stability`]), 16-bit WAV output with Piper's peak normalisation ([`wav`]),
//! and G.711 µ-law and A-law ([`g711`]). Not yet: espeak-ng phonemisation, ONNX Runtime
//! inference with seeded noise, `dial speak` and the ElevenLabs endpoints.

mod config;
pub mod g711;
mod phoneme_ids;
mod stability;
pub mod wav;

pub use config::{ConfigError, InferenceDefaults, VoiceConfig};
pub use phoneme_ids::{PhonemeIds, Unmapped};
pub use stability::{Noise, Stability, StabilityError};
