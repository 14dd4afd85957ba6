//! The panel kernel on AVX2 (and F16C): up to 4 activation rows at a time (8 for Q8_0 and
//! the IQ4s), each weight
//! quad vector unpacked once for all of them. `vpmaddubsw` multiplies 32 unsigned weights
//! by 4 broadcast activations and adds pairs into 16-bit lanes (no saturation, see
//! `super`), which add up over a few quads; `vpmaddwd` widens them to one 32-bit sum per
//! weight row, multiplied by the row's sub-block scale for the k-quants. Then the
//! reference's f32 steps, 8 rows per instruction.

use super::{PANEL_ROWS, Rows, at, bias, block_bytes, k_layout, scales_and_mins};
use crate::activations::QuantizedActivations;
use crate::format::{IQ4_NL_VALUES, QuantFormat};
use std::arch::x86_64::*;

/// `sums[r][j] = W[j] · x_r` for one panel (see `super`).
///
/// # Safety
/// AVX2 and F16C; `panel` is one whole panel of `format` for `x.k()` values.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn panel(
    format: QuantFormat,
    panel: &[u8],
    x: &QuantizedActivations,
    sums: &mut [[f32; PANEL_ROWS]],
) {
    let rows = sums.len();
    // Q8_0 and the IQ4s keep 32-bit sums only (no 16-bit partials), so 8 rows fit the
    // registers.
    let widest = if matches!(
        format,
        QuantFormat::Q8_0 | QuantFormat::IQ4NL | QuantFormat::IQ4XS
    ) {
        8
    } else {
        4
    };
    let mut first = 0;
    // SAFETY: as the caller promises; each group of rows lies inside `x` and `sums`.
    unsafe {
        while first < rows {
            let left = rows - first;
            let n = if left >= widest { widest } else { left.min(4) };
            let group = &mut sums[first..first + n];
            match n {
                8 => rows_of::<8>(format, panel, x, first, group),
                4 => rows_of::<4>(format, panel, x, first, group),
                3 => rows_of::<3>(format, panel, x, first, group),
                2 => rows_of::<2>(format, panel, x, first, group),
                _ => rows_of::<1>(format, panel, x, first, group),
            }
            first += n;
        }
    }
}

/// How far ahead of the block in hand the weights are fetched into cache. Decode streams
/// every weight once a token; the hint keeps more of memory's latency hidden than the
/// hardware prefetcher alone does (the 262,144-row output matrix about 20 % faster here).
const PREFETCH: usize = 2048;

/// Activation rows `first .. first + R` against one panel.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn rows_of<const R: usize>(
    format: QuantFormat,
    panel: &[u8],
    x: &QuantizedActivations,
    first: usize,
    sums: &mut [[f32; PANEL_ROWS]],
) {
    let rows = Rows::new(x, first);
    let mut acc = [_mm256_setzero_ps(); R];
    let bytes = block_bytes(format);
    for (b, block) in panel.chunks_exact(bytes).enumerate() {
        // On the first pass over the panel only: the later groups of rows find it cached.
        if first == 0 {
            for line in (0..bytes).step_by(64) {
                // A hint, never a fault, even past the end of the weights.
                _mm_prefetch::<_MM_HINT_T0>(block.as_ptr().wrapping_add(PREFETCH + line).cast());
            }
        }
        // SAFETY: `block` is a whole panel block; block b's activations lie in every row.
        let c: [__m256; R] = unsafe {
            match format {
                QuantFormat::Q8_0 => q8_0::<R>(block.as_ptr(), &rows, b),
                QuantFormat::IQ4NL => iq4::<R, false>(block.as_ptr(), &rows, b),
                QuantFormat::Q4_0 | QuantFormat::Q4_1 => {
                    nibbles32::<R, false>(format, block.as_ptr(), &rows, b)
                }
                QuantFormat::Q5_0 | QuantFormat::Q5_1 => {
                    nibbles32::<R, true>(format, block.as_ptr(), &rows, b)
                }
                QuantFormat::Q4K => q4k::<R, false>(block.as_ptr(), &rows, b),
                QuantFormat::Q5K => q4k::<R, true>(block.as_ptr(), &rows, b),
                QuantFormat::Q2K => q2k::<R>(block.as_ptr(), &rows, b),
                QuantFormat::Q3K => q6k::<R, true>(block.as_ptr(), &rows, b),
                QuantFormat::Q6K => q6k::<R, false>(block.as_ptr(), &rows, b),
                QuantFormat::IQ4XS => iq4::<R, true>(block.as_ptr(), &rows, b),
            }
        };
        for (a, c) in acc.iter_mut().zip(c) {
            *a = _mm256_add_ps(*a, c);
        }
    }
    for (s, a) in sums.iter_mut().zip(acc) {
        // SAFETY: 8 floats into 8 slots.
        unsafe { _mm256_storeu_ps(s.as_mut_ptr(), a) };
    }
}

