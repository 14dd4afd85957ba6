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
    pub fn token_ids(&self) -> impl Iterator<Item = u32> + '_ {
        let (list, pairs): (&[u32], &[(u32, f32)]) = match self {
            Value::TokenIds(ids) => (ids, &[]),
            Value::TokenBiases(b) => (&[], b),
            _ => (&[], &[]),
        };
        list.iter().copied().chain(pairs.iter().map(|&(id, _)| id))
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
            Value::Strings(s) => write!(f, "{s:?}"),
            Value::Text(s) => write!(f, "{s:?}"),
        }
    }
}
