use super::field::{Field, FieldKind, Range};
use super::value::Value;
use super::vocabulary::Tokenize;
use crate::error::ConfigError;
use crate::knobs::{KnobKind, Knobs};
use crate::sampler::{Order, Sampler};
use std::collections::BTreeMap;

/// The seed: not a knob, but part of every request.
const SEED: Field = Field::other(
    "seed",
    FieldKind::Unsigned,
    "an integer in [0, 2^64)",
    "Seed of the ChaCha8 stream; the same seed and knobs give the same tokens.",
);

/// The order knobs run in.
const ORDER: Field = Field::other(
    "order",
    FieldKind::Text,
    "`temperature-first`, `temperature-last` or a comma-separated list of knob names",
    "Knob order: temperature-first (HF, vLLM, OpenAI), temperature-last (llama.cpp), or a list.",
);

/// The floor every truncation keeps: not a knob, but read by each of them.
const MIN_KEEP: Field = Field::integer(
    "min_keep",
    Range::closed(1.0, 65_536.0),
    "an integer in [1, 65536]",
    "Every truncation keeps at least this many tokens (HF's min_tokens_to_keep).",
)
.aliases(&["min_tokens_to_keep"])
.default(1.0)
.slider(1.0, 64.0, 1.0);

/// Longest string accepted in a field (bounds error messages and memory).
const MAX_TEXT: usize = 1024;
/// Most entries in a list field.
const MAX_LIST: usize = 4096;

/// Why a field could not be set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamsError {
    /// No field has this name.
    #[error("unknown parameter `{name}`{}", suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    Unknown {
        /// The name as given (truncated).
        name: String,
        /// The nearest known name.
        suggestion: Option<&'static str>,
    },
    /// The value has the wrong type or shape.
    #[error("`{param}` must be {expected}, got {got}")]
    WrongType {
        /// The field.
        param: &'static str,
        /// What it takes.
        expected: &'static str,
        /// What came (truncated).
        got: String,
    },
    /// The value is out of range.
    #[error("`{param}` = {value} is out of range (expected {expected})")]
    OutOfRange {
        /// The field.
        param: &'static str,
        /// The value (truncated).
        value: String,
        /// The valid range.
        expected: &'static str,
    },
    /// Text that only a model's tokenizer can turn into token ids.
    #[error("`{param}` is text and needs a model's tokenizer")]
    NeedsTokenizer {
        /// The field.
        param: &'static str,
    },
    /// The fields together do not make a chain (conflicts, a bad order).
    #[error("{source}")]
    Config {
        /// The field to blame.
        param: &'static str,
        /// Why.
        source: ConfigError,
    },
}

impl ParamsError {
    /// The parameter at fault, as the request spelt it.
    pub fn param(&self) -> &str {
        match self {
            ParamsError::Unknown { name, .. } => name,
            ParamsError::WrongType { param, .. }
            | ParamsError::OutOfRange { param, .. }
            | ParamsError::NeedsTokenizer { param }
            | ParamsError::Config { param, .. } => param,
        }
    }
}

/// `s`, cut to at most `n` chars with an ellipsis.
pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n).collect();
        out.push('…');
        out
    }
}

/// Every knob's fields in one flat request, with the API's names: `temperature`, `top_p`,
/// `top_k`, `min_p`, `typical_p`, `top_n_sigma`, `dynatemp_range`, `xtc_probability`,
/// `mirostat`, `repetition_penalty` (alias `repeat_penalty`), `frequency_penalty`,
/// `presence_penalty`, `dry_multiplier`, `logit_bias`, `seed`, `order`, …
///
/// Every value is checked against its [`Field`] as it is set, and deserializing checks that
/// the fields together build a chain, so a `SamplingParams` never describes invalid knobs.
///
/// ```
/// use dial_sampling::{SamplingParams, Value};
/// let mut params = SamplingParams::default();
/// params.set("temperature", Value::Number(0.7))?;
/// params.set_text("repeat_penalty", "1.1")?; // llama.cpp's name for repetition_penalty
/// assert_eq!(params.number("repetition_penalty"), Some(1.1));
/// let err = params.set("top_p", Value::Number(1.5)).unwrap_err();
/// assert_eq!(err.param(), "top_p");
/// let sampler = params.sampler(0)?;
/// assert_eq!(sampler.chain().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingParams {
    values: BTreeMap<&'static str, Value>,
    order: Order,
}

