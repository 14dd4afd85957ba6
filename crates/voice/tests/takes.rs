//! Seeded takes on the real default voice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{joe, rms};
use dial_voice::{RUNAWAY_RATIO, Speed, Stability, TakeSettings};

const TEXT: &str = "Hello world. How are you today?";

fn take(stability: f64, seed: u32) -> dial_voice::Take {
    let settings = TakeSettings {
        stability: Stability::new(stability).unwrap(),
        seed,
        ..TakeSettings::default()
    };
    joe().speak(TEXT, &settings, &|| false).unwrap()
}

#[test]
fn a_sentence_is_speech_of_plausible_length() {
    let t = take(0.5, 1);
    assert_eq!(t.sample_rate, 22050);
    assert_eq!(t.sentences.len(), 2);
    let seconds = t.seconds();
    assert!((1.2..5.0).contains(&seconds), "{seconds} s");
    let samples = t.samples();
    assert!(rms(&samples) > 1000.0, "RMS {}", rms(&samples));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    // Each sentence's audio is its frames times the frame size.
    for s in &t.sentences {
        let frames: f32 = s.durations.iter().sum();
        assert_eq!(s.samples.len(), frames as usize * s.samples_per_frame);
    }
}

#[test]
fn the_same_seed_gives_the_same_samples_and_another_seed_another_take() {
    let a = take(0.5, 7).samples();
    let b = take(0.5, 7).samples();
    assert_eq!(a, b);
    let c = take(0.5, 8).samples();
    assert_ne!(a, c);
}

#[test]
fn stability_one_is_the_same_take_for_every_seed() {
    let first = take(1.0, 1).samples();
    for seed in [2, 99, u32::MAX] {
        assert_eq!(take(1.0, seed).samples(), first, "seed {seed}");
    }
}

#[test]
fn speed_scales_the_length() {
    let at = |speed| {
        let settings = TakeSettings {
            stability: Stability::ROBUST,
            speed: Speed::new(speed).unwrap(),
            ..TakeSettings::default()
        };
        let silence = 2.0 * dial_voice::SENTENCE_SILENCE_S;
        joe().speak(TEXT, &settings, &|| false).unwrap().seconds() - silence
    };
    let (slow, normal, fast) = (at(0.7), at(1.0), at(1.2));
    // Durations are rounded up to whole frames per phoneme id, so short ids scale less
    // than the factor: the ratio lies between 1/speed and 1.
    let fast_ratio = fast / normal;
    let slow_ratio = slow / normal;
    assert!((1.0 / 1.2..1.0).contains(&fast_ratio), "{fast_ratio}");
    assert!((1.0..1.0 / 0.7).contains(&slow_ratio), "{slow_ratio}");
}

#[test]
fn the_runaway_guard_never_lets_a_long_take_through() {
    // Creative: the most duration noise dial allows.
    for seed in 0..24 {
        let t = take(0.0, seed);
        for s in &t.sentences {
            assert!(
                f64::from(s.frames) <= RUNAWAY_RATIO * f64::from(s.zero_noise_frames),
                "seed {seed}: {} frames against {}",
                s.frames,
                s.zero_noise_frames
            );
            let actual: f32 = s.durations.iter().sum();
            assert!((actual - s.frames).abs() <= s.durations.len() as f32);
        }
    }
}

#[test]
fn a_cancelled_take_stops_with_an_error() {
    let settings = TakeSettings::default();
    let r = joe().speak(TEXT, &settings, &|| true);
    assert!(matches!(r, Err(dial_voice::VoiceError::Cancelled)));
    assert!(matches!(
        joe().speak("", &settings, &|| false),
        Err(dial_voice::VoiceError::EmptyText)
    ));
}

#[test]
fn the_alignment_covers_every_character_in_order_from_the_durations() {
    let t = take(0.5, 3);
    let a = dial_voice::text_alignment(TEXT, &t);
    assert_eq!(a.characters.concat(), TEXT);
    let starts = &a.character_start_times_seconds;
    let ends = &a.character_end_times_seconds;
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    assert!(starts.iter().zip(ends).all(|(s, e)| s <= e));
    assert!(*ends.last().unwrap() <= t.seconds());
    // "How" starts after "world." ends, with the sentence silence between.
    let how = TEXT.find("How").unwrap();
    assert!(starts[how] - ends[how - 2] >= dial_voice::SENTENCE_SILENCE_S);
    let p = dial_voice::phoneme_alignment(&t);
    assert_eq!(
        p.characters.len(),
        t.sentences
            .iter()
            .map(|s| s.plan.encoded.phonemes.len())
            .sum::<usize>()
    );
    assert!(p.character_end_times_seconds.last().unwrap() > &1.0);
}
