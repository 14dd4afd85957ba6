use thiserror::Error;

/// Why a vocabulary or a constraint cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrammarError {
    /// The model's vocabulary cannot be put in a token trie.
    #[error("the vocabulary cannot be used for constraints: {0}")]
    Vocabulary(String),
}
