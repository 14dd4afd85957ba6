//! How much seeded takes of one text vary: the measures `dial speak --takes` prints and
//! the server's takes route returns, computed once here.
//!
//! - duration: each take's length in seconds; mean and (population) standard deviation;
//! - pitch: YIN F0 over each take's voiced frames; the spread *between* takes is the
//!   standard deviation of their mean F0s, the spread *within* one is its contour's;
//! - spectrum: log-mel DTW distance between every pair of takes, and from each take to
//!   the stability-1 (noise-free) take of the same text.

use crate::analysis::{dtw_distance, log_mel, mean_pairwise_distance, mean_std, yin_f0};
use crate::voice::Take;
use serde::Serialize;

/// One take's measures.
#[derive(Debug, Clone)]
pub struct TakeMeasures {
    /// Its seed.
    pub seed: u32,
    /// Its length.
    pub seconds: f64,
    /// F0 of its voiced frames, Hz, every 10 ms.
    pub f0: Vec<f64>,
    /// Its log-mel frames.
    pub mel: Vec<Vec<f64>>,
    /// Sentences that ran away and the seeds that replaced theirs.
    pub redraws: Vec<(u32, u32)>,
}

impl TakeMeasures {
    /// Measures `take`, made with `seed`.
    pub fn of(take: &Take, seed: u32) -> Self {
        let samples = take.samples();
        TakeMeasures {
            seed,
            seconds: take.seconds(),
            f0: yin_f0(&samples, take.sample_rate)
                .into_iter()
                .flatten()
                .collect(),
            mel: log_mel(&samples, take.sample_rate),
            redraws: take.runaways(),
        }
    }

    /// Mean and standard deviation of its F0, Hz (zeros when nothing is voiced).
    pub fn f0_mean_std(&self) -> (f64, f64) {
        mean_std(&self.f0)
    }
}

/// How a set of takes varies, against the noise-free take of the same text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variation {
    /// Each take's log-mel DTW distance to the robust take, in take order.
    #[serde(skip)]
    pub to_robust: Vec<f64>,
    /// Mean take length, s.
    pub duration_mean_s: f64,
    /// Standard deviation of the lengths, s.
    pub duration_std_s: f64,
    /// Mean of the takes' mean F0s, Hz.
    pub f0_mean_hz: f64,
    /// Standard deviation of the takes' mean F0s, Hz: pitch spread between takes.
    pub f0_std_between_takes_hz: f64,
    /// Mean of each take's F0 standard deviation, Hz: pitch movement within a take.
    pub f0_contour_spread_hz: f64,
    /// Mean log-mel DTW distance over every pair of takes.
    pub log_mel_distance_between_takes: f64,
    /// Mean log-mel DTW distance from a take to the robust take.
    pub log_mel_distance_to_robust: f64,
    /// The robust take's length, s.
    pub robust_seconds: f64,
}

impl Variation {
    /// Compares `takes` with each other and with `robust` (the stability-1 take).
    pub fn measure(takes: &[TakeMeasures], robust: &Take) -> Self {
        let robust_mel = log_mel(&robust.samples(), robust.sample_rate);
        let durations: Vec<f64> = takes.iter().map(|t| t.seconds).collect();
        let f0_means: Vec<f64> = takes.iter().map(|t| t.f0_mean_std().0).collect();
        let f0_spreads: Vec<f64> = takes.iter().map(|t| t.f0_mean_std().1).collect();
        let mels: Vec<Vec<Vec<f64>>> = takes.iter().map(|t| t.mel.clone()).collect();
        let to_robust: Vec<f64> = takes
            .iter()
            .map(|t| dtw_distance(&t.mel, &robust_mel))
            .collect();
        let (duration_mean_s, duration_std_s) = mean_std(&durations);
        let (f0_mean_hz, f0_std_between_takes_hz) = mean_std(&f0_means);
        Variation {
            duration_mean_s,
            duration_std_s,
            f0_mean_hz,
            f0_std_between_takes_hz,
            f0_contour_spread_hz: mean_std(&f0_spreads).0,
            log_mel_distance_between_takes: mean_pairwise_distance(&mels),
            log_mel_distance_to_robust: mean_std(&to_robust).0,
            robust_seconds: robust.seconds(),
            to_robust,
        }
    }
}
