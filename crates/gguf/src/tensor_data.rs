//! A tensor to write.

use crate::{GgmlType, GgufError};

/// A tensor's name, ggml-order dimensions, type and bytes, checked to agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorData {
    pub(crate) name: String,
    pub(crate) dims: Vec<u64>,
    pub(crate) ggml_type: GgmlType,
    pub(crate) bytes: Vec<u8>,
}

impl TensorData {
    /// A tensor of `ggml_type` with dimensions `dims` in ggml's order (`[k, n]` for `n`
    /// rows of `k`), whose encoded bytes are `bytes`.
    pub fn new(
        name: impl Into<String>,
        dims: &[u64],
        ggml_type: GgmlType,
        bytes: Vec<u8>,
    ) -> Result<TensorData, GgufError> {
        let name = name.into();
        let bad = |reason: String| GgufError::Tensor {
            name: name.clone(),
            reason,
        };
        if dims.is_empty() || dims.len() > 4 {
            return Err(bad(format!("{} dimensions; ggml has 1 to 4", dims.len())));
        }
        let expected = dims
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .and_then(|e| {
                dims[0]
                    .is_multiple_of(ggml_type.block_values())
                    .then(|| ggml_type.bytes_for(e))?
            })
            .ok_or_else(|| bad(format!("shape {dims:?} is not whole {ggml_type} rows")))?;
        if bytes.len() as u64 != expected {
            return Err(bad(format!(
                "{} bytes for a {ggml_type} tensor of shape {dims:?}, which takes {expected}",
                bytes.len()
            )));
        }
        Ok(TensorData {
            name,
            dims: dims.to_vec(),
            ggml_type,
            bytes,
        })
    }

    /// An F32 tensor of `values`.
    pub fn f32(name: impl Into<String>, dims: &[u64], values: &[f32]) -> Result<Self, GgufError> {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        TensorData::new(name, dims, GgmlType::F32, bytes)
    }

    /// The tensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
