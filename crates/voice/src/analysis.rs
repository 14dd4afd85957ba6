//! What stability does to takes, measured: pitch with YIN, spectra as log-mel frames, and
//! the distance between two takes along their best time alignment.
//!
//! - F0: YIN (de Cheveigné & Kawahara, 2002) on 40 ms windows every 10 ms, 60–400 Hz,
//!   threshold 0.10 (the paper's) on the cumulative-mean-normalised difference, parabolic refinement.
//!   A frame with no dip under the threshold, or with RMS under 1 % of full scale, is
//!   unvoiced.
//! - Log-mel: 25 ms Hann windows every 10 ms, 512-point FFT, 40 triangular mel bands
//!   from 0 Hz to Nyquist, `ln(energy + 1e-6)`.
//! - Distance: dynamic time warping over the log-mel frames with Euclidean frame cost;
//!   the accumulated cost divided by the path length.

use rustfft::{FftPlanner, num_complex::Complex};

const HOP_S: f64 = 0.010;

/// F0 in Hz every 10 ms, `None` where unvoiced.
pub fn yin_f0(samples: &[i16], rate: u32) -> Vec<Option<f64>> {
    let rate_f = f64::from(rate);
    let window = (0.040 * rate_f) as usize;
    let hop = (HOP_S * rate_f) as usize;
    let (min_lag, max_lag) = ((rate_f / 400.0) as usize, (rate_f / 60.0) as usize);
    if hop == 0 || samples.len() < window + max_lag {
        return Vec::new();
    }
    let x: Vec<f64> = samples.iter().map(|&s| f64::from(s) / 32768.0).collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start + window + max_lag <= x.len() {
        let frame = &x[start..start + window + max_lag];
        let rms = (frame[..window].iter().map(|v| v * v).sum::<f64>() / window as f64).sqrt();
        if rms < 0.01 {
            out.push(None);
            start += hop;
            continue;
        }
        let mut d = vec![0.0; max_lag + 1];
        for (lag, dl) in d.iter_mut().enumerate().skip(1) {
            *dl = (0..window)
                .map(|i| (frame[i] - frame[i + lag]).powi(2))
                .sum();
        }
        let mut cmnd = vec![1.0; max_lag + 1];
        let mut running = 0.0;
        for lag in 1..=max_lag {
            running += d[lag];
            cmnd[lag] = if running > 0.0 {
                d[lag] * lag as f64 / running
            } else {
                1.0
            };
        }
        let mut found = None;
        let mut lag = min_lag.max(2);
        while lag < max_lag {
            if cmnd[lag] < 0.10 {
                while lag + 1 < max_lag && cmnd[lag + 1] < cmnd[lag] {
                    lag += 1;
                }
                found = Some(lag);
                break;
            }
            lag += 1;
        }
        out.push(found.map(|l| {
            let (a, b, c) = (cmnd[l - 1], cmnd[l], cmnd[l + 1]);
            let denom = a - 2.0 * b + c;
            let shift = if denom.abs() > 1e-12 {
                0.5 * (a - c) / denom
            } else {
                0.0
            };
            rate_f / (l as f64 + shift.clamp(-1.0, 1.0))
        }));
        start += hop;
    }
    out
}

