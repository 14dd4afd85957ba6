//! Sample-rate conversion with `rubato`'s synchronous FFT resampler (an exact rational
//! ratio, so 22,050 → 8,000 Hz gives exactly `round(n · 8000 / 22050)` samples).

use rubato::{FftFixedInOut, Resampler};

/// Why audio could not be resampled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot resample from {from} Hz to {to} Hz: {reason}")]
pub struct ResampleError {
    /// Input rate.
    pub from: u32,
    /// Output rate.
    pub to: u32,
    /// Why.
    pub reason: String,
}

/// `samples` at `from` Hz, converted to `to` Hz, with the resampler's delay removed.
pub fn resample(samples: &[i16], from: u32, to: u32) -> Result<Vec<i16>, ResampleError> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let error = |e: &dyn std::fmt::Display| ResampleError {
        from,
        to,
        reason: e.to_string(),
    };
    let mut resampler =
        FftFixedInOut::<f32>::new(from as usize, to as usize, 1024, 1).map_err(|e| error(&e))?;
    let delay = resampler.output_delay();
    let wanted =
        ((samples.len() as u64 * u64::from(to) + u64::from(from) / 2) / u64::from(from)) as usize;
    let input: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let mut output: Vec<f32> = Vec::with_capacity(wanted + delay + 2048);
    let mut at = 0;
    while output.len() < wanted + delay {
        let need = resampler.input_frames_next();
        let chunk = if at + need <= input.len() {
            resampler.process(&[&input[at..at + need]], None)
        } else if at < input.len() {
            resampler.process_partial(Some(&[&input[at..]]), None)
        } else {
            resampler.process_partial::<&[f32]>(None, None)
        }
        .map_err(|e| error(&e))?;
        at = (at + need).min(input.len());
        output.extend_from_slice(&chunk[0]);
    }
    Ok(output[delay..delay + wanted]
        .iter()
        .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (10000.0 * (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn lengths_are_exact_for_every_elevenlabs_rate() {
        let input = tone(22050, 440.0, 22050 + 123);
        for to in crate::RATES {
            let out = resample(&input, 22050, to).unwrap();
            let expected = ((input.len() as u64 * u64::from(to) + 11025) / 22050) as usize;
            assert_eq!(out.len(), expected, "{to} Hz");
        }
        assert!(resample(&[], 22050, 8000).unwrap().is_empty());
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_level() {
        let out = resample(&tone(22050, 440.0, 22050), 22050, 16000).unwrap();
        let middle = &out[800..15200];
        let rms = (middle.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / middle.len() as f64)
            .sqrt();
        // A 10,000-peak sine has an RMS of 10000/√2.
        assert!((rms / (10000.0 / 2f64.sqrt()) - 1.0).abs() < 0.02, "{rms}");
        // 440 Hz over 0.9 s: 792 sign changes.
        let crossings = middle
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        assert!((790..=794).contains(&crossings), "{crossings}");
    }
}
