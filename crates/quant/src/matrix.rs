//! A quantized weight matrix and its matmul with quantized activations.

use crate::activations::QuantizedActivations;
use crate::bytes::WeightBytes;
use crate::error::QuantError;
use crate::format::QuantFormat;
use crate::isa::Isa;
use crate::panels::Panels;
use crate::tiles::Tiles;
use std::sync::OnceLock;

/// `n` rows of `k` values in one [`QuantFormat`], as a GGUF tensor of shape `[k, n]`
/// stores them (`k` the fastest dimension).
#[derive(Debug, Clone)]
pub struct QuantMatrix {
    format: QuantFormat,
    n: usize,
    k: usize,
    bytes: WeightBytes,
    /// The rows as AVX-512 VNNI tiles, built at load for the 32-value formats where that
    /// is the default ISA.
    tiles: Option<Tiles>,
    /// The rows as panels of 8 for every other kernel: built at load unless the tiles
    /// are, else on first use.
    panels: OnceLock<Panels>,
}

impl QuantMatrix {
    /// Checks that `bytes` hold `n × k` values of `format`, and lays them out for the
    /// default ISA's kernels.
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
        // Only what matmul will use (DIAL_ISA may ask for a slower kernel).
        let tiles = (crate::default_isa() == Isa::Avx512Vnni && Tiles::takes(format))
            .then(|| Tiles::build(format, n, k, &bytes));
        let panels = OnceLock::new();
        if tiles.is_none() {
            let _ = panels.set(Panels::build(format, n, k, &bytes));
        }
        Ok(QuantMatrix {
            format,
            n,
            k,
            bytes,
            tiles,
            panels,
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
    /// default ISA (see [`crate::default_isa`]). Each output depends only on its own row
    /// and weight row, so it is the same for any batch, any position in it and any thread
    /// count; `x` is quantized in [`QuantFormat::activation_block`]s
    /// ([`QuantMatrix::quantize`]).
    pub fn matmul(&self, x: &QuantizedActivations, out: &mut [f32]) -> Result<(), QuantError> {
        self.matmul_with(crate::default_isa(), x, out)
    }

    /// [`QuantMatrix::matmul`] on `isa`, which must be one of [`Isa::available`]. Every
    /// ISA gives [`QuantMatrix::matmul_reference`]'s bits.
    pub fn matmul_with(
        &self,
        isa: Isa,
        x: &QuantizedActivations,
        out: &mut [f32],
    ) -> Result<(), QuantError> {
        if !crate::isa_available(isa) {
            return Err(QuantError::Unsupported(isa.name()));
        }
        self.check(x, out)?;
        if x.rows() == 0 {
            return Ok(());
        }
        if isa == Isa::Avx512Vnni
            && let Some(tiles) = &self.tiles
        {
            tiles.matmul(x, self.n, out);
            return Ok(());
        }
        let panels = self
            .panels
            .get_or_init(|| Panels::build(self.format, self.n, self.k, &self.bytes));
        panels.matmul(isa, x, out);
        Ok(())
    }

    /// [`QuantMatrix::matmul`] by the definition (`reference.rs`), plainly, from the
    /// file's own blocks: what every kernel is tested against. Slow.
    pub fn matmul_reference(
        &self,
        x: &QuantizedActivations,
        out: &mut [f32],
    ) -> Result<(), QuantError> {
        self.check(x, out)?;
        let row_bytes = self.row_bytes();
        for (r, out) in out.chunks_exact_mut(self.n).enumerate() {
            for (i, o) in out.iter_mut().enumerate() {
                let row = &self.bytes[i * row_bytes..(i + 1) * row_bytes];
                *o = crate::reference::dot(self.format, row, x, r);
            }
        }
        Ok(())
    }

    fn check(&self, x: &QuantizedActivations, out: &[f32]) -> Result<(), QuantError> {
        if x.k() != self.k {
            return Err(QuantError::Shape {
                expected: self.k,
                got: x.k(),
            });
        }
        if x.block() != self.format.activation_block() {
            return Err(QuantError::ActivationBlock {
                expected: self.format.activation_block(),
                got: x.block(),
            });
        }
        if out.len() != x.rows() * self.n {
            return Err(QuantError::Output {
                expected: x.rows() * self.n,
                got: out.len(),
            });
        }
        Ok(())
    }

    /// `x` (`x.len()` a multiple of `k`) quantized as this matrix's kernels take it.
    pub fn quantize(&self, x: &[f32]) -> Result<QuantizedActivations, QuantError> {
        QuantizedActivations::with_block(x, self.k, self.format.activation_block())
    }

    /// [`QuantMatrix::matmul`] from f32 activations (`x.len()` a multiple of `k`).
    pub fn matmul_f32(&self, x: &[f32]) -> Result<Vec<f32>, QuantError> {
        let quantized = self.quantize(x)?;
        let mut out = vec![0f32; quantized.rows() * self.n];
        self.matmul(&quantized, &mut out)?;
        Ok(out)
    }
}
