//! Weight rows in tiles of 16, laid out for AVX-512 VNNI, and the matmul on them.
//!
//! In a tile, each scale group (see `dot.rs`) of the 16 rows is stored as `group / 4`
//! quads of 64 bytes (row `j`'s 4 weights at bytes `4j .. 4j + 4`, made unsigned by the
//! format's bias), then the 16 rows' scales as f32, then (Q4_K) their offsets. One
//! `vpdpbusd` with 4 activation bytes broadcast then adds 4 products to each of 16 rows'
//! exact integer dots, so a group's dot costs `group / 4` instructions for 16 outputs and
//! its scales one multiply for all 16, in the reference's order: the same bits.

use crate::activations::QuantizedActivations;
use crate::bytes::WeightBytes;
use crate::format::QuantFormat;
use crate::isa::Isa;
use crate::target::Target;
use crate::unpacked::{Unpacked, group_values, unpack_row};
use rayon::prelude::*;

/// Weight rows per tile: one output per lane of a 512-bit register.
pub(crate) const TILE_ROWS: usize = 16;

/// A matrix's rows as tiles (the last padded with zero rows).
#[derive(Debug, Clone)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct Tiles {
    bytes: Vec<u8>,
    /// Values per scale group.
    group: usize,
    group_bytes: usize,
    tile_bytes: usize,
    has_offset: bool,
    /// Added to every weight to make it unsigned.
    bias: i32,
}

impl Tiles {
    /// Whether `format` runs on tiles: the 32-value formats with one scale (the k-quants,
    /// whose scales fold in integers per 256 values, and Q4_1 and Q5_1, with their
    /// minimums, run on the panels' AVX2 kernel).
    pub(crate) fn takes(format: QuantFormat) -> bool {
        half_scales(format)
    }

    /// Lays out `n` rows of `k` values of `format` from `bytes`, slab by slab, letting a
    /// mapped file's pages go once each slab is laid out.
    pub(crate) fn build(format: QuantFormat, n: usize, k: usize, bytes: &WeightBytes) -> Tiles {
        let group = group_values(format);
        let has_offset = format.has_offset();
        // The one-scale formats keep their f16 scales (32 bytes a group, converted exactly
        // in the kernel): decode reads the tiles at memory speed, so bytes count.
        let half_scales = half_scales(format);
        let scale_bytes = if half_scales { 32 } else { 64 };
        let group_bytes = group / 4 * 64 + scale_bytes + if has_offset { 64 } else { 0 };
        let tile_bytes = k / group * group_bytes;
        let bias = match format {
            QuantFormat::Q8_0 => 128,
            QuantFormat::Q4_0 => 8,
            QuantFormat::Q5_0 => 16,
            QuantFormat::Q6K => 32,
            QuantFormat::Q4K => 0,
            // Never tiled (`takes`).
            QuantFormat::IQ4NL
            | QuantFormat::IQ4XS
            | QuantFormat::Q4_1
            | QuantFormat::Q5_1
            | QuantFormat::Q2K
            | QuantFormat::Q3K
            | QuantFormat::Q5K => 0,
        };
        let row_bytes = k / format.block_values() * format.block_bytes();
        let tiles = n.div_ceil(TILE_ROWS);
        let mut out = vec![0u8; tiles * tile_bytes];
        let unpack_isa = if crate::isa_available(Isa::Avx2) {
            Isa::Avx2
        } else {
            Isa::Portable
        };
        // 256 tiles (4096 rows) per slab.
        let slab = 256;
        for (s, slab_out) in out.chunks_mut((tile_bytes * slab).max(1)).enumerate() {
            slab_out
                .par_chunks_mut(tile_bytes.max(1))
                .enumerate()
                .for_each_init(
                    || Unpacked::new(k),
                    |row, (t, tile)| {
                        let t = s * slab + t;
                        for j in 0..TILE_ROWS {
                            let i = t * TILE_ROWS + j;
                            if i >= n {
                                // Padding: weights 0 (stored as the bias), scales 0.
                                for g in 0..k / group {
                                    let at = g * group_bytes;
                                    for q in 0..group / 4 {
                                        let quad = &mut tile[at + 64 * q + 4 * j..][..4];
                                        quad.fill(bias as u8);
                                    }
                                }
                                continue;
                            }
                            unpack_row(
                                unpack_isa,
                                format,
                                &bytes[i * row_bytes..(i + 1) * row_bytes],
                                row,
                            );
                            for g in 0..k / group {
                                let at = g * group_bytes;
                                for q in 0..group / 4 {
                                    let w = &row.weights[g * group + 4 * q..][..4];
                                    let quad = &mut tile[at + 64 * q + 4 * j..][..4];
                                    for (b, v) in quad.iter_mut().zip(w) {
                                        // Wrapping: Q8_0's -128..127 becomes 0..255.
                                        *b = (i32::from(*v) + bias) as u8;
                                    }
                                }
                                let scales = at + group / 4 * 64;
                                let lane = g * group / 4;
                                if half_scales {
                                    // Block g's first two bytes: its f16 scale.
                                    let block = i * row_bytes + g * format.block_bytes();
                                    tile[scales + 2 * j..scales + 2 * j + 2]
                                        .copy_from_slice(&bytes[block..block + 2]);
                                } else {
                                    tile[scales + 4 * j..scales + 4 * j + 4]
                                        .copy_from_slice(&row.lane_scales[lane].to_le_bytes());
                                }
                                if has_offset {
                                    let offsets = scales + 64;
                                    tile[offsets + 4 * j..offsets + 4 * j + 4]
                                        .copy_from_slice(&row.offset_lanes[lane].to_le_bytes());
                                }
                            }
                        }
                    },
                );
            let rows = (s * slab * TILE_ROWS)..((s + 1) * slab * TILE_ROWS).min(n);
            bytes.release(rows.start * row_bytes..rows.end * row_bytes);
        }
        Tiles {
            bytes: out,
            group,
            group_bytes,
            tile_bytes,
            has_offset,
            bias,
        }
    }

