//! Errors of the model layer.

use std::path::PathBuf;

/// Every architecture dial runs, for messages.
pub(crate) fn architectures() -> String {
    crate::arch::names().collect::<Vec<_>>().join(", ")
}

/// What went wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a GGUF file dial can parse.
    #[error("{path} is not a valid GGUF file: {reason}")]
    NotGguf {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The architecture is not one dial runs.
    #[error("unsupported architecture {0:?}: dial runs {list}", list = crate::error::architectures())]
    UnsupportedArchitecture(String),
    /// The tokenizer type is not one dial builds.
    #[error(
        "unsupported tokenizer {0} (dial builds SentencePiece `llama` and byte-level BPE `gpt2` vocabularies)"
    )]
    UnsupportedTokenizer(String),
    /// A metadata key the model needs is absent.
    #[error("the GGUF metadata has no {0}")]
    MissingMetadata(String),
    /// A metadata value has the wrong type or size.
    #[error("the GGUF metadata {0} is invalid: {1}")]
    BadMetadata(String, String),
    /// A tensor the model needs is absent or malformed.
    #[error("tensor {name}: {reason}")]
    Tensor {
        /// The tensor.
        name: String,
        /// Why.
        reason: String,
    },
    /// A token id outside the vocabulary.
    #[error("token id {token} is out of range for a vocabulary of {vocab}")]
    TokenOutOfRange {
        /// The id.
        token: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// The operation does not exist for this architecture.
    #[error("not supported for this model: {0}")]
    Unsupported(&'static str),
    /// Nothing to run.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The sequence would exceed the model's context.
    #[error("{needed} tokens do not fit the context of {context}")]
    ContextFull {
        /// Tokens the request needs.
        needed: usize,
        /// The model's context length.
        context: usize,
    },
    /// A perplexity text shorter than one chunk.
    #[error(
        "the text has {tokens} tokens, fewer than one chunk of {n_ctx}; use a smaller --ctx or a longer text"
    )]
    TextTooShort {
        /// Tokens in the text.
        tokens: usize,
        /// The chunk length asked for.
        n_ctx: usize,
    },
    /// A computation failed.
    #[error("model computation failed: {0}")]
    Compute(String),
    /// Writing a GGUF file failed.
    #[error(transparent)]
    WriteGguf(dial_gguf::GgufError),
    /// Sampling failed.
    #[error(transparent)]
    Sample(#[from] dial_sampling::SampleError),
    /// The knobs are invalid.
    #[error(transparent)]
    Params(#[from] dial_sampling::ParamsError),
    /// The knobs and order do not make a chain.
    #[error(transparent)]
    Knobs(#[from] dial_sampling::ConfigError),
    /// The caller cancelled the work.
    #[error("cancelled")]
    Cancelled,
    /// `banned_strings` rolled the generation back more times than allowed: its phrases
    /// leave the model almost nothing to say.
    #[error("banned_strings rewound the generation {0} times; ban fewer or longer phrases")]
    TooManyRewinds(usize),
    /// dial panicked while running this sequence (a bug); the batch caught it.
    #[error("generation failed inside dial: {0}")]
    Panicked(String),
}

impl ModelError {
    /// Whether the caller's input caused it (a 4xx), rather than the file or dial (a 5xx).
    pub fn is_caller_fault(&self) -> bool {
        use dial_sampling::SampleError as S;
        match self {
            ModelError::EmptyPrompt
            | ModelError::ContextFull { .. }
            | ModelError::TokenOutOfRange { .. }
            | ModelError::TextTooShort { .. }
            | ModelError::Params(_)
            | ModelError::Knobs(_)
            | ModelError::TooManyRewinds(_)
            | ModelError::Cancelled => true,
            ModelError::Sample(e) => matches!(
                e,
                S::AllMasked { .. }
                    | S::TokenOutOfRange { .. }
                    | S::EmptyLogits
                    | S::NoUnconditional(_)
                    | S::Constraint { .. }
            ),
            _ => false,
        }
    }
}

/// A non-empty run of ids inside the vocabulary.
pub(crate) fn check_tokens(tokens: &[u32], vocab: usize) -> Result<(), ModelError> {
    if tokens.is_empty() {
        return Err(ModelError::EmptyPrompt);
    }
    match tokens.iter().find(|&&t| t as usize >= vocab) {
        Some(&token) => Err(ModelError::TokenOutOfRange { token, vocab }),
        None => Ok(()),
    }
}

/// The message a caught panic carried (its `&str` or `String` payload).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
