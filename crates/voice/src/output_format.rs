//! ElevenLabs' `output_format`: the encodings dial writes, named as ElevenLabs names them.

use crate::resample::{ResampleError, resample};
use crate::{g711, wav};

/// The rates dial resamples to, ElevenLabs' PCM and WAV rates.
pub const RATES: [u32; 7] = [8000, 16000, 22050, 24000, 32000, 44100, 48000];

/// Why an output format cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A name dial does not write (Opus, and MP3 in a build without the `mp3` feature).
    #[error("output_format `{0}` is not supported; dial writes {list}", list = OutputFormat::supported().join(", "))]
    Unsupported(String),
    /// Resampling failed.
    #[error(transparent)]
    Resample(#[from] ResampleError),
    /// The encoder failed.
    #[error("cannot encode: {0}")]
    Encode(String),
}

/// One encoding at one rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// 16-bit mono WAV (`wav_22050`).
    Wav(u32),
    /// Raw 16-bit little-endian mono PCM (`pcm_22050`).
    Pcm(u32),
    /// G.711 µ-law at 8 kHz, raw.
    Ulaw8000,
    /// G.711 A-law at 8 kHz, raw.
    Alaw8000,
    /// Constant-bit-rate mono MP3 (`mp3_44100_128`); with the `mp3` feature.
    Mp3 {
        /// Samples per second.
        rate: u32,
        /// Bit rate in kbit/s.
        kbps: u32,
    },
}

impl OutputFormat {
    /// What a request that names no format gets: ElevenLabs' own default,
    /// `mp3_44100_128`.
    #[cfg(feature = "mp3")]
    pub const DEFAULT: OutputFormat = OutputFormat::Mp3 {
        rate: 44100,
        kbps: 128,
    };
    /// What a request that names no format gets, in a build without MP3: WAV at the
    /// default voice's rate.
    #[cfg(not(feature = "mp3"))]
    pub const DEFAULT: OutputFormat = OutputFormat::Wav(22050);

    /// Every name dial accepts.
    pub fn supported() -> Vec<String> {
        let mut names: Vec<String> = RATES.iter().map(|r| format!("pcm_{r}")).collect();
        names.extend(RATES.iter().map(|r| format!("wav_{r}")));
        names.extend(["ulaw_8000".into(), "alaw_8000".into()]);
        #[cfg(feature = "mp3")]
        names.extend(
            crate::mp3::FORMATS
                .iter()
                .map(|(rate, kbps)| format!("mp3_{rate}_{kbps}")),
        );
        names
    }

