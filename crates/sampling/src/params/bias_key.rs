//! What a `logit_bias` entry names: a token id, or text to tokenize (llama.cpp's form).

/// A `logit_bias` key: `{"15339": 2}` names a token; `{"Hello": 2}` or `[["Hello", 2]]`
/// names every token of the text as the model's tokenizer encodes it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
pub enum BiasKey {
    /// A token id.
    Id(u32),
    /// Text; each of its tokens gets the bias.
    Text(String),
}

impl BiasKey {
    /// An object key: an id when it reads as one, else text.
    pub fn from_key(key: &str) -> BiasKey {
        match key.trim().parse() {
            Ok(id) => BiasKey::Id(id),
            Err(_) => BiasKey::Text(key.to_string()),
        }
    }
}

impl std::fmt::Display for BiasKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BiasKey::Id(id) => write!(f, "{id}"),
            BiasKey::Text(text) => write!(f, "{text:?}"),
        }
    }
}
