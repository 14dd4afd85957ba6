//! A quantized weight matrix and its matmul with quantized activations.

use crate::activations::QuantizedActivations;
use crate::bytes::WeightBytes;
use crate::dot::Unpacked;
use crate::error::QuantError;
use crate::format::QuantFormat;
use crate::isa::Isa;
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
    /// The rows in the AVX-512 kernels' expanded form (unsigned weights, f32 scales),
    /// built once where this CPU has AVX-512 VNNI: cheaper to read than to unpack.
    expanded: Option<Vec<u8>>,
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
        let mut matrix = QuantMatrix {
            format,
            n,
            k,
            bytes,
            expanded: None,
        };
        matrix.expanded = matrix.expand();
        Ok(matrix)
    }

    /// The expanded rows, for the formats where unpacking costs more than reading: all
    /// but Q8_0, whose bytes are nearly its expanded form already.
    fn expand(&self) -> Option<Vec<u8>> {
        let isa = Isa::Avx512Vnni;
        if self.format == QuantFormat::Q8_0 || !crate::isa_available(isa) {
            return None;
        }
        let per_row = crate::dot::expanded_row_bytes(self.k)?;
        let mut out = vec![0u8; per_row * self.n];
        let row_bytes = self.row_bytes();
        out.par_chunks_mut(per_row.max(1))
            .zip(self.bytes.par_chunks(row_bytes))
            .for_each(|(e, row)| {
                crate::dot::expand_row(isa, self.format, row, self.k, e);
            });
        Some(out)
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
                    let tile_rows = chunk.len() / rows;
                    if rows > 4
                        && let (Some(e), Some(per)) =
                            (&self.expanded, crate::dot::expanded_row_bytes(self.k))
                    {
                        let bytes = &self.bytes[t * TILE * row_bytes..][..tile_rows * row_bytes];
                        let e = &e[t * TILE * per..][..tile_rows * per];
                        if crate::dot::dot_tile_expanded(
                            isa,
                            format,
                            (bytes, row_bytes),
                            (e, per),
                            x,
                            chunk,
                        ) {
                            return;
                        }
                    }
                    for (j, column) in chunk.chunks_exact_mut(rows).enumerate() {
                        let i = t * TILE + j;
                        let bytes = &self.bytes[i * row_bytes..(i + 1) * row_bytes];
                        if let (Some(e), Some(per)) =
                            (&self.expanded, crate::dot::expanded_row_bytes(self.k))
                            && crate::dot::dot_rows_expanded(
                                isa,
                                format,
                                bytes,
                                &e[i * per..(i + 1) * per],
                                x,
                                column,
                            )
                        {
                            continue;
                        }
                        if crate::dot::dot_rows_packed(isa, format, bytes, x, column, unpacked) {
                            continue;
                        }
                        crate::dot::unpack_row(isa, format, bytes, unpacked);
                        crate::dot::dot_rows(isa, unpacked, format.has_offset(), x, column);
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
