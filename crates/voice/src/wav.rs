//! 16-bit mono WAV, and Piper's float → int16 conversion.

/// Piper's conversion: scale so the peak is at full scale (a peak under 0.01 counts as
/// 0.01, so near-silence is not amplified into noise), clip, and truncate toward zero.
///
/// `x_i ← trunc(clip(x_i · 32767 / max(0.01, max|x|), ±32767))`
pub fn normalize_peak(audio: &[f32]) -> Vec<i16> {
    const FULL: f32 = 32767.0;
    let peak = audio
        .iter()
        .filter(|x| x.is_finite())
        .fold(0f32, |m, x| m.max(x.abs()))
        .max(0.01);
    let scale = FULL / peak;
    audio
        .iter()
        .map(|&x| {
            let y = if x.is_finite() { x * scale } else { 0.0 };
            y.clamp(-FULL, FULL) as i16
        })
        .collect()
}

/// A RIFF/WAVE file of 16-bit little-endian mono PCM at `sample_rate`.
pub fn wav_bytes(samples: &[i16], sample_rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[test]
    fn the_header_describes_the_samples() {
        let b = wav_bytes(&[0, 1, -1, i16::MAX, i16::MIN], 22050);
        assert_eq!(b.len(), 44 + 10);
        assert_eq!(&b[0..4], b"RIFF");
        assert_eq!(u32_at(&b, 4), 36 + 10);
        assert_eq!(&b[8..16], b"WAVEfmt ");
        assert_eq!(u32_at(&b, 24), 22050);
        assert_eq!(u32_at(&b, 28), 44100);
        assert_eq!(&b[36..40], b"data");
        assert_eq!(u32_at(&b, 40), 10);
        assert_eq!(&b[44..46], &[0, 0]);
        assert_eq!(&b[50..52], &i16::MAX.to_le_bytes());
    }

    #[test]
    fn the_peak_goes_to_full_scale_and_silence_stays_quiet() {
        assert_eq!(normalize_peak(&[0.5, -0.25, 0.0]), [32767, -16383, 0]);
        assert_eq!(normalize_peak(&[-2.0, 1.0]), [-32767, 16383]);
        // Under the 0.01 floor: scaled by 32767 / 0.01, not blown up to full scale.
        assert_eq!(normalize_peak(&[0.001]), [3276]);
        assert_eq!(normalize_peak(&[f32::NAN, 0.5]), [0, 32767]);
        assert!(normalize_peak(&[]).is_empty());
    }
}