    /// `out[r · n + i] = W[i] · x_r` on AVX-512 VNNI, which the caller has checked is
    /// available; `out` holds `x.rows() · n` values.
    pub(crate) fn matmul(&self, x: &QuantizedActivations, n: usize, out: &mut [f32]) {
        let rows = x.rows();
        let tiles = n.div_ceil(TILE_ROWS);
        let target = Target(out.as_mut_ptr());
        let run = |t: usize| {
            let tile = &self.bytes[t * self.tile_bytes..(t + 1) * self.tile_bytes];
            let columns = (n - t * TILE_ROWS).min(TILE_ROWS);
            let at = Columns {
                out: target.pointer(),
                n,
                first_column: t * TILE_ROWS,
                columns,
            };
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller checked AVX-512 VNNI; tile t's outputs are columns
            // `16t ..` of every row, which no other task writes.
            unsafe {
                x86::tile(self, tile, x, at)
            };
            #[cfg(not(target_arch = "x86_64"))]
            let _ = (tile, at, x);
        };
        // Under about a million products a hand-off to another thread costs more than it
        // saves; above, enough tiles per task that each is worth one (about 64 Ki).
        let products = TILE_ROWS * tiles * x.k() * rows;
        if products < 1 << 20 {
            (0..tiles).for_each(run);
        } else {
            let per_task = (65_536 / (TILE_ROWS * x.k() * rows).max(1)).max(1);
            (0..tiles)
                .into_par_iter()
                .with_min_len(per_task)
                .for_each(run);
        }
    }
}

/// Whether `format`'s tiles keep f16 scales: the formats with one f16 scale per block of
/// 32 (the kernel tells them apart as the groups of 32 without offsets).
fn half_scales(format: QuantFormat) -> bool {
    matches!(
        format,
        QuantFormat::Q8_0 | QuantFormat::Q4_0 | QuantFormat::Q5_0
    )
}

