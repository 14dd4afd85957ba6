//! A weight matrix of a GGUF file, run by dial's kernels: the quantized formats and F16
//! and BF16 dial-quant reads straight from the mapped file, F32 (and anything else)
//! as f32 values.

use crate::error::ModelError;
use dial_gguf::{GgmlType, Gguf, TensorInfo};
use dial_quant::{
    HalfFormat, HalfMatrix, QuantFormat, QuantMatrix, QuantizedActivations, WeightBytes,
};
use rayon::prelude::*;
use std::sync::Arc;

/// `y = W x` for rows of activations; `W` has `n` rows of `k`.
#[derive(Debug)]
pub(crate) enum Linear {
    /// A block format of dial-quant, on the mapped file's bytes.
    Quant(QuantMatrix),
    /// F16 or BF16 weights, on the mapped file's bytes.
    Half(HalfMatrix),
    /// f32 weights, `n × k`, row major (F32, and formats dial has no kernel for).
    Dense {
        n: usize,
        k: usize,
        weights: Vec<f32>,
    },
}

/// The model file: its parsed header and its memory map.
pub(crate) struct Source<'a> {
    pub content: &'a Gguf,
    pub map: Arc<memmap2::Mmap>,
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").finish_non_exhaustive()
    }
}

impl Source<'_> {
    fn info(&self, name: &str) -> Result<&TensorInfo, ModelError> {
        self.content.tensor(name).ok_or_else(|| ModelError::Tensor {
            name: name.into(),
            reason: "missing".into(),
        })
    }

    /// Whether the file has a tensor named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.content.tensor(name).is_some()
    }

    /// A tensor of any type dial decodes, as f32 values in ggml's order.
    pub fn dense(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        let info = self.info(name)?;
        let bytes = &self.map[info.data()];
        let ty = info.ggml_type();
        let widen =
            |f: fn([u8; 2]) -> f32| bytes.chunks_exact(2).map(|b| f([b[0], b[1]])).collect();
        if ty == GgmlType::F32 {
            return Ok(bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect());
        }
        if ty == GgmlType::F16 {
            return Ok(widen(|b| half::f16::from_le_bytes(b).to_f32()));
        }
        if ty == GgmlType::BF16 {
            return Ok(widen(|b| half::bf16::from_le_bytes(b).to_f32()));
        }
        let format = QuantFormat::from_ggml(ty.id()).ok_or_else(|| unreadable(name, ty))?;
        // The values as one row of blocks (GGUF has checked they are whole blocks).
        let elements = usize::try_from(info.elements()).map_err(|_| unreadable(name, ty))?;
        let bytes = WeightBytes::mapped(self.map.clone(), info.data())
            .ok_or_else(|| unreadable(name, ty))?;
        let row = QuantMatrix::new(format, 1, elements, bytes).map_err(|e| ModelError::Tensor {
            name: name.into(),
            reason: e.to_string(),
        })?;
        Ok(row.dequantize_row(0))
    }

    /// Dimensions `(n, k)` of a matrix: `n` rows of `k`.
    pub fn dims(&self, name: &str) -> Result<(usize, usize), ModelError> {
        let info = self.info(name)?;
        info.matrix().ok_or_else(|| ModelError::Tensor {
            name: name.into(),
            reason: format!("shape {:?}, expected a matrix", info.dims()),
        })
    }

    /// A matrix, on the mapped bytes when dial has a kernel for its type.
    pub fn linear(&self, name: &str) -> Result<Linear, ModelError> {
        let (n, k) = self.dims(name)?;
        let info = self.info(name)?;
        let ty = info.ggml_type();
        let bad = |reason: String| ModelError::Tensor {
            name: name.into(),
            reason,
        };
        let bytes = || {
            WeightBytes::mapped(self.map.clone(), info.data())
                .ok_or_else(|| bad("its data runs past the end of the file".into()))
        };
        if let Some(format) = QuantFormat::from_ggml(ty.id()) {
            return QuantMatrix::new(format, n, k, bytes()?)
                .map(Linear::Quant)
                .map_err(|e| bad(e.to_string()));
        }
        if let Some(format) = HalfFormat::from_ggml(ty.id()) {
            return HalfMatrix::new(format, n, k, bytes()?)
                .map(Linear::Half)
                .map_err(|e| bad(e.to_string()));
        }
        let weights = self.dense(name)?;
        Ok(Linear::Dense { n, k, weights })
    }
}

