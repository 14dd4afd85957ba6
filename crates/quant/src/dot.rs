//! One unpacked weight row against every activation row: the reference arithmetic and its
//! SIMD forms, which must give the same bits.
//!
//! Per 32-value piece `p` and lane `l` (values `4l .. 4l + 4` of the piece):
//!
//! ```text
//! dot_l  = Σ_j w_j · x_j                        (exact, in i32)
//! sum_l  = Σ_j x_j                              (exact, in i32; offset formats only)
//! c_l    = (scale_l · d_p) · f32(dot_l)  [− (offset_p · d_p) · f32(sum_l)]
//! acc[p mod 4]_l += c_l                         (f32, pieces in order)
//! ```
//!
//! Then `m_l = (acc[0]_l + acc[2]_l) + (acc[1]_l + acc[3]_l)` and the output is
//! `((m₀ + m₄) + (m₂ + m₆)) + ((m₁ + m₅) + (m₃ + m₇))`. No multiply-add is fused, so every
//! ISA rounds the same way. Four accumulators let AVX-512 take a pair of pieces per
//! instruction in two independent chains, and give AVX2 four.

use crate::activations::{ACT_BLOCK, QuantizedActivations};
use crate::format::{Piece, QuantFormat};
use crate::isa::Isa;

/// One weight row in the kernels' form, structure of arrays so that a pair of pieces is
/// one 64-byte load: `weights` (32 per piece), `lane_scales` and `offset_lanes` (8 per
/// piece, the offset repeated).
#[derive(Debug, Clone)]
pub(crate) struct Unpacked {
    weights: Vec<i8>,
    lane_scales: Vec<f32>,
    offset_lanes: Vec<f32>,
    /// The AVX-512 kernels' pairs of pieces, unpacked once per weight row when enough
    /// activation rows share them.
    #[cfg(target_arch = "x86_64")]
    pairs: Vec<x86::StoredPair>,
}

impl Unpacked {
    /// Room for a row of `k` values.
    pub(crate) fn new(k: usize) -> Self {
        Unpacked {
            weights: vec![0; k],
            lane_scales: vec![0.0; k / 4],
            offset_lanes: vec![0.0; k / 4],
            #[cfg(target_arch = "x86_64")]
            pairs: Vec::new(),
        }
    }

    fn set(&mut self, p: usize, piece: &Piece) {
        self.weights[32 * p..32 * p + 32].copy_from_slice(&piece.weights);
        self.lane_scales[8 * p..8 * p + 8].copy_from_slice(&piece.lane_scales);
        self.offset_lanes[8 * p..8 * p + 8].copy_from_slice(&[piece.offset; 8]);
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

/// `out[r] = W_row · x_r` for every activation row `r`, straight from the row's bytes,
/// when `isa` has a kernel that unpacks in registers (AVX-512); `false` otherwise.
/// `scratch` holds the unpacked row when many activation rows share it.
pub(crate) fn dot_rows_packed(
    isa: Isa,
    format: QuantFormat,
    bytes: &[u8],
    x: &QuantizedActivations,
    out: &mut [f32],
    scratch: &mut Unpacked,
) -> bool {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => {
            // SAFETY: callers only pass an ISA from `Isa::available`, detected on this CPU;
            // `bytes` is one whole row of `x.k()` values.
            unsafe { x86::rows_avx512(format, bytes, x, out, &mut scratch.pairs) };
            true
        }
        _ => {
            let _ = scratch;
            false
        }
    }
}

/// Bytes of one weight row of `k` values in the AVX-512 kernels' expanded form, or `None`
/// where this build has no such form.
pub(crate) fn expanded_row_bytes(k: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        Some(k / 64 * x86::EXPANDED_PAIR)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = k;
        None
    }
}

/// Writes one weight row's expanded form (see [`expanded_row_bytes`]); `false` when
/// `isa` has none.
pub(crate) fn expand_row(
    isa: Isa,
    format: QuantFormat,
    bytes: &[u8],
    k: usize,
    out: &mut [u8],
) -> bool {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => {
            // SAFETY: callers only pass an ISA from `Isa::available`; `bytes` is one whole
            // row of `k` values and `out` `expanded_row_bytes(k)` long.
            unsafe { x86::expand(format, bytes, k, out) };
            true
        }
        _ => false,
    }
}

/// [`dot_rows_packed`] from a row's expanded form (AVX-512 only; the same bits).
pub(crate) fn dot_rows_expanded(
    isa: Isa,
    format: QuantFormat,
    bytes: &[u8],
    expanded: &[u8],
    x: &QuantizedActivations,
    out: &mut [f32],
) -> bool {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => {
            // SAFETY: callers only pass an ISA from `Isa::available`; `expanded` is the
            // expansion of `bytes`, one whole row of `x.k()` values.
            unsafe { x86::rows_expanded(format, bytes, expanded, x, out) };
            true
        }
        _ => false,
    }
}

