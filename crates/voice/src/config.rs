//! A Piper voice's `.onnx.json`: its sample rate, inference defaults, speakers and phoneme
//! map.

use crate::phoneme_ids::PhonemeIds;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Why a voice config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not JSON, or a field of the wrong type.
    #[error("the voice config is not valid: {0}")]
    Json(String),
    /// A value no voice can have.
    #[error("the voice config's {field} is invalid: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// The voice's own defaults for the three VITS scales.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct InferenceDefaults {
    /// Scale of the prior noise: `z = μ + ε·σ·noise_scale`.
    pub noise_scale: f32,
    /// Duration scale: > 1 is slower.
    pub length_scale: f32,
    /// Scale of the duration predictor's noise.
    pub noise_w: f32,
}

#[derive(Debug, Deserialize)]
struct Audio {
    sample_rate: u32,
}

#[derive(Debug, Deserialize)]
struct Espeak {
    voice: String,
}

#[derive(Debug, Deserialize)]
struct Raw {
    audio: Audio,
    espeak: Espeak,
    inference: InferenceDefaults,
    #[serde(default)]
    num_speakers: Option<u32>,
    #[serde(default)]
    speaker_id_map: BTreeMap<String, u32>,
    phoneme_id_map: BTreeMap<String, Vec<i64>>,
}

/// A checked voice config.
#[derive(Debug, Clone)]
pub struct VoiceConfig {
    /// Output samples per second.
    pub sample_rate: u32,
    /// The espeak-ng voice that phonemises for it (`en-us`).
    pub espeak_voice: String,
    /// Its default scales.
    pub inference: InferenceDefaults,
    /// Speakers (1 for a single-speaker voice).
    pub num_speakers: u32,
    /// Speaker names to ids, for multi-speaker voices.
    pub speaker_id_map: BTreeMap<String, u32>,
    /// Phonemes to model ids.
    pub phoneme_ids: PhonemeIds,
}

impl VoiceConfig {
    /// Parses and checks a `.onnx.json`.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| ConfigError::Json(e.to_string()))?;
        let invalid = |field, reason: String| ConfigError::Invalid { field, reason };
        if !(1000..=384_000).contains(&raw.audio.sample_rate) {
            return Err(invalid(
                "audio.sample_rate",
                format!("{} Hz", raw.audio.sample_rate),
            ));
        }
        let i = raw.inference;
        for (field, v) in [
            ("inference.noise_scale", i.noise_scale),
            ("inference.noise_w", i.noise_w),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(field, format!("{v} is not a finite value ≥ 0")));
            }
        }
        if !(i.length_scale.is_finite() && i.length_scale > 0.0) {
            return Err(invalid(
                "inference.length_scale",
                format!("{} is not a finite value > 0", i.length_scale),
            ));
        }
        let num_speakers = raw.num_speakers.unwrap_or(1).max(1);
        if let Some((name, id)) = raw
            .speaker_id_map
            .iter()
            .find(|(_, id)| **id >= num_speakers)
        {
            return Err(invalid(
                "speaker_id_map",
                format!("{name} → {id}, but there are {num_speakers} speakers"),
            ));
        }
        let phoneme_ids = PhonemeIds::new(raw.phoneme_id_map)
            .map_err(|reason| invalid("phoneme_id_map", reason))?;
        Ok(VoiceConfig {
            sample_rate: raw.audio.sample_rate,
            espeak_voice: raw.espeak.voice,
            inference: i,
            num_speakers,
            speaker_id_map: raw.speaker_id_map,
            phoneme_ids,
        })
    }
}

impl VoiceConfig {
    /// A speaker by name (from `speaker_id_map`) or by number, if the voice has it.
    pub fn speaker(&self, name_or_number: &str) -> Option<u32> {
        self.speaker_id_map
            .get(name_or_number)
            .copied()
            .or_else(|| name_or_number.parse::<u32>().ok())
            .filter(|&s| s < self.num_speakers)
    }

    /// The voice ids a voice called `id` answers to, with their speakers: `id` itself
    /// for a single-speaker voice; `id:SPEAKER` for each speaker of a multi-speaker one,
    /// named where `speaker_id_map` names it.
    pub fn voice_ids(&self, id: &str) -> Vec<(String, u32)> {
        if self.num_speakers <= 1 {
            return vec![(id.to_string(), 0)];
        }
        (0..self.num_speakers)
            .map(|sid| {
                let name = self
                    .speaker_id_map
                    .iter()
                    .find(|(_, s)| **s == sid)
                    .map_or_else(|| sid.to_string(), |(name, _)| name.clone());
                (format!("{id}:{name}"), sid)
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(extra: &str) -> String {
        format!(
            r#"{{"audio": {{"sample_rate": 22050}}, "espeak": {{"voice": "en-us"}},
                "inference": {{"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8}},
                "phoneme_id_map": {{"_": [0], "^": [1], "$": [2], "a": [14]}}{extra}}}"#
        )
    }

    #[test]
    fn a_piper_config_parses_and_bad_values_are_named() {
        let c = VoiceConfig::from_json(&config("")).unwrap();
        assert_eq!(c.sample_rate, 22050);
        assert_eq!(c.espeak_voice, "en-us");
        assert_eq!(c.num_speakers, 1);
        assert_eq!(c.inference.noise_w, 0.8);
        let bad = config("").replace("0.8", "-1");
        assert!(matches!(
            VoiceConfig::from_json(&bad),
            Err(ConfigError::Invalid {
                field: "inference.noise_w",
                ..
            })
        ));
        let speakers = config(r#", "num_speakers": 2, "speaker_id_map": {"x": 2}"#);
        assert!(matches!(
            VoiceConfig::from_json(&speakers),
            Err(ConfigError::Invalid {
                field: "speaker_id_map",
                ..
            })
        ));
        assert!(matches!(
            VoiceConfig::from_json("{"),
            Err(ConfigError::Json(_))
        ));
        let two = VoiceConfig::from_json(&config(
            r#", "num_speakers": 3, "speaker_id_map": {"amy": 0, "bob": 2}"#,
        ))
        .unwrap();
        assert_eq!(
            two.voice_ids("v"),
            [("v:amy".into(), 0), ("v:1".into(), 1), ("v:bob".into(), 2)]
        );
        assert_eq!(
            (
                two.speaker("bob"),
                two.speaker("1"),
                two.speaker("3"),
                two.speaker("eve")
            ),
            (Some(2), Some(1), None, None)
        );
        assert_eq!(c.voice_ids("joe"), [("joe".into(), 0)]);
        assert_eq!((c.speaker("0"), c.speaker("1")), (Some(0), None));
        let no_pad = config("").replace(r#""_": [0], "#, "");
        assert!(matches!(
            VoiceConfig::from_json(&no_pad),
            Err(ConfigError::Invalid {
                field: "phoneme_id_map",
                ..
            })
        ));
    }
}
