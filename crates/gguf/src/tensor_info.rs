//! One entry of a GGUF file's tensor table.

use crate::GgmlType;
use std::ops::Range;

/// A tensor's name, shape, type and where its bytes lie in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub(crate) name: String,
    pub(crate) dims: Vec<u64>,
    pub(crate) ggml_type: GgmlType,
    pub(crate) data: Range<usize>,
}

impl TensorInfo {
    /// The tensor's name (`"blk.0.attn_q.weight"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its dimensions in ggml's order: `dims()[0]` is the length of a row, so an `n × k`
    /// matrix (`n` rows of `k`) is `[k, n]`.
    pub fn dims(&self) -> &[u64] {
        &self.dims
    }

    /// Its type.
    pub fn ggml_type(&self) -> GgmlType {
        self.ggml_type
    }

    /// How many values it holds.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Its bytes' place in the file, checked to lie inside it.
    pub fn data(&self) -> Range<usize> {
        self.data.clone()
    }

    /// `(rows, row length)` of a matrix, or `None` for another rank.
    pub fn matrix(&self) -> Option<(usize, usize)> {
        match self.dims[..] {
            [k, n] => Some((usize::try_from(n).ok()?, usize::try_from(k).ok()?)),
            _ => None,
        }
    }
}