/// [`dot_rows_expanded`] for a tile of weight rows (`bytes`, `row_bytes` each, and their
/// expansions, `per_row` each); `out` weight-row major.
pub(crate) fn dot_tile_expanded(
    isa: Isa,
    format: QuantFormat,
    bytes: (&[u8], usize),
    expanded: (&[u8], usize),
    x: &QuantizedActivations,
    out: &mut [f32],
) -> bool {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => {
            // SAFETY: callers only pass an ISA from `Isa::available`; `expanded` holds the
            // expansions of the whole rows in `bytes`, `out` a value per row pair.
            unsafe { x86::tile_expanded(format, bytes, expanded, x, out) };
            true
        }
        _ => false,
    }
}

/// `out[r] = row · x_r` for every activation row `r`. `isa` must be one of
/// [`Isa::available`].
pub(crate) fn dot_rows(
    isa: Isa,
    row: &Unpacked,
    has_offset: bool,
    x: &QuantizedActivations,
    out: &mut [f32],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: callers only pass an ISA from `Isa::available`, detected on this CPU.
        Isa::Avx2 => unsafe { x86::rows_avx2(row, has_offset, x, out) },
        _ => {
            for (r, o) in out.iter_mut().enumerate() {
                *o = scalar(row, has_offset, x.quants(r), x.lane_scales(r));
            }
        }
    }
}