/// Where one tile's outputs go: `columns` columns from `first_column` of `n`-wide rows.
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Columns {
    out: *mut f32,
    n: usize,
    first_column: usize,
    columns: usize,
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Columns, Tiles};
    use crate::activations::QuantizedActivations;
    use std::arch::x86_64::*;

    /// Every activation row against one tile, eight rows at a time.
    ///
    /// # Safety
    /// AVX-512 F, BW, VNNI; `at` names columns only this call writes, inside the output.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn tile(tiles: &Tiles, tile: &[u8], x: &QuantizedActivations, at: Columns) {
        // SAFETY: as the caller promises.
        unsafe {
            match (tiles.group, tiles.has_offset) {
                (16, false) => rows::<16, false>(tiles, tile, x, at),
                (32, true) => rows::<32, true>(tiles, tile, x, at),
                _ => rows::<32, false>(tiles, tile, x, at),
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn rows<const G: usize, const OFFSET: bool>(
        tiles: &Tiles,
        tile: &[u8],
        x: &QuantizedActivations,
        at: Columns,
    ) {
        let rows = x.rows();
        let groups = x.k() / G;
        // Blocks of 512 values: a block of the tile (about 5 KiB) stays in L1 while every
        // group of activation rows passes over it; the sums carry over in `out`, so each
        // output still adds its groups in order.
        let per_block = (512 / G).max(1);
        let mut start = 0;
        while start < groups {
            let blocks = start..(start + per_block).min(groups);
            let mut first = 0;
            // SAFETY: as the caller promises; each group of rows stays inside `rows`.
            unsafe {
                while first + 8 <= rows {
                    group::<G, OFFSET, 8>(tiles, tile, x, first, at, blocks.clone());
                    first += 8;
                }
                let b = blocks.clone();
                match rows - first {
                    7 => group::<G, OFFSET, 7>(tiles, tile, x, first, at, b),
                    6 => group::<G, OFFSET, 6>(tiles, tile, x, first, at, b),
                    5 => group::<G, OFFSET, 5>(tiles, tile, x, first, at, b),
                    4 => group::<G, OFFSET, 4>(tiles, tile, x, first, at, b),
                    3 => group::<G, OFFSET, 3>(tiles, tile, x, first, at, b),
                    2 => group::<G, OFFSET, 2>(tiles, tile, x, first, at, b),
                    1 => group::<G, OFFSET, 1>(tiles, tile, x, first, at, b),
                    _ => {}
                }
            }
            start = blocks.end;
        }
    }

    /// Activation rows `first .. first + R` against scale groups `blocks` of one tile: the
    /// reference's arithmetic, 16 weight rows per register, continuing the sums already in
    /// `out` unless `blocks` starts the row.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn group<const G: usize, const OFFSET: bool, const R: usize>(
        tiles: &Tiles,
        tile: &[u8],
        x: &QuantizedActivations,
        first: usize,
        at: Columns,
        blocks: std::ops::Range<usize>,
    ) {
        let k = x.k();
        let quads = G / 4;
        let bias = tiles.bias;
        let xq = x.quants(first).as_ptr();
        let xd = x.scales(first).as_ptr();
        let xs = x.sums16(first).as_ptr();
        let t = tile.as_ptr();
        let mask: __mmask16 = if at.columns >= 16 {
            0xFFFF
        } else {
            (1u16 << at.columns) - 1
        };
        let out_row = |r: usize| at.out.wrapping_add((first + r) * at.n + at.first_column);
        let mut acc = [_mm512_setzero_ps(); R];
        // SAFETY: every group, quad and row read lies inside the tile and the activation
        // rows `first .. first + R` (rows lie `k` values, `k / 32` scales and `k / 16`
        // sums apart); the output columns are this tile's alone.
        unsafe {
            if blocks.start > 0 {
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_maskz_loadu_ps(mask, out_row(r));
                }
            }
            for g in blocks {
                let base = t.add(g * tiles.group_bytes);
                let mut sums = [0i32; R];
                let mut dots = [_mm512_setzero_si512(); R];
                for (r, (sum, dot)) in sums.iter_mut().zip(dots.iter_mut()).enumerate() {
                    let s = xs.add(r * (k / 16) + g * G / 16);
                    *sum = if G == 32 { *s + *s.add(1) } else { *s };
                    // Σ (w + bias)·x − bias·Σx = Σ w·x, exactly.
                    *dot = _mm512_set1_epi32(-bias * *sum);
                }
                for q in 0..quads {
                    let w = _mm512_loadu_si512(base.add(64 * q).cast());
                    for (r, dot) in dots.iter_mut().enumerate() {
                        let four = xq.add(r * k + g * G + 4 * q).cast::<i32>().read_unaligned();
                        *dot = _mm512_dpbusd_epi32(*dot, w, _mm512_set1_epi32(four));
                    }
                }
                let scales = if G == 32 && !OFFSET {
                    // Q8_0, Q4_0, Q5_0: f16 scales, widened exactly.
                    _mm512_cvtph_ps(_mm256_loadu_si256(base.add(64 * quads).cast()))
                } else {
                    _mm512_loadu_ps(base.add(64 * quads).cast())
                };
                for r in 0..R {
                    let d = _mm512_set1_ps(*xd.add(r * (k / 32) + g * G / 32));
                    let mut c =
                        _mm512_mul_ps(_mm512_mul_ps(scales, d), _mm512_cvtepi32_ps(dots[r]));
                    if OFFSET {
                        let offsets = _mm512_loadu_ps(base.add(64 * quads + 64).cast());
                        let sum = _mm512_set1_ps(sums[r] as f32);
                        c = _mm512_sub_ps(c, _mm512_mul_ps(_mm512_mul_ps(offsets, d), sum));
                    }
                    acc[r] = _mm512_add_ps(acc[r], c);
                }
            }
            for (r, a) in acc.iter().enumerate() {
                _mm512_mask_storeu_ps(out_row(r), mask, *a);
            }
        }
    }
}
