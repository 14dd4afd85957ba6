//! dial's GGUF reader and writer.
//!
//! [`Gguf::parse`] reads a file's header (its metadata and tensor table) from the file's
//! bytes, checking every length against the file; [`write`] writes a file. Neither
//! decodes tensors: the bytes of a tensor are [`TensorInfo::data`] of the file, for
//! `dial-quant`'s kernels to read where they lie.
//!
//! The format is ggml's `docs/gguf.md`: little-endian, version 2 or 3, 64-bit counts.

mod error;
mod ggml_type;
mod gguf;
mod tensor_data;
mod tensor_info;
mod value;
mod write;

pub use error::GgufError;
pub use ggml_type::GgmlType;
pub use gguf::{DEFAULT_ALIGNMENT, Gguf};
pub use tensor_data::TensorData;
pub use tensor_info::TensorInfo;
pub use value::Value;
pub use write::write;
