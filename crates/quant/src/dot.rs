//! One unpacked weight row against every activation row: the reference arithmetic and
//! its AVX2 form, which must give the same bits (the AVX-512 form, on weight tiles, is in
//! `tiles.rs`).
//!
//! A weight row falls into scale groups: runs of values that share one weight scale (32
//! values; 16 for Q6_K). For an activation row with block scales `d` (one per 32 values)
//! and each group `g` of the weight row, in order:
//!
//! ```text
//! dot_g = Σ_{j∈g} w_j · x_j                     (exact, in i32)
//! sum_g = Σ_{j∈g} x_j                           (exact, in i32; offset formats only)
//! c_g   = (s_g · d) · f32(dot_g)  [− (o_g · d) · f32(sum_g)]
//! acc  += c_g                                   (f32, from 0, group by group)
//! ```
//!
//! and the output is `acc`. No multiply-add is fused, so every ISA rounds the same way.

use crate::activations::{ACT_BLOCK, QuantizedActivations};
use crate::format::{Piece, QuantFormat};
use crate::isa::Isa;

/// One weight row in the kernels' form: `weights` (32 per piece), `lane_scales` and
/// `offset_lanes` (8 per piece: per 4 values, the offset repeated).
#[derive(Debug, Clone)]
pub(crate) struct Unpacked {
    pub(crate) weights: Vec<i8>,
    pub(crate) lane_scales: Vec<f32>,
    pub(crate) offset_lanes: Vec<f32>,
}

impl Unpacked {
    /// Room for a row of `k` values.
    pub(crate) fn new(k: usize) -> Self {
        Unpacked {
            weights: vec![0; k],
            lane_scales: vec![0.0; k / 4],
            offset_lanes: vec![0.0; k / 4],
        }
    }

    fn set(&mut self, p: usize, piece: &Piece) {
        self.weights[32 * p..32 * p + 32].copy_from_slice(&piece.weights);
        self.lane_scales[8 * p..8 * p + 8].copy_from_slice(&piece.lane_scales);
        self.offset_lanes[8 * p..8 * p + 8].copy_from_slice(&[piece.offset; 8]);
    }
}

/// Values per scale group of `format`.
pub(crate) fn group_values(format: QuantFormat) -> usize {
    match format {
        QuantFormat::Q6K => 16,
        _ => 32,
    }
}

/// Unpacks one weight row (`bytes`: whole blocks of `format`). Exact in every form
/// (integers, and products of f16 scales with small integers), so the ISA does not
/// change a bit.
pub(crate) fn unpack_row(isa: Isa, format: QuantFormat, bytes: &[u8], row: &mut Unpacked) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: callers only pass an ISA from `Isa::available`; both x86 ones have AVX2
        // and F16C.
        Isa::Avx2 | Isa::Avx512Vnni => unsafe { x86::unpack(format, bytes, row) },
        _ => {
            let per_block = format.block_values() / ACT_BLOCK;
            let mut piece = Piece::default();
            for (b, block) in bytes.chunks_exact(format.block_bytes()).enumerate() {
                for p in 0..per_block {
                    format.unpack_piece(block, p, &mut piece);
                    row.set(b * per_block + p, &piece);
                }
            }
        }
    }
}

/// `out[r] = row · x_r` for every activation row `r`, on the reference (scalar) or AVX2.
pub(crate) fn dot_rows(
    isa: Isa,
    row: &Unpacked,
    format: QuantFormat,
    x: &QuantizedActivations,
    out: &mut [f32],
) {
    let group = group_values(format);
    let has_offset = format.has_offset();
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: callers only pass an ISA from `Isa::available`, detected on this CPU.
        Isa::Avx2 | Isa::Avx512Vnni => unsafe { x86::rows_avx2(row, group, has_offset, x, out) },
        _ => {
            for (r, o) in out.iter_mut().enumerate() {
                *o = scalar(row, group, has_offset, x.quants(r), x.scales(r));
            }
        }
    }
}

