//! `SamplingParams` through serde: a flat map of fields, validated as it is read.

use super::bias_key::BiasKey;
use super::field::{Field, FieldKind};
use super::sampling_params::{ParamsError, SamplingParams, truncate};
use super::value::Value;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use std::fmt;

impl SamplingParams {
    /// Sets the field `name` from any serde value (a `serde_json::Value`, say), with the
    /// same checks as [`SamplingParams::set`]. `null` unsets it.
    pub fn insert<'de, D: Deserializer<'de>>(
        &mut self,
        name: &str,
        value: D,
    ) -> Result<(), ParamsError> {
        let field = Self::lookup(name)?;
        match FieldSeed(field).deserialize(value) {
            Ok(Some(v)) => self.set(field.name, v),
            Ok(None) => {
                self.remove(field.name);
                Ok(())
            }
            Err(e) => Err(ParamsError::WrongType {
                param: field.name,
                expected: field.expected,
                got: truncate(&e.to_string(), 96),
            }),
        }
    }
}

impl serde::Serialize for SamplingParams {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for SamplingParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ParamsVisitor)
    }
}

struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = SamplingParams;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of sampling parameters")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SamplingParams, A::Error> {
        let mut params = SamplingParams::default();
        while let Some(key) = map.next_key::<String>()? {
            let field = SamplingParams::lookup(&key).map_err(de::Error::custom)?;
            match map.next_value_seed(FieldSeed(field))? {
                Some(v) => params.set(field.name, v).map_err(de::Error::custom)?,
                None => params.remove(field.name),
            }
        }
        // The fields together must build a chain. Text is checked for the model later; a
        // stand-in tokenizer (one token per non-empty text) lets the rest be checked now.
        let stand_in = |text: &str| -> Vec<u32> { if text.is_empty() { vec![] } else { vec![0] } };
        let knobs = params.build(Some(&stand_in)).map_err(de::Error::custom)?;
        crate::Sampler::with_order(knobs, params.order().clone(), 0).map_err(de::Error::custom)?;
        Ok(params)
    }
}

/// Reads one field's value in the shape its kind takes; `None` for `null`.
struct FieldSeed(&'static Field);

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(FieldVisitor(self.0))
    }
}

struct FieldVisitor(&'static Field);

impl FieldVisitor {
    fn kind(&self) -> FieldKind {
        self.0.kind
    }
}

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.expected)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<Value>, E> {
        match self.kind() {
            FieldKind::Bool => Ok(Some(Value::Bool(v))),
            _ => Err(de::Error::invalid_type(de::Unexpected::Bool(v), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<Value>, E> {
        match self.kind() {
            FieldKind::Number | FieldKind::Integer | FieldKind::Unsigned => {
                Ok(Some(Value::Integer(v)))
            }
            _ => Err(de::Error::invalid_type(de::Unexpected::Signed(v), &self)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<Value>, E> {
        match self.kind() {
            FieldKind::Number | FieldKind::Integer | FieldKind::Unsigned => {
                Ok(Some(Value::Unsigned(v)))
            }
            _ => Err(de::Error::invalid_type(de::Unexpected::Unsigned(v), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<Value>, E> {
        match self.kind() {
            FieldKind::Number | FieldKind::Integer | FieldKind::Unsigned => {
                Ok(Some(Value::Number(v)))
            }
            _ => Err(de::Error::invalid_type(de::Unexpected::Float(v), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Value>, E> {
        match self.kind() {
            FieldKind::Text => Ok(Some(Value::Text(v.to_string()))),
            FieldKind::Strings => Ok(Some(Value::Strings(vec![v.to_string()]))),
            _ => Err(de::Error::invalid_type(
                de::Unexpected::Str(&truncate(v, 32)),
                &self,
            )),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        match self.kind() {
            FieldKind::TokenIds => {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<u32>()? {
                    ids.push(id);
                    if ids.len() > 65_536 {
                        return Err(de::Error::invalid_length(ids.len(), &self));
                    }
                }
                Ok(Some(Value::TokenIds(ids)))
            }
            FieldKind::TokenBiases => {
                // llama.cpp's array form: [[id or text, bias or false], …].
                let mut entries: Vec<(BiasKey, f32)> = Vec::new();
                while let Some((key, bias)) = seq.next_element::<(BiasKey, BiasValue)>()? {
                    entries.push((key, bias.as_f32().map_err(de::Error::custom)?));
                    if entries.len() > 65_536 {
                        return Err(de::Error::invalid_length(entries.len(), &self));
                    }
                }
                // Every entry counts, as in llama.cpp: a repeated token gets the sum.
                Ok(Some(Value::KeyedBiases(entries)))
            }
            FieldKind::SequenceBiases => {
                let mut out: Vec<(Vec<u32>, f32)> = Vec::new();
                while let Some((ids, bias)) = seq.next_element::<(Vec<u32>, f64)>()? {
                    out.retain(|(s, _)| *s != ids);
                    out.push((ids, bias as f32));
                    if out.len() > 65_536 {
                        return Err(de::Error::invalid_length(out.len(), &self));
                    }
                }
                Ok(Some(Value::SequenceBiases(out)))
            }
            FieldKind::Strings => {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                    if out.len() > 1024 {
                        return Err(de::Error::invalid_length(out.len(), &self));
                    }
                }
                Ok(Some(Value::Strings(out)))
            }
            _ => Err(de::Error::invalid_type(de::Unexpected::Seq, &self)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        if self.kind() != FieldKind::TokenBiases {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        let mut entries: Vec<(BiasKey, f32)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let bias: BiasValue = map.next_value()?;
            entries.push((
                BiasKey::from_key(&key),
                bias.as_f32().map_err(de::Error::custom)?,
            ));
            if entries.len() > 65_536 {
                return Err(de::Error::invalid_length(entries.len(), &self));
            }
        }
        Ok(Some(biases(entries)))
    }
}

/// A bias as llama.cpp takes it: a number, or `false` to ban.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum BiasValue {
    Number(f64),
    Flag(bool),
}

impl BiasValue {
    fn as_f32(&self) -> Result<f32, &'static str> {
        match self {
            BiasValue::Number(x) => Ok(*x as f32),
            BiasValue::Flag(false) => Ok(f32::NEG_INFINITY),
            BiasValue::Flag(true) => {
                Err("a logit_bias of `true` means nothing: give a number, or false to ban")
            }
        }
    }
}

/// Id-keyed entries as [`Value::TokenBiases`] (the last of a repeated id wins, sorted);
/// any text key keeps them all as [`Value::KeyedBiases`], for the tokenizer.
fn biases(entries: Vec<(BiasKey, f32)>) -> Value {
    if entries.iter().any(|(k, _)| matches!(k, BiasKey::Text(_))) {
        return Value::KeyedBiases(entries);
    }
    let mut pairs: Vec<(u32, f32)> = Vec::new();
    for (key, bias) in entries {
        if let BiasKey::Id(id) = key {
            pairs.retain(|&(i, _)| i != id);
            pairs.push((id, bias));
        }
    }
    pairs.sort_unstable_by_key(|&(id, _)| id);
    Value::TokenBiases(pairs)
}