/// Whether dial decodes tensors of type `ty`.
pub(crate) fn decodable(ty: GgmlType) -> bool {
    [GgmlType::F32, GgmlType::F16, GgmlType::BF16].contains(&ty)
        || QuantFormat::from_ggml(ty.id()).is_some()
}

/// A tensor of a type dial has no decoder for.
fn unreadable(name: &str, ty: GgmlType) -> ModelError {
    ModelError::Tensor {
        name: name.into(),
        reason: format!("its type {ty} is not one dial reads"),
    }
}

impl Linear {
    /// Output rows.
    pub fn n(&self) -> usize {
        match self {
            Linear::Quant(m) => m.n(),
            Linear::Half(m) => m.n(),
            Linear::Dense { n, .. } => *n,
        }
    }

    /// Inputs per row.
    pub fn k(&self) -> usize {
        match self {
            Linear::Quant(m) => m.k(),
            Linear::Half(m) => m.k(),
            Linear::Dense { k, .. } => *k,
        }
    }

    /// `rows × n` outputs of `rows × k` inputs (`x.len()` a multiple of `k`); `quantized`
    /// is `x` quantized once, shared by the matrices that take the same input.
    pub fn forward(&self, x: &Input<'_>) -> Result<Vec<f32>, ModelError> {
        match self {
            Linear::Quant(m) => {
                let q = x.quantized(m.format().activation_block())?;
                let mut out = vec![0f32; q.rows() * m.n()];
                m.matmul(q, &mut out).map_err(quant_error)?;
                Ok(out)
            }
            Linear::Half(m) => m.matmul_f32(x.values).map_err(quant_error),
            Linear::Dense { n, k, weights } => {
                let rows = x.values.len() / k;
                let mut out = vec![0f32; rows * n];
                out.par_chunks_mut(*n).enumerate().for_each(|(r, o)| {
                    let xr = &x.values[r * k..(r + 1) * k];
                    for (i, y) in o.iter_mut().enumerate() {
                        *y = crate::math::dot(&weights[i * k..(i + 1) * k], xr);
                    }
                });
                Ok(out)
            }
        }
    }
}

fn quant_error(e: dial_quant::QuantError) -> ModelError {
    match e {
        dial_quant::QuantError::NonFinite { row, col, value } => ModelError::Compute(format!(
            "activation row {row}, column {col} is {value} (the forward pass diverged)"
        )),
        other => ModelError::Compute(other.to_string()),
    }
}

type Quantized = std::cell::OnceCell<Result<QuantizedActivations, dial_quant::QuantError>>;

/// Rows of activations, quantized on first use in each block size the matrices that
/// take them ask for, and then shared.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    values: &'a [f32],
    k: usize,
    /// In blocks of 32 (the 32-value formats) and of 256 (the k-quants).
    per_32: Quantized,
    per_256: Quantized,
}

impl<'a> Input<'a> {
    pub fn new(values: &'a [f32], k: usize) -> Self {
        Input {
            values,
            k,
            per_32: Quantized::new(),
            per_256: Quantized::new(),
        }
    }

    fn quantized(&self, block: usize) -> Result<&QuantizedActivations, ModelError> {
        let cell = if block == dial_quant::K_ACT_BLOCK {
            &self.per_256
        } else {
            &self.per_32
        };
        cell.get_or_init(|| QuantizedActivations::with_block(self.values, self.k, block))
            .as_ref()
            .map_err(|e| quant_error(e.clone()))
    }
}
