//! dial's voice: a Piper VITS voice whose `stability` knob sets how far a take may drift
//! from the voice's mean rendering, with seeds Piper itself lacks.
//!
//! The parts: a voice's config ([`VoiceConfig`]), espeak-ng phonemisation loaded at run
//! time ([`Espeak`]), Piper's phoneme → id mapping ([`PhonemeIds`]), ONNX Runtime loaded
//! at run time ([`OnnxRuntime`]), the graph rewrite that puts the noise in dial's hands
//! ([`SeedableGraph`]), the seeded noise ([`SentenceNoise`]), the knobs ([`Stability`],
//! [`Speed`]), the voice itself ([`Voice`]), 16-bit WAV output with Piper's peak
//! normalisation ([`wav`]), G.711 µ-law and A-law ([`g711`]), resampling
//! ([`resample`]) and ElevenLabs' output formats ([`OutputFormat`]).

mod alignment;
pub mod analysis;
mod config;
mod espeak;
pub mod g711;
mod graph;
#[cfg(feature = "mp3")]
mod mp3;
mod noise;
mod output_format;
mod phoneme_ids;
mod proto;
mod resample;
mod runtime;
mod speed;
mod stability;
mod variation;
mod voice;
pub mod wav;

pub use alignment::{Alignment, phoneme_alignment, text_alignment};
pub use config::{ConfigError, InferenceDefaults, VoiceConfig};
pub use espeak::{Espeak, EspeakError, Sentence};
pub use graph::{DURATION_NOISE, DURATIONS, GraphError, PRIOR_NOISE, PRIOR_SHAPE, SeedableGraph};
pub use noise::SentenceNoise;
pub use output_format::{FormatError, OutputFormat, RATES};
pub use phoneme_ids::{Encoded, PhonemeIds, Unmapped};
pub use proto::ProtoError;
pub use resample::{ResampleError, resample};
pub use runtime::{ORT_DYLIB_PATH, OnnxRuntime, RuntimeError};
pub use speed::{Speed, SpeedError};
pub use stability::{Noise, Stability, StabilityError};
pub use variation::{TakeMeasures, Variation};
pub use voice::{
    MAX_DRAWS, PlannedSentence, RUNAWAY_RATIO, RenderedSentence, SENTENCE_SILENCE_S, Take,
    TakeSettings, Voice, VoiceError, VoiceFiles,
};
