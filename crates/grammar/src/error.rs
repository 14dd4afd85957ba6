use thiserror::Error;

/// Why a vocabulary or a constraint cannot be used. Every variant is the caller's to fix
/// (a 400 in the server) except [`GrammarError::Engine`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrammarError {
    /// The model's vocabulary cannot be put in a token trie.
    #[error("the vocabulary cannot be used for constraints: {0}")]
    Vocabulary(String),
    /// A JSON Schema is not a valid schema.
    #[error("invalid JSON schema at `#{pointer}`: {message}")]
    InvalidSchema {
        /// JSON pointer to the offending part (`""` is the whole schema).
        pointer: String,
        /// What is wrong there.
        message: String,
    },
    /// A strict schema uses a keyword dial's engine does not enforce.
    #[error(
        "JSON schema keyword `{keyword}` at `#{pointer}` is not supported with strict: true \
         (without strict it is relaxed, and the response lists it)"
    )]
    Unsupported {
        /// The keyword, e.g. `not`.
        keyword: String,
        /// JSON pointer to the schema that holds it.
        pointer: String,
    },
    /// A regex, grammar or choice list that cannot be compiled.
    #[error("invalid {kind}: {message}")]
    Invalid {
        /// `regex`, `grammar`, `choice` or `json schema`.
        kind: &'static str,
        /// The compiler's message.
        message: String,
    },
    /// A constraint no output can satisfy.
    #[error("the {kind} matches nothing: no output can satisfy it")]
    MatchesNothing {
        /// `regex`, `grammar`, `choice` or `json schema`.
        kind: &'static str,
    },
    /// A constraint over the size limit.
    #[error("the {kind} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// `regex`, `grammar`, `choice` or `json schema`.
        kind: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Compiling it needs more work than the engine's limit allows.
    #[error("the {kind} is too complex to compile: {message}")]
    TooComplex {
        /// `regex`, `grammar`, `choice` or `json schema`.
        kind: &'static str,
        /// The engine's message.
        message: String,
    },
    /// The engine failed while running a compiled constraint.
    #[error("the constraint engine failed: {0}")]
    Engine(String),
}