/// The reference.
fn scalar(row: &Unpacked, has_offset: bool, quants: &[i8], lane_d: &[f32]) -> f32 {
    let mut acc = [[0f32; 8]; 4];
    for (p, x) in quants.chunks_exact(ACT_BLOCK).enumerate() {
        let d = lane_d[8 * p];
        let w = &row.weights[32 * p..32 * p + 32];
        for (l, a) in acc[p % 4].iter_mut().enumerate() {
            let (mut dot, mut sum) = (0i32, 0i32);
            for j in 4 * l..4 * l + 4 {
                dot += i32::from(w[j]) * i32::from(x[j]);
                sum += i32::from(x[j]);
            }
            let mut c = (row.lane_scales[8 * p + l] * d) * dot as f32;
            if has_offset {
                c -= (row.offset_lanes[8 * p + l] * d) * sum as f32;
            }
            *a += c;
        }
    }
    let m: Vec<f32> = (0..8)
        .map(|l| (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]))
        .collect();
    ((m[0] + m[4]) + (m[2] + m[6])) + ((m[1] + m[5]) + (m[3] + m[7]))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{QuantFormat, QuantizedActivations, Unpacked};
    use std::arch::x86_64::*;

    /// `((m₀ + m₄) + (m₂ + m₆)) + ((m₁ + m₅) + (m₃ + m₇))`, as the scalar reference.
    #[inline]
    #[target_feature(enable = "avx")]
    fn reduce(m: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        let t = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)))
    }

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

    /// Where a row's pieces and an activation row's values lie; every pointer covers
    /// `pieces` pieces.
    #[derive(Clone, Copy)]
    struct Rows {
        weights: *const i8,
        lane_scales: *const f32,
        offset_lanes: *const f32,
        x: *const i8,
        lane_d: *const f32,
        pieces: usize,
    }

    impl Rows {
        fn new(row: &Unpacked, x: &QuantizedActivations, r: usize) -> Self {
            let (quants, lane_d) = (x.quants(r), x.lane_scales(r));
            debug_assert_eq!(quants.len(), row.weights.len());
            Rows {
                weights: row.weights.as_ptr(),
                lane_scales: row.lane_scales.as_ptr(),
                offset_lanes: row.offset_lanes.as_ptr(),
                x: quants.as_ptr(),
                lane_d: lane_d.as_ptr(),
                pieces: quants.len().min(row.weights.len()) / 32,
            }
        }
    }

    /// Piece `p`'s `c` (see the module docs), 8 lanes.
    ///
    /// # Safety
    /// `p < rows.pieces`; AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn piece_avx2(rows: Rows, p: usize, has_offset: bool) -> __m256 {
        // SAFETY: p < pieces; each array holds 32 bytes or 8 floats per piece.
        unsafe {
            let w = _mm256_loadu_si256(rows.weights.add(32 * p).cast());
            let xv = _mm256_loadu_si256(rows.x.add(32 * p).cast());
            let d = _mm256_loadu_ps(rows.lane_d.add(8 * p));
            let dot = lanes_avx2(_mm256_abs_epi8(w), _mm256_sign_epi8(xv, w));
            let scale = _mm256_mul_ps(_mm256_loadu_ps(rows.lane_scales.add(8 * p)), d);
            let c = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(dot));
            if has_offset {
                let sum = lanes_avx2(_mm256_set1_epi8(1), xv);
                let offset = _mm256_mul_ps(_mm256_loadu_ps(rows.offset_lanes.add(8 * p)), d);
                return _mm256_sub_ps(c, _mm256_mul_ps(offset, _mm256_cvtepi32_ps(sum)));
            }
            c
        }
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn rows_avx2(
        row: &Unpacked,
        has_offset: bool,
        x: &QuantizedActivations,
        out: &mut [f32],
    ) {
        for (r, o) in out.iter_mut().enumerate() {
            let rows = Rows::new(row, x, r);
            let mut acc = [_mm256_setzero_ps(); 4];
            // SAFETY: every piece index is below `rows.pieces`.
            unsafe {
                for quad in 0..rows.pieces / 4 {
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_add_ps(*a, piece_avx2(rows, 4 * quad + j, has_offset));
                    }
                }
                for p in rows.pieces / 4 * 4..rows.pieces {
                    acc[p % 4] = _mm256_add_ps(acc[p % 4], piece_avx2(rows, p, has_offset));
                }
            }
            let m = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
            *o = reduce(m);
        }
    }

    /// `[a; 8] ++ [b; 8]`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn halves(a: f32, b: f32) -> __m512 {
        _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn join(low: __m256i, high: __m256i) -> __m512i {
        _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1)
    }

    /// Pieces `p` and `p + 1` of one weight row, unpacked in registers: the same integers
    /// and scales as [`QuantFormat::unpack_piece`].
    struct Pair {
        weights: __m512i,
        lane_scales: __m512,
        offset_lanes: __m512,
    }

    /// A [`Pair`] with its signs split off, as the kernels use it, kept for reuse.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct StoredPair {
        magnitude: __m512i,
        lane_scales: __m512,
        offset_lanes: __m512,
        negative: __mmask64,
    }

    /// Pair `p` of a row: unpacked, the sign mask of its weights and their magnitudes.
    /// Q4_K's weights are never negative: no signs to move onto x.
    ///
    /// # Safety
    /// As [`unpack_pair`].
    #[inline]
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq")]
    unsafe fn signed_pair<const F: u8>(bytes: &[u8], p: usize) -> StoredPair {
        // SAFETY: as the caller promises.
        let pair = unsafe { unpack_pair::<F>(bytes, p) };
        let (negative, magnitude) = if F == Q4K {
            (0, pair.weights)
        } else {
            (
                _mm512_movepi8_mask(pair.weights),
                _mm512_abs_epi8(pair.weights),
            )
        };
        StoredPair {
            magnitude,
            lane_scales: pair.lane_scales,
            offset_lanes: pair.offset_lanes,
            negative,
        }
    }

    /// Pair `p`, from `stored` when it holds the row, else unpacked now. (A function, not a
    /// closure: closures do not inherit `target_feature`, and would not inline.)
    ///
    /// # Safety
    /// As [`unpack_pair`].
    #[inline]
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq")]
    unsafe fn pair_at<const F: u8>(stored: &[StoredPair], bytes: &[u8], p: usize) -> StoredPair {
        match stored.get(p / 2) {
            Some(pair) => *pair,
            // SAFETY: as the caller promises.
            None => unsafe { signed_pair::<F>(bytes, p) },
        }
    }

    /// Bytes of one expanded pair of pieces: 64 weight bytes made unsigned by the format's
    /// bias, then four f32: the pair's scales (Q6_K: one per 16 values) and Q4_K's offsets.
    pub(crate) const EXPANDED_PAIR: usize = 80;

    /// What format `F` adds to make its weights unsigned, as a shift (`None`: they are).
    const fn bias_shift<const F: u8>() -> Option<u32> {
        match F {
            Q8_0 => Some(7),
            Q4_0 => Some(3),
            Q5_0 => Some(4),
            Q6K => Some(5),
            _ => None,
        }
    }

    /// Writes the full pairs of one weight row (`bytes`, `k` values) into `out`, `k / 64`
    /// pairs of [`EXPANDED_PAIR`] bytes.
    ///
    /// # Safety
    /// AVX-512 F, BW, DQ, AVX2, F16C; `bytes` one whole row; `out` as long as said.
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq")]
    pub(super) unsafe fn expand(format: QuantFormat, bytes: &[u8], k: usize, out: &mut [u8]) {
        // SAFETY: as the caller promises.
        unsafe {
            match format {
                QuantFormat::Q8_0 => expand_of::<Q8_0>(bytes, k, out),
                QuantFormat::Q4_0 => expand_of::<Q4_0>(bytes, k, out),
                QuantFormat::Q5_0 => expand_of::<Q5_0>(bytes, k, out),
                QuantFormat::Q4K => expand_of::<Q4K>(bytes, k, out),
                QuantFormat::Q6K => expand_of::<Q6K>(bytes, k, out),
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq")]
    unsafe fn expand_of<const F: u8>(bytes: &[u8], k: usize, out: &mut [u8]) {
        let bias = bias_shift::<F>().map_or(0, |s| 1i32 << s);
        for (q, e) in out.chunks_exact_mut(EXPANDED_PAIR).take(k / 64).enumerate() {
            // SAFETY: pair q lies inside the row; `e` holds 80 bytes.
            unsafe {
                let pair = unpack_pair::<F>(bytes, 2 * q);
                // Wrapping: Q8_0's -128..127 becomes 0..255.
                let w = _mm512_add_epi8(pair.weights, _mm512_set1_epi8(bias as u8 as i8));
                _mm512_storeu_si512(e.as_mut_ptr().cast(), w);
                let (mut scales, mut offsets) = ([0f32; 16], [0f32; 16]);
                _mm512_storeu_ps(scales.as_mut_ptr(), pair.lane_scales);
                _mm512_storeu_ps(offsets.as_mut_ptr(), pair.offset_lanes);
                let four = match F {
                    Q6K => [scales[0], scales[4], scales[8], scales[12]],
                    Q4K => [scales[0], scales[8], offsets[0], offsets[8]],
                    _ => [scales[0], scales[8], 0.0, 0.0],
                };
                for (j, v) in four.iter().enumerate() {
                    e[64 + 4 * j..68 + 4 * j].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }

    /// An expanded pair's weights, lane scales and offset lanes.
    ///
    /// # Safety
    /// `e` points at [`EXPANDED_PAIR`] bytes; AVX-512 F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn expanded_pair<const F: u8>(e: *const u8) -> (__m512i, __m512, __m512) {
        // SAFETY: as the caller promises.
        let (w, four) = unsafe {
            (
                _mm512_loadu_si512(e.cast()),
                _mm512_castps128_ps512(_mm_loadu_ps(e.add(64).cast())),
            )
        };
        let halves = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        let scales = if F == Q6K {
            let spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
            _mm512_permutexvar_ps(spread, four)
        } else {
            _mm512_permutexvar_ps(halves, four)
        };
        let offsets = if F == Q4K {
            let high = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
            _mm512_permutexvar_ps(high, four)
        } else {
            _mm512_setzero_ps()
        };
        (w, scales, offsets)
    }

    /// An expanded pair's `c` against one activation row: the same integers as the
    /// reference (the bias taken back out through the row's lane sums), the same floats.
    ///
    /// # Safety
    /// Pieces `p, p + 1` lie inside the row `x`, `neg_sums`, `lane_d` point at; AVX-512 F,
    /// BW, VNNI.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn expanded_c<const F: u8>(
        (w, scales, offsets): (__m512i, __m512, __m512),
        x: *const i8,
        neg_sums: *const i32,
        lane_d: *const f32,
        p: usize,
    ) -> __m512 {
        // SAFETY: as the caller promises.
        unsafe {
            let xv = _mm512_loadu_si512(x.add(32 * p).cast());
            let d = _mm512_loadu_ps(lane_d.add(8 * p));
            let sums = _mm512_loadu_si512(neg_sums.add(8 * p).cast());
            // Σ (w + bias)·x − bias·Σ x = Σ w·x, exactly.
            let start = match bias_shift::<F>() {
                Some(7) => _mm512_slli_epi32(sums, 7),
                Some(5) => _mm512_slli_epi32(sums, 5),
                Some(4) => _mm512_slli_epi32(sums, 4),
                Some(_) => _mm512_slli_epi32(sums, 3),
                None => _mm512_setzero_si512(),
            };
            let dot = _mm512_dpbusd_epi32(start, w, xv);
            let c = _mm512_mul_ps(_mm512_mul_ps(scales, d), _mm512_cvtepi32_ps(dot));
            if F == Q4K {
                // c − (offset·d)·Σx, as c + (offset·d)·(−Σx): the same bits.
                let offset = _mm512_mul_ps(offsets, d);
                return _mm512_add_ps(c, _mm512_mul_ps(offset, _mm512_cvtepi32_ps(sums)));
            }
            c
        }
    }

    /// [`group`] on an expanded row.
    ///
    /// # Safety
    /// As [`group`]; `expanded` holds the row's `pieces / 2` expanded pairs.
    #[inline]
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    unsafe fn group_expanded<const F: u8, const R: usize>(
        format: QuantFormat,
        bytes: &[u8],
        expanded: &[u8],
        x: &QuantizedActivations,
        first: usize,
        out: &mut [f32],
    ) {
        let pieces = x.k() / 32;
        let (k, kd) = (x.k(), x.k() / 4);
        let xb = x.quants(first).as_ptr();
        let sb = x.neg_lane_sums(first).as_ptr();
        let db = x.lane_scales(first).as_ptr();
        let e = expanded.as_ptr();
        let mut a = [_mm512_setzero_ps(); R];
        let mut b = [_mm512_setzero_ps(); R];
        let mut p = 0;
        // SAFETY: every pair read lies below `pieces`, every row below `first + R`.
        unsafe {
            while p + 4 <= pieces {
                let pa = expanded_pair::<F>(e.add(p / 2 * EXPANDED_PAIR));
                let pb = expanded_pair::<F>(e.add((p / 2 + 1) * EXPANDED_PAIR));
                for (r, (acc_a, acc_b)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
                    let (xr, sr, dr) = (xb.add(r * k), sb.add(r * kd), db.add(r * kd));
                    *acc_a = _mm512_add_ps(*acc_a, expanded_c::<F>(pa, xr, sr, dr, p));
                    *acc_b = _mm512_add_ps(*acc_b, expanded_c::<F>(pb, xr, sr, dr, p + 2));
                }
                p += 4;
            }
            if p + 2 <= pieces {
                let pa = expanded_pair::<F>(e.add(p / 2 * EXPANDED_PAIR));
                for (r, acc) in a.iter_mut().enumerate() {
                    let (xr, sr, dr) = (xb.add(r * k), sb.add(r * kd), db.add(r * kd));
                    *acc = _mm512_add_ps(*acc, expanded_c::<F>(pa, xr, sr, dr, p));
                }
                p += 2;
            }
            if p < pieces {
                finish::<R>(format, bytes, x, first, p, a, b, out);
            } else {
                for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
                    *o = reduce_pair(a, b);
                }
            }
        }
    }

    /// Every activation row against one expanded weight row, four at a time.
    ///
    /// # Safety
    /// AVX-512 F, BW, DQ, VL, VNNI, AVX2, F16C; `bytes` one whole row of `x.k()` values
    /// and `expanded` its expansion; `out` one value per activation row.
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    pub(super) unsafe fn rows_expanded(
        format: QuantFormat,
        bytes: &[u8],
        expanded: &[u8],
        x: &QuantizedActivations,
        out: &mut [f32],
    ) {
        // SAFETY: as the caller promises.
        unsafe {
            match format {
                QuantFormat::Q8_0 => rows_expanded_of::<Q8_0>(format, bytes, expanded, x, out),
                QuantFormat::Q4_0 => rows_expanded_of::<Q4_0>(format, bytes, expanded, x, out),
                QuantFormat::Q5_0 => rows_expanded_of::<Q5_0>(format, bytes, expanded, x, out),
                QuantFormat::Q4K => rows_expanded_of::<Q4K>(format, bytes, expanded, x, out),
                QuantFormat::Q6K => rows_expanded_of::<Q6K>(format, bytes, expanded, x, out),
            }
        }
    }

    /// A tile of expanded weight rows against every activation row, `out` weight-row
    /// major: groups of four activation rows outermost, so each group stays in L1 while
    /// the tile passes over it.
    ///
    /// # Safety
    /// As [`rows_expanded`], for `bytes.len() / row_bytes` rows.
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    pub(super) unsafe fn tile_expanded(
        format: QuantFormat,
        (bytes, row_bytes): (&[u8], usize),
        (expanded, per_row): (&[u8], usize),
        x: &QuantizedActivations,
        out: &mut [f32],
    ) {
        // SAFETY: as the caller promises.
        unsafe {
            match format {
                QuantFormat::Q8_0 => {
                    tile_expanded_of::<Q8_0>(format, bytes, row_bytes, expanded, per_row, x, out)
                }
                QuantFormat::Q4_0 => {
                    tile_expanded_of::<Q4_0>(format, bytes, row_bytes, expanded, per_row, x, out)
                }
                QuantFormat::Q5_0 => {
                    tile_expanded_of::<Q5_0>(format, bytes, row_bytes, expanded, per_row, x, out)
                }
                QuantFormat::Q4K => {
                    tile_expanded_of::<Q4K>(format, bytes, row_bytes, expanded, per_row, x, out)
                }
                QuantFormat::Q6K => {
                    tile_expanded_of::<Q6K>(format, bytes, row_bytes, expanded, per_row, x, out)
                }
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_expanded_of<const F: u8>(
        format: QuantFormat,
        bytes: &[u8],
        row_bytes: usize,
        expanded: &[u8],
        per_row: usize,
        x: &QuantizedActivations,
        out: &mut [f32],
    ) {
        let rows = x.rows();
        let weight_rows = bytes.len() / row_bytes;
        let mut first = 0;
        while first < rows {
            let n = (rows - first).min(4);
            for t in 0..weight_rows {
                let w = &bytes[t * row_bytes..(t + 1) * row_bytes];
                let e = &expanded[t * per_row..(t + 1) * per_row];
                let o = &mut out[t * rows + first..t * rows + first + n];
                // SAFETY: as the caller promises; the group stays inside `rows`.
                unsafe {
                    match n {
                        4 => group_expanded::<F, 4>(format, w, e, x, first, o),
                        3 => group_expanded::<F, 3>(format, w, e, x, first, o),
                        2 => group_expanded::<F, 2>(format, w, e, x, first, o),
                        _ => group_expanded::<F, 1>(format, w, e, x, first, o),
                    }
                }
            }
            first += n;
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    unsafe fn rows_expanded_of<const F: u8>(
        format: QuantFormat,
        bytes: &[u8],
        expanded: &[u8],
        x: &QuantizedActivations,
        out: &mut [f32],
    ) {
        let rows = out.len();
        let mut first = 0;
        // SAFETY: as the caller promises; each group stays inside `rows`.
        unsafe {
            while first + 4 <= rows {
                let o = &mut out[first..first + 4];
                group_expanded::<F, 4>(format, bytes, expanded, x, first, o);
                first += 4;
            }
            let o = &mut out[first..];
            match rows - first {
                3 => group_expanded::<F, 3>(format, bytes, expanded, x, first, o),
                2 => group_expanded::<F, 2>(format, bytes, expanded, x, first, o),
                1 => group_expanded::<F, 1>(format, bytes, expanded, x, first, o),
                _ => {}
            }
        }
    }

    /// Format tags for the monomorphized kernels.
    const Q8_0: u8 = 0;
    const Q4_0: u8 = 1;
    const Q5_0: u8 = 2;
    const Q4K: u8 = 3;
    const Q6K: u8 = 4;

    /// One 32-value block of Q8_0, Q4_0 or Q5_0 as signed weights.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn small_block<const F: u8>(block: &[u8]) -> __m256i {
        match F {
            Q8_0 => load32(&block[2..34]),
            Q4_0 => _mm256_sub_epi8(nibbles(&block[2..18]), _mm256_set1_epi8(8)),
            _ => {
                let high = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
                let q = _mm256_or_si256(nibbles(&block[6..22]), bit_bytes(high));
                _mm256_sub_epi8(q, _mm256_set1_epi8(16))
            }
        }
    }

    /// Q6_K's 2-bit field at `shift` of 32 bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn two_bits(qh: __m256i, shift: i32) -> __m256i {
        let v = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift));
        _mm256_and_si256(v, _mm256_set1_epi8(3))
    }

    /// # Safety
    /// `p` even, `p + 1` a piece of the row `bytes` of format `F`; AVX-512 F, BW, DQ,
    /// AVX2, F16C.
    #[inline]
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq")]
    unsafe fn unpack_pair<const F: u8>(bytes: &[u8], p: usize) -> Pair {
        let zero = _mm512_setzero_ps();
        match F {
            Q8_0 | Q4_0 | Q5_0 => {
                let size = match F {
                    Q8_0 => 34,
                    Q4_0 => 18,
                    _ => 22,
                };
                let (b0, b1) = (&bytes[p * size..], &bytes[(p + 1) * size..]);
                Pair {
                    weights: join(small_block::<F>(b0), small_block::<F>(b1)),
                    lane_scales: halves(f16_at(b0, 0), f16_at(b1, 0)),
                    offset_lanes: zero,
                }
            }
            Q4K => {
                let block = &bytes[p / 8 * 144..];
                let pair = (p % 8) / 2;
                let qs = load32(&block[16 + 32 * pair..]);
                let mask = _mm256_set1_epi8(0xF);
                let weights = join(
                    _mm256_and_si256(qs, mask),
                    _mm256_and_si256(_mm256_srli_epi16(qs, 4), mask),
                );
                let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
                let (sc0, m0) = crate::format::scale_min_k4(2 * pair, &block[4..16]);
                let (sc1, m1) = crate::format::scale_min_k4(2 * pair + 1, &block[4..16]);
                Pair {
                    weights,
                    lane_scales: halves(d * f32::from(sc0), d * f32::from(sc1)),
                    offset_lanes: halves(dmin * f32::from(m0), dmin * f32::from(m1)),
                }
            }
            _ => {
                let block = &bytes[p / 8 * 210..];
                let q = p % 8;
                let (h, g) = (q / 4, q % 4);
                // Pieces g and g + 1 take the low (g = 0) or high (g = 2) nibbles of 64
                // consecutive bytes, and 2-bit fields 2g and 2g + 2 of the same 32 bytes.
                // SAFETY: 64 bytes at 64h lie inside the block.
                let ql = unsafe { _mm512_loadu_si512(block[64 * h..64 * h + 64].as_ptr().cast()) };
                let ql = if g == 2 { _mm512_srli_epi16(ql, 4) } else { ql };
                let low = _mm512_and_si512(ql, _mm512_set1_epi8(0xF));
                let qh = load32(&block[128 + 32 * h..]);
                let high = join(two_bits(qh, 2 * g as i32), two_bits(qh, 2 * g as i32 + 2));
                let weights = _mm512_sub_epi8(
                    _mm512_or_si512(low, _mm512_slli_epi16(high, 4)),
                    _mm512_set1_epi8(32),
                );
                let d = f16_at(block, 208);
                let sc = &block[192 + 2 * q..192 + 2 * q + 4];
                let four = _mm_setr_ps(
                    d * f32::from(sc[0] as i8),
                    d * f32::from(sc[1] as i8),
                    d * f32::from(sc[2] as i8),
                    d * f32::from(sc[3] as i8),
                );
                let spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
                Pair {
                    weights,
                    lane_scales: _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(four)),
                    offset_lanes: zero,
                }
            }
        }
    }

    /// A pair's `c` (see the module docs) against one activation row, 16 lanes.
    ///
    /// # Safety
    /// `p + 1 < x.len() / 32`, `lane_d` covers as many pieces; AVX-512 F, BW, VNNI.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn pair_c(
        pair: &StoredPair,
        x: *const i8,
        lane_d: *const f32,
        p: usize,
        has_offset: bool,
    ) -> __m512 {
        // SAFETY: as the caller promises.
        let (xv, d) = unsafe {
            (
                _mm512_loadu_si512(x.add(32 * p).cast()),
                _mm512_loadu_ps(lane_d.add(8 * p)),
            )
        };
        // x with the sign of w where w is negative, against |w|.
        let signed = if pair.negative == 0 {
            xv
        } else {
            _mm512_mask_sub_epi8(xv, pair.negative, _mm512_setzero_si512(), xv)
        };
        let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), pair.magnitude, signed);
        let scale = _mm512_mul_ps(pair.lane_scales, d);
        let c = _mm512_mul_ps(scale, _mm512_cvtepi32_ps(dot));
        if has_offset {
            let sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), xv);
            let offset = _mm512_mul_ps(pair.offset_lanes, d);
            return _mm512_sub_ps(c, _mm512_mul_ps(offset, _mm512_cvtepi32_ps(sum)));
        }
        c
    }

    /// Activation rows `first .. first + R` against one weight row, unpacking each pair once
    /// for all of them.
    #[inline]
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    unsafe fn group<const F: u8, const R: usize>(
        format: QuantFormat,
        bytes: &[u8],
        x: &QuantizedActivations,
        first: usize,
        out: &mut [f32],
        stored: &[StoredPair],
    ) {
        let has_offset = format.has_offset();
        let pieces = x.k() / 32;
        // Rows lie `k` values (and `k / 4` lane scales) apart.
        let (k, kd) = (x.k(), x.k() / 4);
        let xb = x.quants(first).as_ptr();
        let db = x.lane_scales(first).as_ptr();
        // Pairs (4q, 4q + 1) go to `a`, (4q + 2, 4q + 3) to `b`: a = [acc0 | acc1],
        // b = [acc2 | acc3].
        let mut a = [_mm512_setzero_ps(); R];
        let mut b = [_mm512_setzero_ps(); R];
        let mut p = 0;
        // SAFETY: every pair read lies below `pieces`, every row below `first + R`;
        // `stored`, when not empty, holds every pair of the row.
        unsafe {
            while p + 4 <= pieces {
                let (pa, pb) = (
                    pair_at::<F>(stored, bytes, p),
                    pair_at::<F>(stored, bytes, p + 2),
                );
                for (r, (acc_a, acc_b)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
                    let (xr, dr) = (xb.add(r * k), db.add(r * kd));
                    *acc_a = _mm512_add_ps(*acc_a, pair_c(&pa, xr, dr, p, has_offset));
                    *acc_b = _mm512_add_ps(*acc_b, pair_c(&pb, xr, dr, p + 2, has_offset));
                }
                p += 4;
            }
            if p + 2 <= pieces {
                let pa = pair_at::<F>(stored, bytes, p);
                for (r, acc) in a.iter_mut().enumerate() {
                    let (xr, dr) = (xb.add(r * k), db.add(r * kd));
                    *acc = _mm512_add_ps(*acc, pair_c(&pa, xr, dr, p, has_offset));
                }
                p += 2;
            }
        }
        if p < pieces {
            // SAFETY: as the caller promises.
            unsafe { finish::<R>(format, bytes, x, first, p, a, b, out) }
        } else {
            for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
                *o = reduce_pair(a, b);
            }
        }
    }

    /// One row's four accumulators, `a = [acc0 | acc1]` and `b = [acc2 | acc3]`, reduced
    /// as the scalar reference does.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512dq")]
    fn reduce_pair(a: __m512, b: __m512) -> f32 {
        let acc0 = _mm512_castps512_ps256(a);
        let acc1 = _mm512_extractf32x8_ps(a, 1);
        let acc2 = _mm512_castps512_ps256(b);
        let acc3 = _mm512_extractf32x8_ps(b, 1);
        reduce(_mm256_add_ps(
            _mm256_add_ps(acc0, acc2),
            _mm256_add_ps(acc1, acc3),
        ))
    }

    /// The end of a group: a last, odd piece `p` (index 0 or 2 mod 4, from the row's
    /// `bytes`) goes to the low half of `a` or `b`; then each row's reduction.
    ///
    /// # Safety
    /// As [`group`]; `p` is the first piece `a` and `b` do not hold.
    #[inline]
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn finish<const R: usize>(
        format: QuantFormat,
        bytes: &[u8],
        x: &QuantizedActivations,
        first: usize,
        p: usize,
        a: [__m512; R],
        b: [__m512; R],
        out: &mut [f32],
    ) {
        let has_offset = format.has_offset();
        let pieces = x.k() / 32;
        let mut last = None;
        if p < pieces {
            let mut piece = crate::format::Piece::default();
            let per_block = format.block_values() / 32;
            let block = &bytes[p / per_block * format.block_bytes()..];
            format.unpack_piece(block, p % per_block, &mut piece);
            let mut row = Unpacked::new(32);
            row.set(0, &piece);
            last = Some(row);
        }
        for r in 0..R {
            let mut acc = [
                _mm512_castps512_ps256(a[r]),
                _mm512_extractf32x8_ps(a[r], 1),
                _mm512_castps512_ps256(b[r]),
                _mm512_extractf32x8_ps(b[r], 1),
            ];
            if let Some(row) = &last {
                let x_last = &x.quants(first + r)[32 * p..];
                let d_last = &x.lane_scales(first + r)[8 * p..];
                let rows = Rows {
                    weights: row.weights.as_ptr(),
                    lane_scales: row.lane_scales.as_ptr(),
                    offset_lanes: row.offset_lanes.as_ptr(),
                    x: x_last.as_ptr(),
                    lane_d: d_last.as_ptr(),
                    pieces: 1,
                };
                // SAFETY: piece 0 of a one-piece view.
                let c = unsafe { piece_avx2(rows, 0, has_offset) };
                acc[p % 4] = _mm256_add_ps(acc[p % 4], c);
            }
            let m = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
            out[r] = reduce(m);
        }
    }

    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    pub(super) unsafe fn rows_avx512(
        format: QuantFormat,
        bytes: &[u8],
        x: &QuantizedActivations,
        out: &mut [f32],
        scratch: &mut Vec<StoredPair>,
    ) {
        // SAFETY: as the caller promises.
        unsafe {
            match format {
                QuantFormat::Q8_0 => rows_of::<Q8_0>(format, bytes, x, out, scratch),
                QuantFormat::Q4_0 => rows_of::<Q4_0>(format, bytes, x, out, scratch),
                QuantFormat::Q5_0 => rows_of::<Q5_0>(format, bytes, x, out, scratch),
                QuantFormat::Q4K => rows_of::<Q4K>(format, bytes, x, out, scratch),
                QuantFormat::Q6K => rows_of::<Q6K>(format, bytes, x, out, scratch),
            }
        }
    }

    /// Groups of up to four activation rows. With more than four, the weight row is
    /// unpacked once into `scratch` and every group reads it from there.
    #[inline]
    #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    unsafe fn rows_of<const F: u8>(
        format: QuantFormat,
        bytes: &[u8],
        x: &QuantizedActivations,
        out: &mut [f32],
        scratch: &mut Vec<StoredPair>,
    ) {
        let rows = out.len();
        scratch.clear();
        if rows > 4 {
            let pieces = x.k() / 32;
            // SAFETY: every pair lies inside the row.
            scratch.extend((0..pieces / 2).map(|q| unsafe { signed_pair::<F>(bytes, 2 * q) }));
        }
        let stored = scratch.as_slice();
        let mut first = 0;
        // SAFETY: as the caller promises; each group stays inside `rows`.
        unsafe {
            while first + 4 <= rows {
                group::<F, 4>(format, bytes, x, first, &mut out[first..first + 4], stored);
                first += 4;
            }
            match rows - first {
                3 => group::<F, 3>(format, bytes, x, first, &mut out[first..], stored),
                2 => group::<F, 2>(format, bytes, x, first, &mut out[first..], stored),
                1 => group::<F, 1>(format, bytes, x, first, &mut out[first..], stored),
                _ => {}
            }
        }
    }
}
