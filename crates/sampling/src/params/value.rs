//! A field's value after parsing and validation.

/// The value of one [`crate::Field`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
pub enum Value {
    /// [`crate::FieldKind::Number`].
    Number(f64),
    /// [`crate::FieldKind::Integer`].
    Integer(i64),
    /// [`crate::FieldKind::Unsigned`].
    Unsigned(u64),
    /// [`crate::FieldKind::Bool`].
    Bool(bool),
    /// [`crate::FieldKind::TokenIds`].
    TokenIds(Vec<u32>),
    /// [`crate::FieldKind::TokenBiases`], sorted by id.
    #[cfg_attr(feature = "serde", serde(serialize_with = "biases_as_map"))]
    TokenBiases(Vec<(u32, f32)>),
    /// [`crate::FieldKind::TokenBiases`] with text keys (llama.cpp's form), in the order
    /// given; `−∞` bans (`false`).
    KeyedBiases(Vec<(crate::BiasKey, f32)>),
    /// [`crate::FieldKind::SequenceBiases`].
    SequenceBiases(Vec<(Vec<u32>, f32)>),
    /// [`crate::FieldKind::Strings`].
    Strings(Vec<String>),
    /// [`crate::FieldKind::Text`].
    Text(String),
}

#[cfg(feature = "serde")]
fn biases_as_map<S: serde::Serializer>(b: &[(u32, f32)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(b.len()))?;
    for (id, bias) in b {
        map.serialize_entry(&id.to_string(), bias)?;
    }
    map.end()
}

impl Value {
    /// The token ids the value names (none for values that hold no ids).
    pub fn token_ids(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        match self {
            Value::TokenIds(ids) => Box::new(ids.iter().copied()),
            Value::TokenBiases(b) => Box::new(b.iter().map(|&(id, _)| id)),
            Value::SequenceBiases(s) => Box::new(s.iter().flat_map(|(ids, _)| ids.iter().copied())),
            Value::KeyedBiases(b) => Box::new(b.iter().filter_map(|(key, _)| match key {
                crate::BiasKey::Id(id) => Some(*id),
                crate::BiasKey::Text(_) => None,
            })),
            _ => Box::new(std::iter::empty()),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Number(x) => write!(f, "{x}"),
            Value::Integer(x) => write!(f, "{x}"),
            Value::Unsigned(x) => write!(f, "{x}"),
            Value::Bool(x) => write!(f, "{x}"),
            Value::TokenIds(ids) => {
                let list: Vec<String> = ids.iter().map(u32::to_string).collect();
                write!(f, "[{}]", list.join(", "))
            }
            Value::TokenBiases(b) => {
                let list: Vec<String> = b.iter().map(|(id, x)| format!("{id}: {x}")).collect();
                write!(f, "{{{}}}", list.join(", "))
            }
            Value::KeyedBiases(b) => {
                let list: Vec<String> = b.iter().map(|(key, x)| format!("{key}: {x}")).collect();
                write!(f, "{{{}}}", list.join(", "))
            }
            Value::SequenceBiases(b) => {
                let list: Vec<String> = b.iter().map(|(ids, x)| format!("{ids:?}: {x}")).collect();
                write!(f, "[{}]", list.join(", "))
            }
            Value::Strings(s) => write!(f, "{s:?}"),
            Value::Text(s) => write!(f, "{s:?}"),
        }
    }
}
