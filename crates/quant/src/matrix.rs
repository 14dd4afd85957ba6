//! A quantized weight matrix and its matmul with quantized activations.

use crate::activations::QuantizedActivations;
use crate::bytes::WeightBytes;
use crate::dot::Unpacked;
use crate::error::QuantError;
use crate::format::QuantFormat;
use crate::isa::Isa;
use crate::tiles::Tiles;
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
    bytes: WeightBytes,
    /// The rows as AVX-512 VNNI tiles, built once where this CPU has it.
    tiles: Option<Tiles>,
}

impl QuantMatrix {
    /// Checks that `bytes` hold `n × k` values of `format`.
    pub fn new(
        format: QuantFormat,
        n: usize,
        k: usize,
        bytes: impl Into<WeightBytes>,
    ) -> Result<Self, QuantError> {
        let bytes = bytes.into();
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
        // Only where matmul will use them (DIAL_ISA may ask for a slower kernel).
        let tiles =
            (crate::default_isa() == Isa::Avx512Vnni).then(|| Tiles::build(format, n, k, &bytes));
        Ok(QuantMatrix {
            format,
            n,
            k,
            bytes,
            tiles,
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

    /// `out[r · n + i] = Σ_k x[r][k] · W[i][k]` for every activation row `r`, on the
    /// fastest ISA this CPU has. Each output depends only on its own row and weight row, so
    /// it is the same for any batch, any position in it and any thread count.
    pub fn matmul(&self, x: &QuantizedActivations, out: &mut [f32]) -> Result<(), QuantError> {
        self.matmul_with(crate::default_isa(), x, out)
    }

    /// [`QuantMatrix::matmul`] on `isa`, which must be one of [`Isa::available`].
    pub fn matmul_with(
        &self,
        isa: Isa,
        x: &QuantizedActivations,
        out: &mut [f32],
    ) -> Result<(), QuantError> {
        if !crate::isa_available(isa) {
            return Err(QuantError::Unsupported(isa.name()));
        }
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
        if rows == 0 {
            return Ok(());
        }
        if isa == Isa::Avx512Vnni
            && let Some(tiles) = &self.tiles
        {
            tiles.matmul(x, self.n, out);
            return Ok(());
        }
        let format = self.format;
        let row_bytes = self.row_bytes();
        // Tiles of weight rows in parallel. Each weight row is unpacked once, then dotted
        // with every activation row; columns land in `by_row`, weight row major.
        let one_row = rows == 1;
        let mut by_row = if one_row {
            Vec::new()
        } else {
            vec![0f32; rows * self.n]
        };
        let target: &mut [f32] = if one_row { out } else { &mut by_row };
        target
            .par_chunks_mut(TILE * rows)
            .enumerate()
            .for_each_init(
                || Unpacked::new(self.k),
                |unpacked, (t, chunk)| {
                    for (j, column) in chunk.chunks_exact_mut(rows).enumerate() {
                        let i = t * TILE + j;
                        let bytes = &self.bytes[i * row_bytes..(i + 1) * row_bytes];
                        crate::dot::unpack_row(isa, format, bytes, unpacked);
                        crate::dot::dot_rows(isa, unpacked, format, x, column);
                    }
                },
            );
        if !one_row {
            // Into activation-row order, 16 rows (one cache line of `by_row`) at a time.
            let n = self.n;
            out.par_chunks_mut(16 * n)
                .enumerate()
                .for_each(|(block, o)| {
                    let (first, count) = (16 * block, o.len() / n);
                    for (i, column) in by_row.chunks_exact(rows).enumerate() {
                        for (j, v) in column[first..first + count].iter().enumerate() {
                            o[j * n + i] = *v;
                        }
                    }
                });
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