impl SamplingParams {
    /// Every field: each knob's, in registry order, then `min_keep`, `seed` and `order`.
    pub fn fields() -> impl Iterator<Item = &'static Field> {
        KnobKind::ALL
            .iter()
            .flat_map(|k| k.spec().fields.iter())
            .chain([&MIN_KEEP, &SEED, &ORDER])
    }

    /// The field called `name` (or aliased so; dashes read as underscores).
    pub fn field(name: &str) -> Option<&'static Field> {
        Self::fields().find(|f| f.answers_to(name))
    }

    /// Every accepted spelling: names and aliases.
    pub fn spellings() -> impl Iterator<Item = &'static str> {
        Self::fields().flat_map(|f| std::iter::once(f.name).chain(f.aliases.iter().copied()))
    }

    pub(crate) fn lookup(name: &str) -> Result<&'static Field, ParamsError> {
        Self::field(name).ok_or_else(|| ParamsError::Unknown {
            name: truncate(name, 64),
            suggestion: super::nearest(name, Self::spellings()),
        })
    }

    /// Sets a field after checking the value's kind and range.
    pub fn set(&mut self, name: &str, value: Value) -> Result<(), ParamsError> {
        let field = Self::lookup(name)?;
        let value = check(field, value)?;
        if field.name == ORDER.name {
            let Value::Text(text) = &value else {
                return Err(wrong_kind(field));
            };
            self.order = text.parse().map_err(|source| ParamsError::Config {
                param: ORDER.name,
                source,
            })?;
        }
        self.values.insert(field.name, value);
        Ok(())
    }

    /// Sets a field from command-line text: numbers, `true`/`false`, comma-separated ids or
    /// strings, and `ID=BIAS` pairs (comma-separated) for `logit_bias`.
    pub fn set_text(&mut self, name: &str, text: &str) -> Result<(), ParamsError> {
        let field = Self::lookup(name)?;
        let t = text.trim();
        let wrong = || ParamsError::WrongType {
            param: field.name,
            expected: field.expected,
            got: format!("{:?}", truncate(text, 64)),
        };
        let value = match field.kind {
            FieldKind::Number => Value::Number(t.parse().map_err(|_| wrong())?),
            FieldKind::Integer => Value::Integer(t.parse().map_err(|_| wrong())?),
            FieldKind::Unsigned => Value::Unsigned(t.parse().map_err(|_| wrong())?),
            FieldKind::Bool => Value::Bool(t.parse().map_err(|_| wrong())?),
            FieldKind::TokenIds => Value::TokenIds(
                t.split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| p.trim().parse().map_err(|_| wrong()))
                    .collect::<Result<_, _>>()?,
            ),
            FieldKind::TokenBiases => {
                let mut pairs = match self.values.get(field.name) {
                    Some(Value::TokenBiases(b)) => b.clone(),
                    _ => Vec::new(),
                };
                for part in t.split(',').filter(|p| !p.trim().is_empty()) {
                    let (id, bias) = part.split_once('=').ok_or_else(wrong)?;
                    let id = id.trim().parse().map_err(|_| wrong())?;
                    let bias = bias.trim().parse().map_err(|_| wrong())?;
                    pairs.retain(|&(i, _)| i != id);
                    pairs.push((id, bias));
                }
                Value::TokenBiases(pairs)
            }
            FieldKind::SequenceBiases => {
                let mut pairs = match self.values.get(field.name) {
                    Some(Value::SequenceBiases(b)) => b.clone(),
                    _ => Vec::new(),
                };
                for part in t.split(',').filter(|p| !p.trim().is_empty()) {
                    let (ids, bias) = part.split_once('=').ok_or_else(wrong)?;
                    let ids: Vec<u32> = ids
                        .split_whitespace()
                        .map(|id| id.parse().map_err(|_| wrong()))
                        .collect::<Result<_, _>>()?;
                    pairs.retain(|(s, _)| *s != ids);
                    pairs.push((ids, bias.trim().parse().map_err(|_| wrong())?));
                }
                Value::SequenceBiases(pairs)
            }
            FieldKind::Strings => Value::Strings(t.split(',').map(str::to_string).collect()),
            FieldKind::Text => Value::Text(t.to_string()),
        };
        self.set(field.name, value)
    }

    /// Unsets a field.
    pub fn remove(&mut self, name: &str) {
        if let Some(field) = Self::field(name) {
            self.values.remove(field.name);
            if field.name == ORDER.name {
                self.order = Order::default();
            }
        }
    }

    /// A field's value, when set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        Self::field(name).and_then(|f| self.values.get(f.name))
    }

    /// Whether a field is set.
    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every set field, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.values.iter().map(|(k, v)| (*k, v))
    }

    /// A number field (integers read as numbers too).
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::Number(x) => Some(*x),
            Value::Integer(x) => Some(*x as f64),
            _ => None,
        }
    }

    /// An integer field.
    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Integer(x) => Some(*x),
            _ => None,
        }
    }

    /// A bool field.
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(x) => Some(*x),
            _ => None,
        }
    }

    /// A token-id list field.
    pub fn token_ids(&self, name: &str) -> Option<&[u32]> {
        match self.get(name)? {
            Value::TokenIds(x) => Some(x),
            _ => None,
        }
    }

    /// The `logit_bias` pairs.
    pub fn token_biases(&self, name: &str) -> Option<&[(u32, f32)]> {
        match self.get(name)? {
            Value::TokenBiases(x) => Some(x),
            _ => None,
        }
    }

    /// A sequence-bias field.
    pub fn sequence_biases(&self, name: &str) -> Option<&[(Vec<u32>, f32)]> {
        match self.get(name)? {
            Value::SequenceBiases(x) => Some(x),
            _ => None,
        }
    }

    /// A text field.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Text(x) => Some(x),
            _ => None,
        }
    }

    /// A string-list field.
    pub fn strings(&self, name: &str) -> Option<&[String]> {
        match self.get(name)? {
            Value::Strings(x) => Some(x),
            _ => None,
        }
    }

    /// The first token id, in any set field that holds ids, at or past `vocab`: the field
    /// and the id.
    pub fn token_id_out_of_range(&self, vocab: usize) -> Option<(&'static str, u32)> {
        self.values.iter().find_map(|(name, value)| {
            let id = value.token_ids().find(|&id| id as usize >= vocab)?;
            Some((*name, id))
        })
    }

    /// `min_keep`: how many tokens every truncation keeps at least (1 unless set).
    pub fn min_keep(&self) -> usize {
        self.integer(MIN_KEEP.name)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(1)
    }

    /// The seed, when set.
    pub fn seed(&self) -> Option<u64> {
        match self.values.get(SEED.name)? {
            Value::Unsigned(x) => Some(*x),
            _ => None,
        }
    }

    /// The order (`temperature-first` unless set).
    pub fn order(&self) -> &Order {
        &self.order
    }

    /// The knobs these fields turn on, without a model: a set text field (such as
    /// `dry_sequence_breakers`) is an error, and DRY gets no sequence breakers; use
    /// [`SamplingParams::knobs_with_tokenizer`] when there is a tokenizer.
    pub fn knobs(&self) -> Result<Knobs, ParamsError> {
        self.build(None)
    }

    /// The knobs, with every text field encoded by `tokenize` (e.g. DRY's sequence
    /// breakers, `dry_sequence_breakers` or [`crate::Dry::DEFAULT_SEQUENCE_BREAKERS`]).
    pub fn knobs_with_tokenizer(&self, tokenize: Tokenize<'_>) -> Result<Knobs, ParamsError> {
        self.build(Some(tokenize))
    }

    pub(crate) fn build(&self, tokenize: Option<Tokenize<'_>>) -> Result<Knobs, ParamsError> {
        if tokenize.is_none()
            && let Some(field) = Self::fields()
                .find(|f| f.kind == FieldKind::Strings && self.values.contains_key(f.name))
        {
            return Err(ParamsError::NeedsTokenizer { param: field.name });
        }
        Knobs::from_params(self, tokenize).map_err(|e| {
            let param = Self::field(e.parameter)
                .or_else(|| Self::field(e.knob))
                .or_else(|| {
                    let kind: KnobKind = e.knob.parse().ok()?;
                    kind.spec().fields.first()
                })
                .map_or("knobs", |f| f.name);
            ParamsError::Config {
                param,
                source: ConfigError::Param(e),
            }
        })
    }

    /// A sampler for these fields, seeded with `seed` or, when unset, `default_seed`.
    pub fn sampler(&self, default_seed: u64) -> Result<Sampler, ParamsError> {
        self.sampler_from(self.knobs()?, default_seed)
    }

    /// [`SamplingParams::sampler`] with DRY's breakers encoded by `tokenize`.
    pub fn sampler_with_tokenizer(
        &self,
        default_seed: u64,
        tokenize: Tokenize<'_>,
    ) -> Result<Sampler, ParamsError> {
        self.sampler_from(self.knobs_with_tokenizer(tokenize)?, default_seed)
    }

    fn sampler_from(&self, knobs: Knobs, default_seed: u64) -> Result<Sampler, ParamsError> {
        Sampler::with_order(
            knobs,
            self.order.clone(),
            self.seed().unwrap_or(default_seed),
        )
        .map_err(|source| ParamsError::Config {
            param: blame(&source),
            source,
        })
    }
}

