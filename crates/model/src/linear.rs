//! A weight matrix of a GGUF file, run by dial's kernels: the quantized formats and F16
//! and BF16 dial-quant reads straight from the mapped file, F32 (and anything else)
//! as f32 values.

use crate::error::ModelError;
use candle_core::Device;
use candle_core::quantized::{GgmlDType, gguf_file};
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

fn quant_format(dtype: GgmlDType) -> Option<QuantFormat> {
    match dtype {
        GgmlDType::Q4_0 => Some(QuantFormat::Q4_0),
        GgmlDType::Q4_1 => Some(QuantFormat::Q4_1),
        GgmlDType::Q5_0 => Some(QuantFormat::Q5_0),
        GgmlDType::Q5_1 => Some(QuantFormat::Q5_1),
        GgmlDType::Q8_0 => Some(QuantFormat::Q8_0),
        GgmlDType::Q2K => Some(QuantFormat::Q2K),
        GgmlDType::Q3K => Some(QuantFormat::Q3K),
        GgmlDType::Q4K => Some(QuantFormat::Q4K),
        GgmlDType::Q5K => Some(QuantFormat::Q5K),
        GgmlDType::Q6K => Some(QuantFormat::Q6K),
        _ => None,
    }
}

/// The model file: its parsed header, a reader and its memory map.
pub(crate) struct Source<'a, R> {
    pub content: &'a gguf_file::Content,
    pub reader: &'a mut R,
    pub map: Arc<memmap2::Mmap>,
}

impl<R> std::fmt::Debug for Source<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").finish_non_exhaustive()
    }
}

impl<R: std::io::Read + std::io::Seek> Source<'_, R> {
    fn info(&self, name: &str) -> Result<&gguf_file::TensorInfo, ModelError> {
        self.content
            .tensor_infos
            .get(name)
            .ok_or_else(|| ModelError::Tensor {
                name: name.into(),
                reason: "missing".into(),
            })
    }

    /// A tensor of any type as f32 values.
    pub fn dense(&mut self, name: &str) -> Result<Vec<f32>, ModelError> {
        let tensor = self
            .content
            .tensor(self.reader, name, &Device::Cpu)
            .map_err(|e| ModelError::Tensor {
                name: name.into(),
                reason: crate::error::candle_message(&e),
            })?;
        Ok(tensor
            .dequantize(&Device::Cpu)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }

    /// Dimensions `(n, k)` of a matrix (candle lists them row major).
    pub fn dims(&self, name: &str) -> Result<(usize, usize), ModelError> {
        match self.info(name)?.shape.dims() {
            [n, k] => Ok((*n, *k)),
            other => Err(ModelError::Tensor {
                name: name.into(),
                reason: format!("shape {other:?}, expected a matrix"),
            }),
        }
    }

    /// A matrix, on the mapped bytes when dial has a kernel for its type.
    pub fn linear(&mut self, name: &str) -> Result<Linear, ModelError> {
        let (n, k) = self.dims(name)?;
        let info = self.info(name)?;
        let bad = |reason: String| ModelError::Tensor {
            name: name.into(),
            reason,
        };
        if let Some(format) = quant_format(info.ggml_dtype)
            && k.is_multiple_of(format.block_values())
        {
            let dtype = info.ggml_dtype;
            let len = n * k / dtype.block_size() * dtype.type_size();
            let start = self.content.tensor_data_offset as usize + info.offset as usize;
            let bytes = WeightBytes::mapped(self.map.clone(), start..start + len)
                .ok_or_else(|| bad("its data runs past the end of the file".into()))?;
            return QuantMatrix::new(format, n, k, bytes)
                .map(Linear::Quant)
                .map_err(|e| bad(e.to_string()));
        }
        let half = match info.ggml_dtype {
            GgmlDType::F16 => Some(HalfFormat::F16),
            GgmlDType::BF16 => Some(HalfFormat::Bf16),
            _ => None,
        };
        if let Some(format) = half {
            let start = self.content.tensor_data_offset as usize + info.offset as usize;
            let bytes = WeightBytes::mapped(self.map.clone(), start..start + 2 * n * k)
                .ok_or_else(|| bad("its data runs past the end of the file".into()))?;
            return HalfMatrix::new(format, n, k, bytes)
                .map(Linear::Half)
                .map_err(|e| bad(e.to_string()));
        }
        let weights = self.dense(name)?;
        Ok(Linear::Dense { n, k, weights })
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
