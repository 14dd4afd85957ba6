//! The real default voice, loaded through dial's own fetch code.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use dial_fetch::{self as fetch, FetchOptions};
use dial_voice::{Espeak, OnnxRuntime, Voice, VoiceFiles};
use std::sync::OnceLock;

pub fn options() -> FetchOptions {
    FetchOptions {
        progress: false,
        ..FetchOptions::default()
    }
}

pub fn espeak() -> Espeak {
    let lib = fetch::ensure(&fetch::ESPEAK_NG, &options()).unwrap();
    let data = fetch::ensure_tree(&fetch::ESPEAK_NG_DATA, &options()).unwrap();
    Espeak::new(&lib, &data)
}

pub fn runtime() -> OnnxRuntime {
    OnnxRuntime::load(&fetch::ensure(&fetch::ONNXRUNTIME, &options()).unwrap()).unwrap()
}

/// Joe, loaded once per test binary.
pub fn joe() -> &'static Voice {
    static JOE: OnceLock<Voice> = OnceLock::new();
    JOE.get_or_init(|| {
        let model = fetch::ensure(&fetch::JOE_MEDIUM, &options()).unwrap();
        fetch::ensure(&fetch::JOE_MEDIUM_CONFIG, &options()).unwrap();
        Voice::load(&runtime(), &VoiceFiles::beside(&model), espeak(), 2).unwrap()
    })
}

pub fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}
