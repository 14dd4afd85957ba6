//! The real default voice's config, fetched by dial's own fetch code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dial_fetch::{self as fetch, FetchOptions};
use dial_voice::{Stability, VoiceConfig};

#[test]
fn joe_s_config_parses_and_maps_piper_phonemize_s_case() {
    let options = FetchOptions {
        progress: false,
        ..FetchOptions::default()
    };
    let path = fetch::ensure(&fetch::JOE_MEDIUM_CONFIG, &options).unwrap();
    let config = VoiceConfig::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(config.sample_rate, 22050);
    assert_eq!(config.espeak_voice, "en-us");
    assert_eq!(config.num_speakers, 1);
    assert_eq!(config.inference.noise_scale, 0.667);
    assert_eq!(config.inference.noise_w, 0.8);
    // Joe uses Piper's default espeak map: piper-phonemize's own test gives these ids.
    let (ids, skipped) = config.phoneme_ids.encode("lˈɪçt!");
    assert_eq!(
        ids,
        [1, 0, 24, 0, 120, 0, 74, 0, 16, 0, 140, 0, 32, 0, 4, 0, 2]
    );
    assert!(skipped.is_empty());
    let natural = Stability::NATURAL.noise(&config.inference);
    assert_eq!((natural.noise_scale, natural.noise_w), (0.667, 0.8));
}