impl Rows {
    /// Row `r`'s 4 activations from value `at`, in every 32-bit lane.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn quad(&self, r: usize, at: usize) -> __m256i {
        // SAFETY: the caller keeps `at + 4 ≤ k`.
        _mm256_set1_epi32(unsafe { self.quad_word(r, at) })
    }

    /// Row `r`'s scale of block `b`, in every lane.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn scale(&self, r: usize, b: usize) -> __m256 {
        // SAFETY: b < k / block.
        _mm256_set1_ps(unsafe { self.scale_of(r, b) })
    }

    /// Row `r`'s sums of 16 at `s` and `s + 1` as a pair of 16-bit lanes, in every 32-bit
    /// lane (|sum| ≤ 16 · 127 fits).
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn sum_pair(&self, r: usize, s: usize, width: usize) -> __m256i {
        // SAFETY: as `sum`.
        let (a, b) = unsafe {
            (
                self.sum(r, s, width / 16),
                self.sum(r, s + width / 16, width / 16),
            )
        };
        _mm256_set1_epi32((a & 0xFFFF) | (b << 16))
    }
}

#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn load(p: *const u8) -> __m256i {
    // SAFETY: the caller passes 32 readable bytes.
    unsafe { _mm256_loadu_si256(p.cast()) }
}

/// 8 f16 at `p`, widened exactly.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn f16x8(p: *const u8) -> __m256 {
    // SAFETY: the caller passes 16 readable bytes.
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
}

/// Quad `q` (0..8) of a piece's 4 nibble vectors at `p`.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn nibble_quad(p: *const u8, q: usize) -> __m256i {
    unsafe {
        let v = load(p.add(32 * (q % 4)));
        let v = if q < 4 { v } else { _mm256_srli_epi16(v, 4) };
        _mm256_and_si256(v, _mm256_set1_epi8(0xF))
    }
}

/// Each 8-bit lane's bit `q` moved to bit 4 (0x10), the rest cleared.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn bit_to_4(v: __m256i, q: usize) -> __m256i {
    let moved = match q {
        0 => _mm256_slli_epi16(v, 4),
        1 => _mm256_slli_epi16(v, 3),
        2 => _mm256_slli_epi16(v, 2),
        3 => _mm256_slli_epi16(v, 1),
        4 => v,
        5 => _mm256_srli_epi16(v, 1),
        6 => _mm256_srli_epi16(v, 2),
        _ => _mm256_srli_epi16(v, 3),
    };
    _mm256_and_si256(moved, _mm256_set1_epi8(0x10))
}

/// Each 8-bit lane's bits `2j, 2j + 1` moved to bits 4, 5 (0x30), the rest cleared.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn pair_to_4(v: __m256i, j: usize) -> __m256i {
    let moved = match j {
        0 => _mm256_slli_epi16(v, 4),
        1 => _mm256_slli_epi16(v, 2),
        2 => v,
        _ => _mm256_srli_epi16(v, 2),
    };
    _mm256_and_si256(moved, _mm256_set1_epi8(0x30))
}

