//! Typed errors. Nothing in this crate panics on bad input; it returns one of these.

use thiserror::Error;

/// A knob parameter outside its valid range.
///
/// Returned by every knob constructor (`TopP::new`, `Temperature::new`, …) and names
/// the knob, the parameter and what was expected, e.g.
/// `top_p: p = 1.5 is invalid (expected a finite value in [0, 1])`.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{knob}: {parameter} = {value} is invalid (expected {expected})")]
pub struct ParamError {
    /// The knob, e.g. `"top_p"`.
    pub knob: &'static str,
    /// The parameter of that knob, e.g. `"p"`.
    pub parameter: &'static str,
    /// The rejected value, as written.
    pub value: String,
    /// What would have been accepted.
    pub expected: &'static str,
}

impl ParamError {
    pub(crate) fn new(
        knob: &'static str,
        parameter: &'static str,
        value: impl ToString,
        expected: &'static str,
    ) -> Self {
        ParamError {
            knob,
            parameter,
            value: value.to_string(),
            expected,
        }
    }
}

/// Why a chain could not be built from a set of knobs and an order.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// A knob parameter is out of range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// A name in an order list or on the command line is not a knob.
    #[error("unknown knob `{0}` (known: {known})", known = crate::KnobKind::ALL_NAMES)]
    UnknownKnob(String),
    /// A custom order names the same knob twice.
    #[error("knob `{0}` appears twice in the order")]
    DuplicateInOrder(&'static str),
    /// A knob is set but a custom order leaves it out, so it would silently do nothing.
    #[error("knob `{0}` is set but missing from the custom order")]
    MissingFromOrder(&'static str),
    /// Two knobs that cannot both be set.
    #[error("knobs `{0}` and `{1}` cannot both be set")]
    Conflict(&'static str, &'static str),
}

/// Why a row of logits could not be sampled or explained.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SampleError {
    /// The logits row has no entries.
    #[error("empty logits: the row has no tokens")]
    EmptyLogits,
    /// A logit is NaN.
    #[error("logit at index {index} is NaN")]
    NanLogit {
        /// Position of the first NaN.
        index: usize,
    },
    /// A logit is +inf, which would make every other probability 0 and the softmax undefined.
    #[error("logit at index {index} is +inf")]
    PositiveInfinity {
        /// Position of the first +inf.
        index: usize,
    },
    /// After the chain, no token has a finite logit left.
    #[error("every token is masked (-inf) after `{after}`")]
    AllMasked {
        /// The stage after which nothing was left (`"input"` when the row itself is all -inf).
        after: &'static str,
    },
    /// A token id given to a knob or to `accept` is not in the vocabulary.
    #[error("token id {token} is out of range for a vocabulary of {vocab} tokens ({context})")]
    TokenOutOfRange {
        /// The offending id.
        token: u32,
        /// The row length.
        vocab: usize,
        /// Where the id came from, e.g. `"logit_bias"`.
        context: &'static str,
    },
    /// The worker sampling this row panicked: a bug in dial, not a fault of the input.
    #[error("internal error: the worker sampling row {row} panicked")]
    Panicked {
        /// Row index in the batch.
        row: usize,
    },
    /// A constraint (a grammar) cannot go on: it does not allow the accepted token, or
    /// its engine failed.
    #[error("{stage}: {message}")]
    Constraint {
        /// The constraint's stage.
        stage: crate::StageId,
        /// What went wrong.
        message: String,
    },
    /// Classifier-free guidance has no unconditional row to guide against: it runs in a
    /// generation, which computes the negative prompt's logits beside the prompt's.
    #[error(
        "guidance_scale needs the negative prompt's logits ({0}): it applies to generation, not to a single row"
    )]
    NoUnconditional(&'static str),
    /// A batch row's logits do not have the length of the batch's vocabulary.
    #[error("row {row} has {got} logits, expected {expected}")]
    RowLength {
        /// Row index in the batch.
        row: usize,
        /// Its length.
        got: usize,
        /// The length of the first row.
        expected: usize,
    },
}