/// Log-mel frames (40 bands) every 10 ms.
pub fn log_mel(samples: &[i16], rate: u32) -> Vec<Vec<f64>> {
    const N_FFT: usize = 512;
    const BANDS: usize = 40;
    let rate_f = f64::from(rate);
    let window = ((0.025 * rate_f) as usize).min(N_FFT);
    let hop = ((HOP_S * rate_f) as usize).max(1);
    let mel = |hz: f64| 2595.0 * (1.0 + hz / 700.0).log10();
    let hz = |m: f64| 700.0 * (10f64.powf(m / 2595.0) - 1.0);
    let top = mel(rate_f / 2.0);
    let edges: Vec<f64> = (0..BANDS + 2)
        .map(|i| hz(top * i as f64 / (BANDS + 1) as f64) * N_FFT as f64 / rate_f)
        .collect();
    let hann: Vec<f64> = (0..window)
        .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / window as f64).cos())
        .collect();
    let fft = FftPlanner::<f64>::new().plan_fft_forward(N_FFT);
    let mut frames = Vec::new();
    let mut start = 0;
    while start + window <= samples.len() {
        let mut buf: Vec<Complex<f64>> = (0..N_FFT)
            .map(|i| {
                let v = if i < window {
                    f64::from(samples[start + i]) / 32768.0 * hann[i]
                } else {
                    0.0
                };
                Complex::new(v, 0.0)
            })
            .collect();
        fft.process(&mut buf);
        let power: Vec<f64> = buf[..=N_FFT / 2].iter().map(|c| c.norm_sqr()).collect();
        let frame = (0..BANDS)
            .map(|b| {
                let (lo, mid, hi) = (edges[b], edges[b + 1], edges[b + 2]);
                let energy: f64 = power
                    .iter()
                    .enumerate()
                    .map(|(k, p)| {
                        let k = k as f64;
                        let w = if k <= lo || k >= hi {
                            0.0
                        } else if k <= mid {
                            (k - lo) / (mid - lo)
                        } else {
                            (hi - k) / (hi - mid)
                        };
                        w * p
                    })
                    .sum();
                (energy + 1e-6).ln()
            })
            .collect();
        frames.push(frame);
        start += hop;
    }
    frames
}

/// The DTW distance between two sequences of log-mel frames: accumulated Euclidean cost
/// along the best monotone alignment, divided by the path's length.
pub fn dtw_distance(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return if a.len() == b.len() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let cost = |i: usize, j: usize| -> f64 {
        a[i].iter()
            .zip(&b[j])
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let (n, m) = (a.len(), b.len());
    // (accumulated cost, path length) per cell, one row at a time.
    let mut prev = vec![(f64::INFINITY, 0usize); m + 1];
    prev[0] = (0.0, 0);
    for i in 0..n {
        let mut row = vec![(f64::INFINITY, 0usize); m + 1];
        for j in 0..m {
            let candidates = [prev[j], prev[j + 1], row[j]];
            let best = candidates
                .iter()
                .copied()
                .min_by(|x, y| x.0.total_cmp(&y.0))
                .unwrap_or((f64::INFINITY, 0));
            row[j + 1] = (best.0 + cost(i, j), best.1 + 1);
        }
        if i == 0 {
            row[0] = (f64::INFINITY, 0);
        }
        prev = row;
    }
    let (total, steps) = prev[m];
    total / steps.max(1) as f64
}

/// The mean DTW distance over every pair of takes (0 for fewer than two).
pub fn mean_pairwise_distance(takes: &[Vec<Vec<f64>>]) -> f64 {
    let mut distances = Vec::new();
    for (i, a) in takes.iter().enumerate() {
        for b in &takes[i + 1..] {
            distances.push(dtw_distance(a, b));
        }
    }
    mean_std(&distances).0
}

/// Mean and standard deviation (population) of `xs`; zeros when empty.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    (mean, var.sqrt())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tone(hz: f64, seconds: f64) -> Vec<i16> {
        (0..(22050.0 * seconds) as usize)
            .map(|i| (8000.0 * (std::f64::consts::TAU * hz * i as f64 / 22050.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn yin_finds_a_tone_s_pitch_and_silence_is_unvoiced() {
        for hz in [100.0, 155.0, 220.0] {
            let f0 = yin_f0(&tone(hz, 0.5), 22050);
            let voiced: Vec<f64> = f0.iter().flatten().copied().collect();
            assert!(voiced.len() >= f0.len() - 1 && !voiced.is_empty());
            let (mean, _) = mean_std(&voiced);
            assert!((mean - hz).abs() < 1.0, "{hz}: {mean}");
        }
        assert!(yin_f0(&vec![0; 22050], 22050).iter().all(Option::is_none));
    }

    #[test]
    fn dtw_is_zero_for_a_take_and_itself_and_grows_with_difference() {
        let a = log_mel(&tone(200.0, 0.5), 22050);
        let stretched = log_mel(&tone(200.0, 0.7), 22050);
        let other = log_mel(&tone(900.0, 0.5), 22050);
        assert_eq!(dtw_distance(&a, &a), 0.0);
        assert!(dtw_distance(&a, &stretched) < 0.5);
        assert!(dtw_distance(&a, &other) > 5.0 * dtw_distance(&a, &stretched).max(0.1));
        assert_eq!(a[0].len(), 40);
    }
}
