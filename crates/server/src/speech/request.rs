//! The speech request: its fields, what has no effect, its schema, and its checks
//! (each bad field in one 422, as ElevenLabs lists them).

use crate::eleven_error::{ElevenError, FieldError};
use axum::body::Bytes;
use axum::http::StatusCode;
use dial_voice::{OutputFormat, Speed, Stability, TakeSettings};
use serde_json::{Map, Value, json};

/// Body fields ElevenLabs defines that change nothing on a single-speaker VITS voice.
/// They are accepted so clients work, and listed back in `x-dial-no-effect`.
pub const NO_EFFECT_FIELDS: &[&str] = &[
    "model_id",
    "language_code",
    "previous_text",
    "next_text",
    "previous_request_ids",
    "next_request_ids",
    "apply_text_normalization",
    "apply_language_text_normalization",
    "pronunciation_dictionary_locators",
    "use_pvc_as_ivc",
    "audio_effects",
];

/// `voice_settings` fields with no effect on a single-speaker VITS voice.
pub const NO_EFFECT_SETTINGS: &[&str] = &["similarity_boost", "style", "use_speaker_boost"];

/// Query parameters ElevenLabs defines that dial accepts without acting on.
const NO_EFFECT_QUERY: &[&str] = &["enable_logging", "optimize_streaming_latency"];

/// The request, checked.
#[derive(Debug, Clone)]
pub(crate) struct SpeechRequest {
    pub text: String,
    pub settings: TakeSettings,
    pub seeded: bool,
    pub format: OutputFormat,
    pub no_effect: Vec<String>,
}

/// The request body's schema for `/openapi.json`, from the knobs' own descriptions.
pub fn request_schema() -> Value {
    let mut no_effect = Map::new();
    for key in NO_EFFECT_SETTINGS {
        no_effect.insert(
            (*key).into(),
            json!({"description": "Accepted; no effect on a single-speaker VITS voice (named in x-dial-no-effect)."}),
        );
    }
    let mut settings = json!({
        Stability::NAME: {"type": "number", "minimum": Stability::CREATIVE.value(),
            "maximum": Stability::ROBUST.value(), "default": Stability::NATURAL.value(),
            "description": Stability::SUMMARY},
        Speed::NAME: {"type": "number", "minimum": Speed::MIN, "maximum": Speed::MAX,
            "default": Speed::DEFAULT.value(), "description": Speed::SUMMARY},
    });
    if let Some(m) = settings.as_object_mut() {
        m.extend(no_effect);
    }
    let mut properties = json!({
        "text": {"type": "string", "description": "What to say."},
        "seed": {"type": "integer", "minimum": 0, "maximum": u32::MAX,
            "description": "The same seed, text and settings give the same samples; without one, a random seed (x-dial-seed)."},
        "voice_settings": {"type": "object", "additionalProperties": false, "properties": settings},
    });
    if let Some(m) = properties.as_object_mut() {
        for key in NO_EFFECT_FIELDS {
            m.insert(
                (*key).into(),
                json!({"description": "Accepted; no effect here (named in x-dial-no-effect)."}),
            );
        }
    }
    json!({"type": "object", "required": ["text"], "additionalProperties": false, "properties": properties})
}

fn number(
    object: &Map<String, Value>,
    key: &str,
    loc: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<f64> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            errors.push(FieldError::new(
                loc,
                "float_type",
                "Input should be a valid number",
            ));
            None
        }
    }
}

