//! What can go wrong, typed.

/// Why a quantized matmul could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantError {
    /// `k` is not a whole number of blocks.
    #[error("k = {k} is not a multiple of {block}, the {format} block size")]
    RaggedRow {
        /// The inner dimension.
        k: usize,
        /// The block size it must divide into.
        block: usize,
        /// The format.
        format: &'static str,
    },
    /// The weight bytes do not hold `n × k` values of the format.
    #[error("{format} weights of {n} × {k} need {expected} bytes, got {got}")]
    WrongSize {
        /// The format.
        format: &'static str,
        /// Output rows.
        n: usize,
        /// Inner dimension.
        k: usize,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The activations' shape does not match.
    #[error("activations of {got} values per row, the matrix takes {expected}")]
    Shape {
        /// Values per row the matrix takes.
        expected: usize,
        /// Values per row given.
        got: usize,
    },
    /// An activation is NaN or infinite.
    #[error("activation row {row}, column {col} is {value}")]
    NonFinite {
        /// The row.
        row: usize,
        /// The column.
        col: usize,
        /// The value.
        value: f32,
    },
    /// The output buffer has the wrong length.
    #[error("the output holds {got} values, {expected} are needed")]
    Output {
        /// Values needed.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// The activations were quantized in blocks the format does not take.
    #[error("activations quantized in blocks of {got}, the format takes blocks of {expected}")]
    ActivationBlock {
        /// The block the format takes.
        expected: usize,
        /// The block given.
        got: usize,
    },
    /// The CPU lacks the instruction set asked for.
    #[error("this CPU cannot run the {0} kernels")]
    Unsupported(&'static str),
}
