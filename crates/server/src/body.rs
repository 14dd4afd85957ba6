//! Reading a request body: every field goes to the endpoint, to the knobs, or to dial's
//! extension object; the few OpenAI fields dial accepts without acting on are listed; any
//! other name is a 400 that suggests the nearest known one. Nothing is dropped silently.

use crate::error::ApiError;
use dial_sampling::{SamplingParams, nearest};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A request type with its own fields (besides the knobs).
pub(crate) trait Endpoint: DeserializeOwned {
    /// The endpoint's own field names, as serde reads them.
    const FIELDS: &'static [&'static str];
    /// OpenAI fields accepted and ignored (documented in the README).
    const IGNORED: &'static [&'static str];
    /// Whether the `dial` options object means anything here.
    const TAKES_DIAL: bool = true;
}

/// A body split by reader.
#[derive(Debug)]
pub(crate) struct Body<T> {
    pub api: T,
    pub params: SamplingParams,
    pub dial: crate::dial_options::DialOptions,
}

/// Parses `bytes` as a request to endpoint `T`.
pub(crate) fn parse<T: Endpoint>(bytes: &[u8]) -> Result<Body<T>, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_body("invalid_json", &format!("the body is not valid JSON: {e}"))
    })?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad_body(
            "invalid_json",
            "the body must be a JSON object",
        ));
    };
    split(map)
}

fn split<T: Endpoint>(map: Map<String, Value>) -> Result<Body<T>, ApiError> {
    let mut api = Map::new();
    let mut params = SamplingParams::default();
    let mut dial = None;
    for (name, value) in map {
        if T::FIELDS.contains(&name.as_str()) {
            api.insert(name, value);
        } else if name == "dial" && T::TAKES_DIAL {
            dial = Some(value);
        } else if T::IGNORED.contains(&name.as_str()) {
            continue;
        } else if SamplingParams::field(&name).is_some() && !name.contains('-') {
            params.insert(&name, value)?;
        } else {
            let known = T::FIELDS
                .iter()
                .copied()
                .chain(SamplingParams::spellings())
                .chain(T::IGNORED.iter().copied())
                .chain(T::TAKES_DIAL.then_some("dial"));
            let suggestion = nearest(&name, known);
            let shown: String = name.chars().take(64).collect();
            let message = match suggestion {
                Some(s) => format!("unknown parameter `{shown}`; did you mean `{s}`?"),
                None => format!("unknown parameter `{shown}`"),
            };
            return Err(ApiError::invalid(&shown, "unknown_parameter", &message));
        }
    }
    let api = from_value(Value::Object(api))?;
    let dial = match dial {
        None | Some(Value::Null) => Default::default(),
        Some(v) => from_value(v).map_err(|e| prefix_param(e, "dial"))?,
    };
    Ok(Body { api, params, dial })
}

fn prefix_param(mut e: ApiError, prefix: &str) -> ApiError {
    e.param = Some(match e.param.as_deref() {
        None | Some("") => prefix.to_string(),
        Some(p) => format!("{prefix}.{p}"),
    });
    e
}

/// serde with the path of the field at fault as the error's `param`.
pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let param = if path == "." { String::new() } else { path };
        let message = e.inner().to_string();
        let message = if param.is_empty() {
            message
        } else {
            format!("`{param}`: {message}")
        };
        let code = if message.contains("missing field") {
            "missing_required_parameter"
        } else {
            "invalid_type"
        };
        let mut err = ApiError::bad_body(code, &message);
        if !param.is_empty() {
            err = err.with_param(&param);
        }
        err
    })
}