    /// Parses an ElevenLabs format name.
    pub fn parse(name: &str) -> Result<Self, FormatError> {
        let unsupported = || FormatError::Unsupported(name.chars().take(64).collect());
        let rate = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|r| RATES.contains(r))
                .ok_or_else(unsupported)
        };
        match name {
            "ulaw_8000" => Ok(OutputFormat::Ulaw8000),
            "alaw_8000" => Ok(OutputFormat::Alaw8000),
            _ => match name.split_once('_') {
                Some(("pcm", r)) => Ok(OutputFormat::Pcm(rate(r)?)),
                Some(("wav", r)) => Ok(OutputFormat::Wav(rate(r)?)),
                #[cfg(feature = "mp3")]
                Some(("mp3", rest)) => rest
                    .split_once('_')
                    .and_then(|(r, k)| Some((r.parse::<u32>().ok()?, k.parse::<u32>().ok()?)))
                    .filter(|f| crate::mp3::FORMATS.contains(f))
                    .map(|(rate, kbps)| OutputFormat::Mp3 { rate, kbps })
                    .ok_or_else(unsupported),
                _ => Err(unsupported()),
            },
        }
    }

    /// Its ElevenLabs name.
    pub fn name(self) -> String {
        match self {
            OutputFormat::Wav(r) => format!("wav_{r}"),
            OutputFormat::Pcm(r) => format!("pcm_{r}"),
            OutputFormat::Ulaw8000 => "ulaw_8000".into(),
            OutputFormat::Alaw8000 => "alaw_8000".into(),
            OutputFormat::Mp3 { rate, kbps } => format!("mp3_{rate}_{kbps}"),
        }
    }

    /// Output samples per second.
    pub fn rate(self) -> u32 {
        match self {
            OutputFormat::Wav(r) | OutputFormat::Pcm(r) | OutputFormat::Mp3 { rate: r, .. } => r,
            OutputFormat::Ulaw8000 | OutputFormat::Alaw8000 => 8000,
        }
    }

    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Wav(_) => "audio/wav",
            OutputFormat::Pcm(_) => "audio/pcm",
            OutputFormat::Ulaw8000 => "audio/basic",
            OutputFormat::Alaw8000 => "audio/x-alaw-basic",
            OutputFormat::Mp3 { .. } => "audio/mpeg",
        }
    }

    /// One chunk's bytes at the format's rate, without a file header: raw samples, or a
    /// self-contained MP3 stream, so that consecutive chunks concatenate.
    pub fn encode_raw(self, samples: &[i16], rate: u32) -> Result<Vec<u8>, FormatError> {
        let samples = resample(samples, rate, self.rate())?;
        Ok(match self {
            OutputFormat::Wav(_) | OutputFormat::Pcm(_) => {
                samples.iter().flat_map(|s| s.to_le_bytes()).collect()
            }
            OutputFormat::Ulaw8000 => samples.iter().map(|&s| g711::ulaw(s)).collect(),
            OutputFormat::Alaw8000 => samples.iter().map(|&s| g711::alaw(s)).collect(),
            #[cfg(feature = "mp3")]
            OutputFormat::Mp3 { rate, kbps } => {
                crate::mp3::encode(&samples, rate, kbps).map_err(FormatError::Encode)?
            }
            #[cfg(not(feature = "mp3"))]
            OutputFormat::Mp3 { .. } => return Err(FormatError::Unsupported(self.name())),
        })
    }

    /// A whole file: WAV with its header, the others raw.
    pub fn encode(self, samples: &[i16], rate: u32) -> Result<Vec<u8>, FormatError> {
        match self {
            OutputFormat::Wav(r) => Ok(wav::wav_bytes(&resample(samples, rate, r)?, r)),
            _ => self.encode_raw(samples, rate),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_a_clear_error() {
        for name in OutputFormat::supported() {
            assert_eq!(OutputFormat::parse(&name).unwrap().name(), name);
        }
        for bad in [
            "mp3_44100_100",
            "pcm_11025",
            "opus_48000_64",
            "",
            "pcm_",
            "wav",
        ] {
            let e = OutputFormat::parse(bad).unwrap_err().to_string();
            assert!(e.contains("pcm_16000") && e.contains("ulaw_8000"), "{e}");
        }
    }

    #[test]
    fn byte_lengths_follow_the_rate_and_encoding() {
        let samples = vec![1000i16; 22050];
        let f = |n: &str| {
            OutputFormat::parse(n)
                .unwrap()
                .encode(&samples, 22050)
                .unwrap()
        };
        assert_eq!(f("pcm_22050").len(), 44100);
        assert_eq!(f("pcm_16000").len(), 32000);
        assert_eq!(f("ulaw_8000").len(), 8000);
        assert_eq!(f("alaw_8000").len(), 8000);
        #[cfg(feature = "mp3")]
        {
            // One second of constant-bit-rate MP3 is about kbps · 1000 / 8 bytes, in
            // frames that start with the MPEG sync word.
            let mp3 = f("mp3_44100_128");
            assert!((15_000..18_500).contains(&mp3.len()), "{}", mp3.len());
            assert_eq!(mp3[0], 0xFF);
            assert_eq!(mp3[1] & 0xE0, 0xE0);
            assert_eq!(
                OutputFormat::parse("mp3_44100_128").unwrap().content_type(),
                "audio/mpeg"
            );
        }
        let w = f("wav_44100");
        assert_eq!(w.len(), 44 + 88200);
        assert_eq!(&w[..4], b"RIFF");
    }
}
