//! What can be wrong with a GGUF file.

/// Why a GGUF file cannot be read, or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GgufError {
    /// The file does not start with `GGUF`.
    #[error("it starts with the bytes {0:02x?}, not \"GGUF\"")]
    NotGguf(Vec<u8>),
    /// A version this reader does not know (GGUF 1 had 32-bit counts; dial reads 2 and 3).
    #[error("GGUF version {0} is not one dial reads (2 and 3 are){hint}", hint = if *.0 > 0xffff { "; a big-endian file?" } else { "" })]
    Version(u32),
    /// The file ends before something it announces.
    #[error("the file ends inside {what} (byte {at} of {len})")]
    Truncated { what: String, at: u64, len: u64 },
    /// A count that the rest of the file cannot hold.
    #[error("{what}: {count} items cannot fit in the {left} bytes left")]
    TooMany { what: String, count: u64, left: u64 },
    /// A metadata value of a type GGUF does not define.
    #[error("metadata {key}: value type {id} is not a GGUF type")]
    ValueType { key: String, id: u32 },
    /// Arrays nested deeper than any model file nests them.
    #[error("metadata {0}: arrays nested too deeply")]
    Nesting(String),
    /// The same metadata key twice.
    #[error("metadata key {0:?} appears twice")]
    DuplicateKey(String),
    /// `general.alignment` that is not a power of two.
    #[error("general.alignment {0} is not a power of two")]
    Alignment(u64),
    /// The same tensor name twice.
    #[error("tensor {0} appears twice")]
    DuplicateTensor(String),
    /// A tensor whose entry in the table cannot be right.
    #[error("tensor {name}: {reason}")]
    Tensor { name: String, reason: String },
    /// Writing failed.
    #[error("writing the file: {0}")]
    Write(String),
}
