//! What stability does, measured on the real voice: over 20 seeded takes at each of five
//! levels, the takes' spread in log-mel distance and in duration falls as stability rises,
//! down to none at 1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use dial_voice::analysis::{log_mel, mean_pairwise_distance, mean_std};
use dial_voice::{Stability, TakeSettings};

const TAKES: u32 = 20;
const LEVELS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

#[test]
fn variation_falls_monotonically_as_stability_rises() {
    let voice = common::joe();
    let mut rows = Vec::new();
    for s in LEVELS {
        let mut mels = Vec::new();
        let mut seconds = Vec::new();
        for seed in 0..TAKES {
            let settings = TakeSettings {
                stability: Stability::new(s).unwrap(),
                seed: 1000 + seed,
                ..TakeSettings::default()
            };
            let take = voice
                .speak("Hello world, how are you?", &settings, &|| false)
                .unwrap();
            seconds.push(take.seconds());
            mels.push(log_mel(&take.samples(), take.sample_rate));
        }
        let distance = mean_pairwise_distance(&mels);
        let (_, duration_sd) = mean_std(&seconds);
        println!("stability {s}: log-mel distance {distance:.4}, duration sd {duration_sd:.4} s");
        rows.push((distance, duration_sd));
    }
    for (w, s) in rows.windows(2).zip(LEVELS.windows(2)) {
        assert!(
            w[1].0 < w[0].0,
            "log-mel distance rose from {} to {}: {rows:?}",
            s[0],
            s[1]
        );
        assert!(
            w[1].1 < w[0].1,
            "duration spread rose from {} to {}: {rows:?}",
            s[0],
            s[1]
        );
    }
    // Stability 1: every take is the same samples (the duration sd is float rounding).
    assert_eq!(rows[4].0, 0.0, "stability 1 varies: {rows:?}");
    assert!(rows[4].1 < 1e-9, "stability 1 varies: {rows:?}");
}
