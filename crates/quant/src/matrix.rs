//! A quantized weight matrix and its matmul with quantized activations.

use crate::activations::{ACT_BLOCK, QuantizedActivations};
use crate::error::QuantError;
use crate::format::QuantFormat;
use rayon::prelude::*;

/// Weight rows the matmul takes at a time: each tile is read once per step and reused for
/// every activation row while it is in cache.
const TILE: usize = 16;

/// `n` rows of `k` values in one [`QuantFormat`], as a GGUF tensor of shape `[k, n]`
/// stores them (`k` the fastest dimension).
#[derive(Debug, Clone)]
pub struct QuantMatrix {
    format: QuantFormat,
    n: usize,
    k: usize,
    bytes: Vec<u8>,
}

impl QuantMatrix {
    /// Checks that `bytes` hold `n × k` values of `format`.
    pub fn new(
        format: QuantFormat,
        n: usize,
        k: usize,
        bytes: Vec<u8>,
    ) -> Result<Self, QuantError> {
        if k == 0 || !k.is_multiple_of(format.block_values()) {
            return Err(QuantError::RaggedRow {
                k,
                block: format.block_values(),
                format: format.name(),
            });
        }
        let expected = n * (k / format.block_values()) * format.block_bytes();
        if bytes.len() != expected {
            return Err(QuantError::WrongSize {
                format: format.name(),
                n,
                k,
                expected,
                got: bytes.len(),
            });
        }
        Ok(QuantMatrix {
            format,
            n,
            k,
            bytes,
        })
    }

    /// The format.
    pub fn format(&self) -> QuantFormat {
        self.format
    }

    /// Output rows.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Inner dimension.
    pub fn k(&self) -> usize {
        self.k
    }

    fn row_bytes(&self) -> usize {
        self.k / self.format.block_values() * self.format.block_bytes()
    }

    /// Row `i` dequantized: the reference the kernels are tested against.
    pub fn dequantize_row(&self, i: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.k];
        let row = &self.bytes[i * self.row_bytes()..(i + 1) * self.row_bytes()];
        let values = self.format.block_values();
        for (block, o) in row
            .chunks_exact(self.format.block_bytes())
            .zip(out.chunks_exact_mut(values))
        {
            self.format.dequantize_block(block, o);
        }
        out
    }

    /// Weight row `i` against activation row `r`: its blocks in order.
    fn dot(&self, i: usize, x: &QuantizedActivations, r: usize) -> f32 {
        let row = &self.bytes[i * self.row_bytes()..(i + 1) * self.row_bytes()];
        let values = self.format.block_values();
        let per = values / ACT_BLOCK;
        let (quants, scales, sums) = (x.quants(r), x.scales(r), x.sums(r));
        let mut acc = 0f32;
        for (b, block) in row.chunks_exact(self.format.block_bytes()).enumerate() {
            acc += self.format.dot_block(
                block,
                &quants[b * values..(b + 1) * values],
                &scales[b * per..(b + 1) * per],
                &sums[b * per..(b + 1) * per],
            );
        }
        acc
    }

    /// `out[r · n + i] = Σ_k x[r][k] · W[i][k]` for every activation row `r`. Each output
    /// depends only on its own row and weight row, so it is the same for any batch, any
    /// position in it and any thread count.
    pub fn matmul(&self, x: &QuantizedActivations, out: &mut [f32]) -> Result<(), QuantError> {
        if x.k() != self.k {
            return Err(QuantError::Shape {
                expected: self.k,
                got: x.k(),
            });
        }
        let rows = x.rows();
        if out.len() != rows * self.n {
            return Err(QuantError::Output {
                expected: rows * self.n,
                got: out.len(),
            });
        }
        // Tiles of weight rows in parallel; within a tile, every activation row.
        let mut by_tile = vec![0f32; rows * self.n];
        by_tile
            .par_chunks_mut(TILE * rows)
            .enumerate()
            .for_each(|(t, chunk)| {
                let first = t * TILE;
                let width = chunk.len() / rows;
                for r in 0..rows {
                    for j in 0..width {
                        chunk[j * rows + r] = self.dot(first + j, x, r);
                    }
                }
            });
        for (i, column) in by_tile.chunks_exact(rows).enumerate() {
            for (r, v) in column.iter().enumerate() {
                out[r * self.n + i] = *v;
            }
        }
        Ok(())
    }

    /// [`QuantMatrix::matmul`] from f32 activations (`x.len()` a multiple of `k`).
    pub fn matmul_f32(&self, x: &[f32]) -> Result<Vec<f32>, QuantError> {
        let quantized = QuantizedActivations::new(x, self.k)?;
        let mut out = vec![0f32; quantized.rows() * self.n];
        self.matmul(&quantized, &mut out)?;
        Ok(out)
    }
}
