//! One weight row unpacked to signed bytes and per-4-value scales, from which the AVX-512
//! tiles are laid out (`tiles.rs`).

use crate::activations::ACT_BLOCK;
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
        self.offset_lanes[8 * p..8 * p + 8].copy_from_slice(&piece.offsets);
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

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{QuantFormat, Unpacked};
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
            QuantFormat::Q4_1 => {
                for (p, block) in blocks {
                    store(
                        row,
                        p,
                        nibbles(&block[4..20]),
                        [f16_at(block, 0); 8],
                        -f16_at(block, 2),
                    );
                }
            }
            QuantFormat::Q5_1 => {
                for (p, block) in blocks {
                    let high = u32::from_le_bytes([block[4], block[5], block[6], block[7]]);
                    let q = _mm256_or_si256(nibbles(&block[8..24]), bit_bytes(high));
                    store(row, p, q, [f16_at(block, 0); 8], -f16_at(block, 2));
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
            QuantFormat::IQ4NL => {
                // Never tiled: the plain unpacking.
                let mut piece = crate::format::Piece::default();
                for (b, block) in blocks {
                    format.unpack_piece(block, 0, &mut piece);
                    let bytes = piece.weights.map(|w| w as u8);
                    store(row, b, load32(&bytes), piece.lane_scales, 0.0);
                }
            }
            QuantFormat::Q2K | QuantFormat::Q3K | QuantFormat::Q5K | QuantFormat::IQ4XS => {
                // Never tiled: the plain unpacking, piece by piece.
                let mut piece = crate::format::Piece::default();
                for (b, block) in blocks {
                    for p in 0..8 {
                        format.unpack_piece(block, p, &mut piece);
                        let bytes = piece.weights.map(|w| w as u8);
                        store(row, 8 * b + p, load32(&bytes), piece.lane_scales, 0.0);
                        let lanes = 8 * (8 * b + p);
                        row.offset_lanes[lanes..lanes + 8].copy_from_slice(&piece.offsets);
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
}