/// Each 8-bit lane's bits `2j, 2j + 1` moved to bits 0, 1, the rest cleared.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn pair_to_0(v: __m256i, j: usize) -> __m256i {
    let moved = match j {
        0 => v,
        1 => _mm256_srli_epi16(v, 2),
        2 => _mm256_srli_epi16(v, 4),
        _ => _mm256_srli_epi16(v, 6),
    };
    _mm256_and_si256(moved, _mm256_set1_epi8(0x03))
}

/// Each 8-bit lane's bit `q` moved to bit 2 (0x04), the rest cleared.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn bit_to_2(v: __m256i, q: usize) -> __m256i {
    let moved = match q {
        0 => _mm256_slli_epi16(v, 2),
        1 => _mm256_slli_epi16(v, 1),
        2 => v,
        3 => _mm256_srli_epi16(v, 1),
        4 => _mm256_srli_epi16(v, 2),
        5 => _mm256_srli_epi16(v, 3),
        6 => _mm256_srli_epi16(v, 4),
        _ => _mm256_srli_epi16(v, 5),
    };
    _mm256_and_si256(moved, _mm256_set1_epi8(0x04))
}

/// 8 bytes at `p` (one per weight row) as 32-bit lanes holding the value in both 16-bit
/// halves: `vpmaddwd` with it multiplies a pair of 16-bit sums by the row's scale.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn scale_pairs(p: *const u8, signed: bool) -> __m256i {
    unsafe {
        let bytes = _mm_loadl_epi64(p.cast());
        let v = if signed {
            _mm256_cvtepi8_epi32(bytes)
        } else {
            _mm256_cvtepu8_epi32(bytes)
        };
        _mm256_or_si256(
            _mm256_and_si256(v, _mm256_set1_epi32(0xFFFF)),
            _mm256_slli_epi32(v, 16),
        )
    }
}

#[inline]
#[target_feature(enable = "avx2,f16c")]
fn widen(pairs: __m256i, by: __m256i) -> __m256i {
    _mm256_madd_epi16(pairs, by)
}

/// `(s · D) · f32(dot)` for each lane: the 32-value formats' term.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn term(scales: __m256, big_d: __m256, dot: __m256i) -> __m256 {
    _mm256_mul_ps(_mm256_mul_ps(scales, big_d), _mm256_cvtepi32_ps(dot))
}

/// Q8_0: signed weights, the sign moved onto the activations (`|w| ≤ 128`).
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn q8_0<const R: usize>(block: *const u8, rows: &Rows, b: usize) -> [__m256; R] {
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let mut dot = [_mm256_setzero_si256(); R];
        for q in 0..8 {
            let w = load(block.add(32 * q));
            let magnitude = _mm256_abs_epi8(w);
            for (r, d) in dot.iter_mut().enumerate() {
                let x = _mm256_sign_epi8(rows.quad(r, 32 * b + 4 * q), w);
                *d = _mm256_add_epi32(*d, widen(_mm256_maddubs_epi16(magnitude, x), ones));
            }
        }
        let scales = f16x8(block.add(at::Q8_0_SCALES));
        std::array::from_fn(|r| term(scales, rows.scale(r, b), dot[r]))
    }
}