/// The reference.
fn scalar(row: &Unpacked, group: usize, has_offset: bool, quants: &[i8], scales: &[f32]) -> f32 {
    let mut acc = 0f32;
    for (g, x) in quants.chunks_exact(group).enumerate() {
        let start = g * group;
        let w = &row.weights[start..start + group];
        let (mut dot, mut sum) = (0i32, 0i32);
        for (wj, xj) in w.iter().zip(x) {
            dot += i32::from(*wj) * i32::from(*xj);
            sum += i32::from(*xj);
        }
        let d = scales[start / ACT_BLOCK];
        let mut c = (row.lane_scales[start / 4] * d) * dot as f32;
        if has_offset {
            c -= (row.offset_lanes[start / 4] * d) * sum as f32;
        }
        acc += c;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{QuantFormat, QuantizedActivations, Unpacked};
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    fn f16_at(bytes: &[u8], at: usize) -> f32 {
        let bits = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
    }

    /// 16 bytes of nibbles: the low nibbles in bytes 0..16, the high ones in 16..32.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn nibbles(bytes: &[u8]) -> __m256i {
        // SAFETY: callers pass 16 bytes.
        let v = unsafe { _mm_loadu_si128(bytes[..16].as_ptr().cast()) };
        let mask = _mm_set1_epi8(0xF);
        _mm256_set_m128i(
            _mm_and_si128(_mm_srli_epi16(v, 4), mask),
            _mm_and_si128(v, mask),
        )
    }

    /// Bit `i` of `bits` as 0x10 in byte `i`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn bit_bytes(bits: u32) -> __m256i {
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(bits as i32),
            _mm256_setr_epi64x(
                0,
                0x0101_0101_0101_0101,
                0x0202_0202_0202_0202,
                0x0303_0303_0303_0303,
            ),
        );
        // Every bit but bit i % 8 set in byte i: all ones exactly where bit i is.
        let others = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe_u64 as i64);
        let set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, others), _mm256_set1_epi64x(-1));
        _mm256_and_si256(set, _mm256_set1_epi8(0x10))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn load32(bytes: &[u8]) -> __m256i {
        // SAFETY: the slice is 32 bytes.
        unsafe { _mm256_loadu_si256(bytes[..32].as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn store(row: &mut Unpacked, p: usize, weights: __m256i, lane_scales: [f32; 8], offset: f32) {
        let w = &mut row.weights[32 * p..32 * p + 32];
        // SAFETY: `w` is 32 bytes.
        unsafe { _mm256_storeu_si256(w.as_mut_ptr().cast(), weights) };
        row.lane_scales[8 * p..8 * p + 8].copy_from_slice(&lane_scales);
        row.offset_lanes[8 * p..8 * p + 8].copy_from_slice(&[offset; 8]);
    }

    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn unpack(format: QuantFormat, bytes: &[u8], row: &mut Unpacked) {
        let blocks = bytes.chunks_exact(format.block_bytes()).enumerate();
        match format {
            QuantFormat::Q8_0 => {
                for (p, block) in blocks {
                    store(row, p, load32(&block[2..34]), [f16_at(block, 0); 8], 0.0);
                }
            }
            QuantFormat::Q4_0 => {
                for (p, block) in blocks {
                    let w = _mm256_sub_epi8(nibbles(&block[2..18]), _mm256_set1_epi8(8));
                    store(row, p, w, [f16_at(block, 0); 8], 0.0);
                }
            }
            QuantFormat::Q5_0 => {
                for (p, block) in blocks {
                    let high = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
                    let q = _mm256_or_si256(nibbles(&block[6..22]), bit_bytes(high));
                    let w = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
                    store(row, p, w, [f16_at(block, 0); 8], 0.0);
                }
            }
            QuantFormat::Q4K => {
                let mask = _mm256_set1_epi8(0xF);
                for (b, block) in blocks {
                    let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
                    for pair in 0..4 {
                        let qs = load32(&block[16 + 32 * pair..]);
                        let halves = [
                            _mm256_and_si256(qs, mask),
                            _mm256_and_si256(_mm256_srli_epi16(qs, 4), mask),
                        ];
                        for (h, w) in halves.into_iter().enumerate() {
                            let p = 2 * pair + h;
                            let (sc, m) = crate::format::scale_min_k4(p, &block[4..16]);
                            let (scale, offset) = (d * f32::from(sc), dmin * f32::from(m));
                            store(row, 8 * b + p, w, [scale; 8], offset);
                        }
                    }
                }
            }
            QuantFormat::Q6K => {
                let (low_mask, high_mask) = (_mm256_set1_epi8(0xF), _mm256_set1_epi8(3));
                for (b, block) in blocks {
                    let d = f16_at(block, 208);
                    for p in 0..8 {
                        let (h, g) = (p / 4, p % 4);
                        let ql = load32(&block[64 * h + 32 * (g % 2)..]);
                        let qh = load32(&block[128 + 32 * h..]);
                        let ql = if g >= 2 { _mm256_srli_epi16(ql, 4) } else { ql };
                        let shift = _mm_cvtsi32_si128(2 * g as i32);
                        let high = _mm256_and_si256(_mm256_srl_epi16(qh, shift), high_mask);
                        let q = _mm256_or_si256(
                            _mm256_and_si256(ql, low_mask),
                            _mm256_slli_epi16(high, 4),
                        );
                        let w = _mm256_sub_epi8(q, _mm256_set1_epi8(32));
                        let first = d * f32::from(block[192 + 2 * p] as i8);
                        let second = d * f32::from(block[193 + 2 * p] as i8);
                        let scales = [first, first, first, first, second, second, second, second];
                        store(row, 8 * b + p, w, scales, 0.0);
                    }
                }
            }
        }
    }

    /// Unsigned × signed bytes, 4 at a time into i32 lanes, with `vpmaddubsw` (no
    /// saturation: |w| ≤ 128, |x| ≤ 127) and `vpmaddwd`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lanes_avx2(unsigned: __m256i, signed: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(unsigned, signed), _mm256_set1_epi16(1))
    }

    /// The sum of `v`'s i32 lanes `from .. from + n` (exact).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lane_sum(v: __m256i, from: usize, n: usize) -> i32 {
        let mut lanes = [0i32; 8];
        // SAFETY: 8 lanes into 8 slots.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
        lanes[from..from + n].iter().sum()
    }

    /// The reference's arithmetic with the integer dots on AVX2, piece by piece.
    ///
    /// # Safety
    /// AVX2; `row` and every activation row hold `x.k()` values.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn rows_avx2(
        row: &Unpacked,
        group: usize,
        has_offset: bool,
        x: &QuantizedActivations,
        out: &mut [f32],
    ) {
        let pieces = x.k() / 32;
        let per_piece = 32 / group;
        let lanes_per_group = group / 4;
        for (r, o) in out.iter_mut().enumerate() {
            let (quants, scales) = (x.quants(r), x.scales(r));
            let mut acc = 0f32;
            for p in 0..pieces {
                // SAFETY: piece p lies inside the row and the activation row.
                let (w, xv) = unsafe {
                    (
                        _mm256_loadu_si256(row.weights[32 * p..].as_ptr().cast()),
                        _mm256_loadu_si256(quants[32 * p..].as_ptr().cast()),
                    )
                };
                let dots = lanes_avx2(_mm256_abs_epi8(w), _mm256_sign_epi8(xv, w));
                let sums = lanes_avx2(_mm256_set1_epi8(1), xv);
                let d = scales[p];
                for h in 0..per_piece {
                    let lane = 8 * p + h * lanes_per_group;
                    let dot = lane_sum(dots, h * lanes_per_group, lanes_per_group);
                    let mut c = (row.lane_scales[lane] * d) * dot as f32;
                    if has_offset {
                        let sum = lane_sum(sums, h * lanes_per_group, lanes_per_group);
                        c -= (row.offset_lanes[lane] * d) * sum as f32;
                    }
                    acc += c;
                }
            }
            *o = acc;
        }
    }
}