/// The field a chain-building error is about.
fn blame(e: &ConfigError) -> &'static str {
    let knob = match e {
        ConfigError::Conflict(a, _) | ConfigError::MissingFromOrder(a) => *a,
        ConfigError::DuplicateInOrder(_) | ConfigError::UnknownKnob(_) => return ORDER.name,
        ConfigError::Param(p) => p.knob,
    };
    knob.parse::<KnobKind>()
        .ok()
        .and_then(|k| k.spec().fields.first())
        .map_or(ORDER.name, |f| f.name)
}

fn wrong_kind(field: &'static Field) -> ParamsError {
    ParamsError::WrongType {
        param: field.name,
        expected: field.expected,
        got: "a value of another kind".into(),
    }
}

/// Checks `value` against `field`: kind (integers are accepted for numbers, integral
/// numbers for integers), range, list sizes, token-bias values.
pub(crate) fn check(field: &'static Field, value: Value) -> Result<Value, ParamsError> {
    let wrong = |got: &Value| ParamsError::WrongType {
        param: field.name,
        expected: field.expected,
        got: truncate(&got.to_string(), 64),
    };
    let out_of_range = |got: String| ParamsError::OutOfRange {
        param: field.name,
        value: truncate(&got, 64),
        expected: field.expected,
    };
    let in_range = |x: f64| field.range.is_none_or(|r: Range| r.contains(x));
    let value = match (field.kind, value) {
        (FieldKind::Number, Value::Integer(x)) => Value::Number(x as f64),
        (FieldKind::Number, Value::Unsigned(x)) => Value::Number(x as f64),
        (FieldKind::Integer, Value::Number(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
            Value::Integer(x as i64)
        }
        (FieldKind::Integer, Value::Unsigned(x)) => {
            Value::Integer(i64::try_from(x).map_err(|_| out_of_range(x.to_string()))?)
        }
        (FieldKind::Unsigned, Value::Integer(x)) => {
            Value::Unsigned(u64::try_from(x).map_err(|_| out_of_range(x.to_string()))?)
        }
        (FieldKind::Unsigned, Value::Number(x))
            if x.fract() == 0.0 && (0.0..1.8e19).contains(&x) =>
        {
            Value::Unsigned(x as u64)
        }
        (_, v) => v,
    };
    match (&value, field.kind) {
        (Value::Number(x), FieldKind::Number) => {
            if !in_range(*x) {
                return Err(out_of_range(x.to_string()));
            }
        }
        (Value::Integer(x), FieldKind::Integer) => {
            if !in_range(*x as f64) {
                return Err(out_of_range(x.to_string()));
            }
        }
        (Value::Unsigned(_), FieldKind::Unsigned) | (Value::Bool(_), FieldKind::Bool) => {}
        (Value::TokenIds(ids), FieldKind::TokenIds) => {
            if ids.len() > MAX_LIST {
                return Err(out_of_range(format!("a list of {} ids", ids.len())));
            }
        }
        (Value::TokenBiases(b), FieldKind::TokenBiases) => {
            if b.len() > MAX_LIST {
                return Err(out_of_range(format!("{} biases", b.len())));
            }
            // `−∞` is llama.cpp's `false`: a ban.
            if let Some((id, x)) = b
                .iter()
                .find(|(_, x)| *x != f32::NEG_INFINITY && !in_range(f64::from(*x)))
            {
                return Err(out_of_range(format!("{x} (token {id})")));
            }
        }
        (Value::KeyedBiases(b), FieldKind::TokenBiases) => {
            let text: usize = b
                .iter()
                .map(|(k, _)| match k {
                    crate::BiasKey::Text(t) => t.len(),
                    crate::BiasKey::Id(_) => 0,
                })
                .sum();
            if b.len() > MAX_LIST || text > MAX_TEXT * 16 {
                return Err(out_of_range(format!("{} biases", b.len())));
            }
            if let Some((key, x)) = b
                .iter()
                .find(|(_, x)| *x != f32::NEG_INFINITY && !in_range(f64::from(*x)))
            {
                return Err(out_of_range(truncate(&format!("{x} ({key})"), 64)));
            }
        }
        (Value::SequenceBiases(b), FieldKind::SequenceBiases) => {
            let ids: usize = b.iter().map(|(s, _)| s.len()).sum();
            if b.len() > MAX_LIST || ids > MAX_LIST {
                return Err(out_of_range(format!("{} sequences of {ids} ids", b.len())));
            }
            if let Some((seq, x)) = b.iter().find(|(_, x)| !in_range(f64::from(*x))) {
                return Err(out_of_range(truncate(
                    &format!("{x} (sequence {seq:?})"),
                    64,
                )));
            }
            if b.iter().any(|(s, _)| s.is_empty()) {
                return Err(out_of_range("an empty sequence".into()));
            }
        }
        (Value::Strings(s), FieldKind::Strings) => {
            if s.len() > MAX_LIST / 64 || s.iter().any(|s| s.len() > MAX_TEXT) {
                return Err(out_of_range(truncate(&format!("{s:?}"), 64)));
            }
        }
        (Value::Text(s), FieldKind::Text) => {
            if s.len() > MAX_TEXT {
                return Err(out_of_range(truncate(s, 64)));
            }
        }
        (v, _) => return Err(wrong(v)),
    }
    Ok(value)
}