/// IQ4_NL (`XS` false) and IQ4_XS: each nibble looked up in the 16-value table
/// (`vpshufb`), then Q8_0's signed products per quad, each pair of 16-bit sums widened by
/// the piece's scale (1 for IQ4_NL; `|sum| ≤ 2 · 127 · 127`, `|scale| ≤ 32`) and added up
/// in 32 bits.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn iq4<const R: usize, const XS: bool>(
    block: *const u8,
    rows: &Rows,
    b: usize,
) -> [__m256; R] {
    unsafe {
        let table = _mm256_broadcastsi128_si256(_mm_loadu_si128(IQ4_NL_VALUES.as_ptr().cast()));
        let (pieces, values) = if XS { (8, 256) } else { (1, 32) };
        let mut dot = [_mm256_setzero_si256(); R];
        for piece in 0..pieces {
            let base = block.add(at::IQ4XS_PIECE * piece);
            let scales = if XS {
                scale_pairs(block.add(at::IQ4XS_SCALES + 8 * piece), true)
            } else {
                _mm256_set1_epi16(1)
            };
            for q in 0..8 {
                let w = _mm256_shuffle_epi8(table, nibble_quad(base, q));
                let magnitude = _mm256_abs_epi8(w);
                for (r, d) in dot.iter_mut().enumerate() {
                    let x = rows.quad(r, values * b + 32 * piece + 4 * q);
                    let x = _mm256_sign_epi8(x, w);
                    *d = _mm256_add_epi32(*d, widen(_mm256_maddubs_epi16(magnitude, x), scales));
                }
            }
        }
        let d = f16x8(block.add(if XS { at::IQ4XS_D } else { at::IQ4NL_SCALES }));
        std::array::from_fn(|r| term(d, rows.scale(r, b), dot[r]))
    }
}

/// Q4_0 and Q4_1 (`HIGH` false), Q5_0 and Q5_1: unsigned nibbles (and a fifth bit), the
/// bias taken back out (or the minimum added) through the block's activation sum. 16-bit
/// sums over 4 quads stay below 2¹⁵ (8 products of at most 31 · 127).
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn nibbles32<const R: usize, const HIGH: bool>(
    format: QuantFormat,
    block: *const u8,
    rows: &Rows,
    b: usize,
) -> [__m256; R] {
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let high = if HIGH {
            load(block.add(at::Q5_0_HIGH))
        } else {
            _mm256_setzero_si256()
        };
        let mut dot = [_mm256_setzero_si256(); R];
        for half in 0..2 {
            let mut pairs = [_mm256_setzero_si256(); R];
            for q in 4 * half..4 * half + 4 {
                let mut w = nibble_quad(block, q);
                if HIGH {
                    w = _mm256_or_si256(w, bit_to_4(high, q));
                }
                for (r, p) in pairs.iter_mut().enumerate() {
                    *p =
                        _mm256_add_epi16(*p, _mm256_maddubs_epi16(w, rows.quad(r, 32 * b + 4 * q)));
                }
            }
            for (d, p) in dot.iter_mut().zip(pairs) {
                *d = _mm256_add_epi32(*d, widen(p, ones));
            }
        }
        let (scales_at, mins_at) = scales_and_mins(format);
        let scales = f16x8(block.add(scales_at));
        let bias = bias(format);
        match mins_at {
            None => std::array::from_fn(|r| {
                let unbiased =
                    _mm256_sub_epi32(dot[r], _mm256_set1_epi32(bias * rows.sum(r, 2 * b, 2)));
                term(scales, rows.scale(r, b), unbiased)
            }),
            Some(mins_at) => {
                let mins = f16x8(block.add(mins_at));
                std::array::from_fn(|r| {
                    let big_d = rows.scale(r, b);
                    let sum = _mm256_set1_epi32(rows.sum(r, 2 * b, 2));
                    _mm256_add_ps(term(scales, big_d, dot[r]), term(mins, big_d, sum))
                })
            }
        }
    }
}

