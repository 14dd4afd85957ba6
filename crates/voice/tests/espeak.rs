//! Piper's phonemisation on the real espeak-ng 1.52 and its data, fetched by dial's own
//! fetch code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dial_fetch::{self as fetch, FetchOptions};
use dial_voice::{Espeak, EspeakError, VoiceConfig};

fn espeak() -> Espeak {
    let options = FetchOptions {
        progress: false,
        ..FetchOptions::default()
    };
    let lib = fetch::ensure(&fetch::ESPEAK_NG, &options).unwrap();
    let data = fetch::ensure_tree(&fetch::ESPEAK_NG_DATA, &options).unwrap();
    Espeak::new(&lib, &data)
}

#[test]
fn sentences_clauses_and_errors() {
    let e = espeak();
    // Pinned for espeak-ng 1.52 (the fetched library's SHA-256 pins the version).
    let s = e.phonemize("en-us", "Hello world. How are you?").unwrap();
    assert_eq!(s, ["həlˈoʊ wˈɜːld.", "hˈaʊ ɑːɹ juː?"]);
    let c = e.phonemize("en-us", "One, two; three.").unwrap();
    assert_eq!(c, ["wˌʌn, tˈuː; θɹˈiː."]);
    // Every phoneme of these is in the default voice's map.
    let options = FetchOptions {
        progress: false,
        ..FetchOptions::default()
    };
    let config = fetch::ensure(&fetch::JOE_MEDIUM_CONFIG, &options).unwrap();
    let config = VoiceConfig::from_json(&std::fs::read_to_string(config).unwrap()).unwrap();
    for sentence in s.iter().chain(&c) {
        let (ids, skipped) = config.phoneme_ids.encode(sentence);
        assert!(skipped.is_empty(), "{sentence}: {skipped:?}");
        assert_eq!(ids.len(), 2 * sentence.chars().count() + 3);
    }
    assert!(matches!(
        e.phonemize("xx-nowhere", "a"),
        Err(EspeakError::Voice(_))
    ));
    assert!(matches!(
        e.phonemize("en-us", "a\0b"),
        Err(EspeakError::Nul)
    ));
    assert!(e.phonemize("en-us", "").unwrap().is_empty());
    // The same input, the same phonemes.
    assert_eq!(
        e.phonemize("en-us", "Hello world. How are you?").unwrap(),
        s
    );
    let missing = Espeak::new(
        "/nonexistent/libespeak-ng.so".as_ref(),
        "/nonexistent".as_ref(),
    );
    assert!(matches!(
        missing.phonemize("en-us", "a"),
        Err(EspeakError::AlreadyLoaded { .. })
    ));
}