pub(super) fn parse(
    body: &Bytes,
    query: Option<&str>,
    max_characters: usize,
) -> Result<SpeechRequest, ElevenError> {
    let mut errors = Vec::new();
    let mut no_effect = Vec::new();
    let mut format = OutputFormat::DEFAULT;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "output_format" => match OutputFormat::parse(value) {
                Ok(f) => format = f,
                Err(e) => errors.push(FieldError::new(
                    &["query", "output_format"],
                    "enum",
                    e.to_string(),
                )),
            },
            k if NO_EFFECT_QUERY.contains(&k) => no_effect.push(k.to_string()),
            k => errors.push(FieldError::new(
                &["query", &k.chars().take(64).collect::<String>()],
                "extra_forbidden",
                "Extra inputs are not permitted",
            )),
        }
    }
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o,
        Ok(_) => {
            return Err(ElevenError::Invalid(vec![FieldError::new(
                &["body"],
                "model_attributes_type",
                "Input should be a JSON object",
            )]));
        }
        Err(e) => {
            return Err(ElevenError::Invalid(vec![FieldError::new(
                &["body", &e.line().to_string()],
                "json_invalid",
                format!("JSON decode error: {e}"),
            )]));
        }
    };
    let text = match object.get("text") {
        Some(Value::String(s)) => Some(s.clone()),
        None => {
            errors.push(FieldError::new(
                &["body", "text"],
                "missing",
                "Field required",
            ));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                &["body", "text"],
                "string_type",
                "Input should be a valid string",
            ));
            None
        }
    };
    let mut settings = TakeSettings::default();
    let mut seeded = false;
    match object.get("seed") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64().and_then(|s| u32::try_from(s).ok()) {
            Some(s) => {
                settings.seed = s;
                seeded = true;
            }
            None => errors.push(FieldError::new(
                &["body", "seed"],
                "less_than_equal",
                "seed must be an integer from 0 to 4294967295",
            )),
        },
    }
    match object.get("voice_settings") {
        None | Some(Value::Null) => {}
        Some(Value::Object(vs)) => {
            let loc = |k| ["body", "voice_settings", k];
            if let Some(s) = number(vs, Stability::NAME, &loc(Stability::NAME), &mut errors) {
                match Stability::new(s) {
                    Ok(s) => settings.stability = s,
                    Err(e) => errors.push(FieldError::new(
                        &loc(Stability::NAME),
                        "less_than_equal",
                        e.to_string(),
                    )),
                }
            }
            if let Some(x) = number(vs, Speed::NAME, &loc(Speed::NAME), &mut errors) {
                match Speed::new(x) {
                    Ok(x) => settings.speed = x,
                    Err(e) => errors.push(FieldError::new(
                        &loc(Speed::NAME),
                        "less_than_equal",
                        e.to_string(),
                    )),
                }
            }
            for key in vs.keys() {
                if NO_EFFECT_SETTINGS.contains(&key.as_str()) {
                    if !vs[key].is_null() {
                        no_effect.push(format!("voice_settings.{key}"));
                    }
                } else if key != Stability::NAME && key != Speed::NAME {
                    errors.push(FieldError::new(
                        &loc(key),
                        "extra_forbidden",
                        "Extra inputs are not permitted",
                    ));
                }
            }
        }
        Some(_) => errors.push(FieldError::new(
            &["body", "voice_settings"],
            "model_type",
            "Input should be an object",
        )),
    }
    for (key, value) in &object {
        if NO_EFFECT_FIELDS.contains(&key.as_str()) {
            if !value.is_null() {
                no_effect.push(key.clone());
            }
        } else if !matches!(key.as_str(), "text" | "seed" | "voice_settings") {
            errors.push(FieldError::new(
                &["body", &key.chars().take(64).collect::<String>()],
                "extra_forbidden",
                "Extra inputs are not permitted",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ElevenError::Invalid(errors));
    }
    let text = text.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ElevenError::status(
            StatusCode::BAD_REQUEST,
            "empty_text",
            "text is empty: there is nothing to speak",
        ));
    }
    let characters = text.chars().count();
    if characters > max_characters {
        return Err(ElevenError::status(
            StatusCode::BAD_REQUEST,
            "max_character_limit_exceeded",
            format!("text has {characters} characters; this server's limit is {max_characters}"),
        ));
    }
    if !seeded {
        settings.seed = dial_sampling::clock_bits() as u32;
    }
    Ok(SpeechRequest {
        text,
        settings,
        seeded,
        format,
        no_effect,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn errors(body: &str, query: Option<&str>) -> Vec<FieldError> {
        match parse(&Bytes::from(body.to_string()), query, 100) {
            Err(ElevenError::Invalid(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_invalid_field_is_listed_in_one_422() {
        let e = errors(
            r#"{"text": "hi", "seed": 4294967296, "voice_settings": {"stability": 1.5, "speed": 2, "warmth": 1}, "colour": 1}"#,
            Some("output_format=opus_48000_64&nonsense=1"),
        );
        let locs: Vec<String> = e.iter().map(|f| f.loc.join(".")).collect();
        for want in [
            "query.output_format",
            "query.nonsense",
            "body.seed",
            "body.voice_settings.stability",
            "body.voice_settings.speed",
            "body.voice_settings.warmth",
            "body.colour",
        ] {
            assert!(
                locs.contains(&want.to_string()),
                "{want} missing from {locs:?}"
            );
        }
        assert_eq!(errors(r#"{}"#, None)[0].kind, "missing");
        assert_eq!(errors("{", None)[0].kind, "json_invalid");
        assert_eq!(errors("[1]", None)[0].kind, "model_attributes_type");
    }

    #[test]
    fn text_limits_no_effect_fields_and_seeds() {
        let status = |body: &str| match parse(&Bytes::from(body.to_string()), None, 5) {
            Err(ElevenError::Status { status, .. }) => status,
            other => panic!("{other:?}"),
        };
        assert_eq!(status(r#"{"text": "  "}"#), "empty_text");
        assert_eq!(
            status(r#"{"text": "abcdef"}"#),
            "max_character_limit_exceeded"
        );
        let ok = parse(
            &Bytes::from(
                r#"{"text": "hi", "model_id": "eleven_v3", "seed": 7,
                   "voice_settings": {"stability": 1, "style": 0.5}}"#,
            ),
            Some("output_format=pcm_16000&enable_logging=false"),
            5,
        )
        .unwrap();
        assert_eq!(ok.settings.seed, 7);
        assert!(ok.seeded);
        assert_eq!(ok.settings.stability, Stability::ROBUST);
        assert_eq!(ok.format, OutputFormat::Pcm(16000));
        assert_eq!(
            ok.no_effect,
            ["enable_logging", "voice_settings.style", "model_id"]
        );
        let unseeded = parse(&Bytes::from(r#"{"text": "hi"}"#), None, 5).unwrap();
        assert!(!unseeded.seeded);
    }
}