/// Q4_K (`FIVE` false) and Q5_K: per sub-block 16-bit sums, widened by the sub-block's
/// scale: over its 8 quads for Q4_K (16 products of at most 15 · 127), over each half of
/// 4 quads for Q5_K (8 of at most 31 · 127); the mins by pairs of sub-blocks.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn q4k<const R: usize, const FIVE: bool>(
    block: *const u8,
    rows: &Rows,
    b: usize,
) -> [__m256; R] {
    let layout = k_layout(if FIVE {
        QuantFormat::Q5K
    } else {
        QuantFormat::Q4K
    });
    unsafe {
        let mut dot = [_mm256_setzero_si256(); R];
        for sub in 0..8 {
            let scales = scale_pairs(block.add(layout.scales + 8 * sub), false);
            let piece = block.add(layout.piece * sub);
            let high = layout.high.map(|h| load(piece.add(h)));
            let mut pairs = [_mm256_setzero_si256(); R];
            for q in 0..8 {
                let mut w = nibble_quad(piece, q);
                if let Some(high) = high {
                    w = _mm256_or_si256(w, bit_to_4(high, q));
                }
                for (r, p) in pairs.iter_mut().enumerate() {
                    let x = rows.quad(r, 256 * b + 32 * sub + 4 * q);
                    *p = _mm256_add_epi16(*p, _mm256_maddubs_epi16(w, x));
                }
                if FIVE && q == 3 {
                    for (d, p) in dot.iter_mut().zip(&mut pairs) {
                        *d = _mm256_add_epi32(*d, widen(*p, scales));
                        *p = _mm256_setzero_si256();
                    }
                }
            }
            for (d, p) in dot.iter_mut().zip(pairs) {
                *d = _mm256_add_epi32(*d, widen(p, scales));
            }
        }
        let mut mins = [_mm256_setzero_si256(); R];
        for pair in 0..4 {
            let m =
                _mm256_cvtepu8_epi16(_mm_loadu_si128(block.add(layout.mins + 16 * pair).cast()));
            for (r, s) in mins.iter_mut().enumerate() {
                *s = _mm256_add_epi32(*s, widen(m, rows.sum_pair(r, 16 * b + 4 * pair, 32)));
            }
        }
        let (d, dmin) = (f16x8(block.add(layout.d)), f16x8(block.add(layout.dmin)));
        std::array::from_fn(|r| {
            let big_d = rows.scale(r, b);
            _mm256_sub_ps(term(d, big_d, dot[r]), term(dmin, big_d, mins[r]))
        })
    }
}

/// Q2_K: per group of 16, two 16-bit sums over 2 quads each (4 products of at most
/// 3 · 127), widened by the group's scale; the mins by pairs of groups, through the
/// groups' activation sums.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn q2k<const R: usize>(block: *const u8, rows: &Rows, b: usize) -> [__m256; R] {
    unsafe {
        let mut dot = [_mm256_setzero_si256(); R];
        for piece in 0..8 {
            let base = block.add(at::Q2K_PIECE * piece);
            let vectors = [load(base), load(base.add(32))];
            for half in 0..2 {
                let g = 2 * piece + half;
                let scales = scale_pairs(block.add(at::Q2K_SCALES + 8 * g), false);
                for two in 0..2 {
                    let mut pairs = [_mm256_setzero_si256(); R];
                    for q in 4 * half + 2 * two..4 * half + 2 * two + 2 {
                        let w = pair_to_0(vectors[q / 4], q % 4);
                        for (r, p) in pairs.iter_mut().enumerate() {
                            let x = rows.quad(r, 256 * b + 32 * piece + 4 * q);
                            *p = _mm256_add_epi16(*p, _mm256_maddubs_epi16(w, x));
                        }
                    }
                    for (d, p) in dot.iter_mut().zip(pairs) {
                        *d = _mm256_add_epi32(*d, widen(p, scales));
                    }
                }
            }
        }
        let mut mins = [_mm256_setzero_si256(); R];
        for pair in 0..8 {
            let m = block.add(at::Q2K_MINS + 16 * pair);
            let even = _mm256_cvtepu8_epi32(_mm_loadl_epi64(m.cast()));
            let odd = _mm256_cvtepu8_epi32(_mm_loadl_epi64(m.add(8).cast()));
            let m = _mm256_or_si256(even, _mm256_slli_epi32(odd, 16));
            for (r, s) in mins.iter_mut().enumerate() {
                *s = _mm256_add_epi32(*s, widen(m, rows.sum_pair(r, 16 * b + 2 * pair, 16)));
            }
        }
        let (d, dmin) = (f16x8(block.add(at::Q2K_D)), f16x8(block.add(at::Q2K_DMIN)));
        std::array::from_fn(|r| {
            let big_d = rows.scale(r, b);
            _mm256_sub_ps(term(d, big_d, dot[r]), term(dmin, big_d, mins[r]))
        })
    }
}

/// Q6_K (`THREE` false) and Q3_K: per group of 16, two 16-bit sums over 2 quads each (4
/// products of at most 63 · 127), widened by the group's scale; the bias (32, or 4) taken
/// back out through the groups' activation sums, by pairs of groups.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn q6k<const R: usize, const THREE: bool>(
    block: *const u8,
    rows: &Rows,
    b: usize,
) -> [__m256; R] {
    let (piece_bytes, scales_at, d_at, bias_shift) = if THREE {
        (at::Q3K_PIECE, at::Q3K_SCALES, at::Q3K_D, 2)
    } else {
        (at::Q6K_PIECE, at::Q6K_SCALES, at::Q6K_D, 5)
    };
    unsafe {
        let mut dot = [_mm256_setzero_si256(); R];
        for piece in 0..8 {
            let base = block.add(piece_bytes * piece);
            // Q6_K: nibbles and the high pairs of quads 0-3 and 4-7; Q3_K: the low pairs
            // of quads 0-3 and 4-7, and the third bits.
            let (pairs_at, third) = if THREE {
                (0, load(base.add(at::Q3K_HIGH)))
            } else {
                (at::Q6K_HIGH, _mm256_setzero_si256())
            };
            let vectors = [load(base.add(pairs_at)), load(base.add(pairs_at + 32))];
            let weight = |q: usize| {
                if THREE {
                    _mm256_or_si256(pair_to_0(vectors[q / 4], q % 4), bit_to_2(third, q))
                } else {
                    _mm256_or_si256(nibble_quad(base, q), pair_to_4(vectors[q / 4], q % 4))
                }
            };
            for half in 0..2 {
                let scales = scale_pairs(block.add(scales_at + 8 * (2 * piece + half)), true);
                for two in 0..2 {
                    let mut pairs = [_mm256_setzero_si256(); R];
                    for q in 4 * half + 2 * two..4 * half + 2 * two + 2 {
                        let w = weight(q);
                        for (r, p) in pairs.iter_mut().enumerate() {
                            let x = rows.quad(r, 256 * b + 32 * piece + 4 * q);
                            *p = _mm256_add_epi16(*p, _mm256_maddubs_epi16(w, x));
                        }
                    }
                    for (d, p) in dot.iter_mut().zip(pairs) {
                        *d = _mm256_add_epi32(*d, widen(p, scales));
                    }
                }
            }
        }
        let mut bias_sums = [_mm256_setzero_si256(); R];
        for pair in 0..8 {
            let s = block.add(scales_at + 16 * pair);
            let even = _mm256_cvtepi8_epi32(_mm_loadl_epi64(s.cast()));
            let odd = _mm256_cvtepi8_epi32(_mm_loadl_epi64(s.add(8).cast()));
            let scales = _mm256_or_si256(
                _mm256_and_si256(even, _mm256_set1_epi32(0xFFFF)),
                _mm256_slli_epi32(odd, 16),
            );
            for (r, s) in bias_sums.iter_mut().enumerate() {
                *s = _mm256_add_epi32(*s, widen(scales, rows.sum_pair(r, 16 * b + 2 * pair, 16)));
            }
        }
        let d = f16x8(block.add(d_at));
        std::array::from_fn(|r| {
            let bias = _mm256_sll_epi32(bias_sums[r], _mm_cvtsi32_si128(bias_shift));
            term(d, rows.scale(r, b), _mm256_sub_epi32(dot[r], bias))
        })
    }
}
