//! The panel kernels on AArch64 NEON, with one of two engines for the integer dot
//! products:
//! - [`Sdot`] (the dot-product extension): `sdot` adds 4 products into each 32-bit lane,
//!   so a quad vector (two 128-bit registers, rows 0–3 and 4–7) against 4 broadcast
//!   activations is two instructions.
//! - [`Smmla`] (the int8 matrix-multiply extension, i8mm): `smmla` multiplies 2 rows of
//!   8 activations by 2 weight rows of 8, 32 products in one instruction, twice `sdot`'s.
//!   Two quads, zipped, give each weight row its 8 values.
//!
//! Stored weights fit in signed bytes (unsigned ones are at most 63), so the bias comes
//! back out through the activations' sums as on x86, and every sum is the reference's.
//! Then the reference's f32 steps, 4 rows per instruction. Everything but the engine is
//! shared, written once: the two entry points differ only in the features they enable.

use super::{PANEL_ROWS, Rows, at, bias, block_bytes, k_layout, scales_and_mins};
use crate::activations::QuantizedActivations;
use crate::format::{IQ4_NL_VALUES, QuantFormat};
use std::arch::aarch64::*;
use std::arch::asm;

/// A weight row's 8 lanes: rows 0–3 and 4–7.
type Pair<T> = [T; 2];

/// `sums[r][j] = W[j] · x_r` for one panel (see `super`), with `sdot`.
///
/// # Safety
/// NEON and the dot-product extension; `panel` is one whole panel of `format` for
/// `x.k()` values.
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn panel_sdot(
    format: QuantFormat,
    panel: &[u8],
    x: &QuantizedActivations,
    sums: &mut [[f32; PANEL_ROWS]],
) {
    // SAFETY: as the caller promises; this function enables what `Sdot` uses.
    unsafe { panel_with::<Sdot>(format, panel, x, sums) }
}

/// [`panel_sdot`] with `smmla`.
///
/// # Safety
/// NEON with the dot-product and int8 matrix-multiply extensions; as [`panel_sdot`].
#[target_feature(enable = "neon,dotprod,i8mm")]
pub(super) unsafe fn panel_smmla(
    format: QuantFormat,
    panel: &[u8],
    x: &QuantizedActivations,
    sums: &mut [[f32; PANEL_ROWS]],
) {
    // SAFETY: as the caller promises; this function enables what `Smmla` uses.
    unsafe { panel_with::<Smmla>(format, panel, x, sums) }
}

/// The panel in groups of up to 4 rows. Always inlined into an entry point, whose
/// features its engine's instructions need.
#[inline(always)]
unsafe fn panel_with<E: Engine>(
    format: QuantFormat,
    panel: &[u8],
    x: &QuantizedActivations,
    sums: &mut [[f32; PANEL_ROWS]],
) {
    let rows = sums.len();
    let mut first = 0;
    // SAFETY: as the caller promises; each group of rows lies inside `x` and `sums`.
    unsafe {
        while first < rows {
            let group = &mut sums[first..(first + 4).min(rows)];
            match group.len() {
                4 => rows_of::<4, E>(format, panel, x, first, group),
                3 => rows_of::<3, E>(format, panel, x, first, group),
                2 => rows_of::<2, E>(format, panel, x, first, group),
                _ => rows_of::<1, E>(format, panel, x, first, group),
            }
            first += 4;
        }
    }
}

#[inline(always)]
unsafe fn rows_of<const R: usize, E: Engine>(
    format: QuantFormat,
    panel: &[u8],
    x: &QuantizedActivations,
    first: usize,
    sums: &mut [[f32; PANEL_ROWS]],
) {
    // SAFETY: `block` is a whole panel block, block b's activations lie in every row, the
    // 8 floats of each row go into its 8 slots, and the entry point enabled what the
    // engine uses.
    unsafe {
        let rows = Rows::new(x, first);
        let zero = vdupq_n_f32(0.0);
        let mut acc = [[zero; 2]; R];
        for (b, block) in panel.chunks_exact(block_bytes(format)).enumerate() {
            let c: [Pair<float32x4_t>; R] = match format {
                QuantFormat::Q8_0
                | QuantFormat::IQ4NL
                | QuantFormat::Q4_0
                | QuantFormat::Q4_1
                | QuantFormat::Q5_0
                | QuantFormat::Q5_1 => format32::<R, E>(format, block.as_ptr(), &rows, b),
                QuantFormat::Q4K | QuantFormat::Q5K => {
                    q4k::<R, E>(format, block.as_ptr(), &rows, b)
                }
                QuantFormat::Q2K => q2k::<R, E>(block.as_ptr(), &rows, b),
                QuantFormat::Q3K | QuantFormat::Q6K => {
                    q6k::<R, E>(format, block.as_ptr(), &rows, b)
                }
                QuantFormat::IQ4XS => iq4xs::<R, E>(block.as_ptr(), &rows, b),
            };
            for (a, c) in acc.iter_mut().zip(c) {
                a[0] = vaddq_f32(a[0], c[0]);
                a[1] = vaddq_f32(a[1], c[1]);
            }
        }
        for (s, a) in sums.iter_mut().zip(acc) {
            vst1q_f32(s.as_mut_ptr(), a[0]);
            vst1q_f32(s.as_mut_ptr().add(4), a[1]);
        }
    }
}

impl Rows {
    /// Row `r`'s 4 activations from value `at`, in every 32-bit lane.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn quad(&self, r: usize, at: usize) -> int8x16_t {
        // SAFETY: the caller keeps `at + 4 ≤ k`.
        vreinterpretq_s8_s32(vdupq_n_s32(unsafe { self.quad_word(r, at) }))
    }

    /// Rows `r0` and `r1`'s 8 activations from value `at`, one row per half.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn two_rows(&self, r0: usize, r1: usize, at: usize) -> int8x16_t {
        // SAFETY: the caller keeps `at + 8 ≤ k` and both rows in the group.
        unsafe {
            vcombine_s8(
                vld1_s8(self.quants.add(r0 * self.k + at)),
                vld1_s8(self.quants.add(r1 * self.k + at)),
            )
        }
    }

    /// Row `r`'s scale of block `b`, in every lane.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn scale(&self, r: usize, b: usize) -> float32x4_t {
        // SAFETY: b < k / block.
        vdupq_n_f32(unsafe { self.scale_of(r, b) })
    }
}

/// An accumulating integer instruction on 16 bytes of each operand, as a function with
/// the features it needs (the intrinsics of both are not stable).
macro_rules! accumulate {
    ($(#[$doc:meta])* $name:ident, $features:literal, $instruction:literal) => {
        $(#[$doc])*
        #[inline]
        #[target_feature(enable = $features)]
        fn $name(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
            let mut acc = acc;
            // SAFETY: a register-only instruction of the enabled extension.
            unsafe {
                asm!(
                    concat!($instruction, " {acc:v}.4s, {a:v}.16b, {b:v}.16b"),
                    acc = inout(vreg) acc,
                    a = in(vreg) a,
                    b = in(vreg) b,
                    options(pure, nomem, nostack, preserves_flags)
                );
            }
            acc
        }
    };
}

accumulate!(
    /// `acc + Σ` of 4 products `a·b` in each 32-bit lane.
    sdot,
    "neon,dotprod",
    "sdot"
);

accumulate!(
    /// `acc + a · bᵀ` for 2×8 `a` and 2×8 `b`: `[a₀·b₀, a₀·b₁, a₁·b₀, a₁·b₁]`.
    smmla,
    "neon,i8mm",
    "smmla"
);

/// 32 bytes at `p` as two registers.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn load(p: *const u8) -> Pair<uint8x16_t> {
    // SAFETY: the caller passes 32 readable bytes.
    unsafe { [vld1q_u8(p), vld1q_u8(p.add(16))] }
}

/// Quad `q` (0..8) of a piece's 4 nibble vectors at `p`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn nibble_quad(p: *const u8, q: usize) -> Pair<uint8x16_t> {
    // SAFETY: the caller passes a piece's 128 bytes.
    let v = unsafe { load(p.add(32 * (q % 4))) };
    v.map(|v| {
        if q < 4 {
            vandq_u8(v, vdupq_n_u8(0xF))
        } else {
            vshrq_n_u8::<4>(v)
        }
    })
}

/// Each 4-bit index replaced by its IQ4 table value (a signed byte), with `tbl`.
#[inline]
#[target_feature(enable = "neon")]
fn look_up(indexes: Pair<uint8x16_t>) -> Pair<uint8x16_t> {
    // SAFETY: 16 readable bytes.
    let table = unsafe { vld1q_u8(IQ4_NL_VALUES.as_ptr().cast()) };
    indexes.map(|i| vqtbl1q_u8(table, i))
}

/// Each byte shifted left by `by` (right when negative) and masked.
#[inline]
#[target_feature(enable = "neon")]
fn shift_mask(v: Pair<uint8x16_t>, by: i8, mask: u8) -> Pair<uint8x16_t> {
    v.map(|v| vandq_u8(vshlq_u8(v, vdupq_n_s8(by)), vdupq_n_u8(mask)))
}

#[inline]
#[target_feature(enable = "neon")]
fn or(a: Pair<uint8x16_t>, b: Pair<uint8x16_t>) -> Pair<uint8x16_t> {
    [vorrq_u8(a[0], b[0]), vorrq_u8(a[1], b[1])]
}

/// `dot + w · x` for the 8 rows.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn dot_quad(dot: Pair<int32x4_t>, w: Pair<uint8x16_t>, x: int8x16_t) -> Pair<int32x4_t> {
    [
        sdot(dot[0], vreinterpretq_s8_u8(w[0]), x),
        sdot(dot[1], vreinterpretq_s8_u8(w[1]), x),
    ]
}

/// How a kernel takes the integer dot products of the 8 weight rows with `R` activation
/// rows, two quads at a time.
trait Engine {
    /// Running sums of up to 4 rows, in the engine's own arrangement.
    type Acc: Copy;

    fn zero() -> Self::Acc;

    /// `acc` plus the products of quads `w[0]` (values `at .. at + 4`) and `w[1]`
    /// (`at + 4 .. at + 8`) with each of the first `R` rows.
    ///
    /// # Safety
    /// The entry point enabled the engine's features; `at + 8 ≤ k`, and the rows are the
    /// group's.
    unsafe fn pair<const R: usize>(
        acc: Self::Acc,
        w: [Pair<uint8x16_t>; 2],
        rows: &Rows,
        at: usize,
    ) -> Self::Acc;

    /// Each row's 8 lanes.
    fn lanes<const R: usize>(acc: Self::Acc) -> [Pair<int32x4_t>; R];
}

/// The dot-product extension: each quad against each row's 4 broadcast activations.
struct Sdot;

impl Engine for Sdot {
    type Acc = [Pair<int32x4_t>; 4];

    #[inline(always)]
    fn zero() -> Self::Acc {
        // SAFETY: NEON is part of every AArch64 target.
        [[unsafe { vdupq_n_s32(0) }; 2]; 4]
    }

    #[inline(always)]
    unsafe fn pair<const R: usize>(
        mut acc: Self::Acc,
        w: [Pair<uint8x16_t>; 2],
        rows: &Rows,
        at: usize,
    ) -> Self::Acc {
        for (r, d) in acc.iter_mut().enumerate().take(R) {
            // SAFETY: as the caller promises.
            unsafe {
                *d = dot_quad(*d, w[0], rows.quad(r, at));
                *d = dot_quad(*d, w[1], rows.quad(r, at + 4));
            }
        }
        acc
    }

    #[inline(always)]
    fn lanes<const R: usize>(acc: Self::Acc) -> [Pair<int32x4_t>; R] {
        std::array::from_fn(|r| acc[r])
    }
}

/// The int8 matrix-multiply extension: 2 activation rows by 2 weight rows per `smmla`.
/// `acc[p][k]` holds `[r·w, r·w', r'·w, r'·w']` for rows `r = 2p`, `r' = 2p + 1` and
/// weight rows `w = 2k`, `w' = 2k + 1`.
struct Smmla;

impl Engine for Smmla {
    type Acc = [[int32x4_t; 4]; 2];

    #[inline(always)]
    fn zero() -> Self::Acc {
        // SAFETY: NEON is part of every AArch64 target.
        [[unsafe { vdupq_n_s32(0) }; 4]; 2]
    }

    #[inline(always)]
    unsafe fn pair<const R: usize>(
        mut acc: Self::Acc,
        w: [Pair<uint8x16_t>; 2],
        rows: &Rows,
        at: usize,
    ) -> Self::Acc {
        // Weight rows 2k and 2k + 1, each its quad-q word then its quad-(q+1) word.
        // SAFETY: NEON is part of every AArch64 target.
        let weights = unsafe {
            let s = |v: uint8x16_t| vreinterpretq_s32_u8(v);
            let b = |lo: int32x4_t, hi: int32x4_t| [vzip1q_s32(lo, hi), vzip2q_s32(lo, hi)];
            let [b0, b1] = b(s(w[0][0]), s(w[1][0]));
            let [b2, b3] = b(s(w[0][1]), s(w[1][1]));
            [b0, b1, b2, b3].map(|v| vreinterpretq_s8_s32(v))
        };
        for (p, acc) in acc.iter_mut().enumerate().take(R.div_ceil(2)) {
            // An odd last row pairs with itself; its copy is never read.
            // SAFETY: as the caller promises.
            let a = unsafe { rows.two_rows(2 * p, (2 * p + 1).min(R - 1), at) };
            for (acc, w) in acc.iter_mut().zip(weights) {
                // SAFETY: the entry point enabled i8mm.
                *acc = unsafe { smmla(*acc, a, w) };
            }
        }
        acc
    }

    #[inline(always)]
    fn lanes<const R: usize>(acc: Self::Acc) -> [Pair<int32x4_t>; R] {
        // SAFETY: NEON is part of every AArch64 target.
        let half = |a: int32x4_t, b: int32x4_t, second: bool| unsafe {
            let (a, b) = (vreinterpretq_s64_s32(a), vreinterpretq_s64_s32(b));
            vreinterpretq_s32_s64(if second {
                vzip2q_s64(a, b)
            } else {
                vzip1q_s64(a, b)
            })
        };
        std::array::from_fn(|r| {
            let (p, second) = (r / 2, r % 2 == 1);
            [
                half(acc[p][0], acc[p][1], second),
                half(acc[p][2], acc[p][3], second),
            ]
        })
    }
}

/// 8 f16 at `p`, widened exactly (`fcvtl`, base ARMv8; Rust's f16 vector types are not
/// stable).
#[inline]
#[target_feature(enable = "neon")]
unsafe fn f16x8(p: *const u8) -> Pair<float32x4_t> {
    // SAFETY: the caller passes 16 readable bytes.
    let bits = unsafe { vld1q_u16(p.cast()) };
    let (low, high): (float32x4_t, float32x4_t);
    // SAFETY: register-only conversions.
    unsafe {
        asm!(
            "fcvtl {low:v}.4s, {bits:v}.4h",
            "fcvtl2 {high:v}.4s, {bits:v}.8h",
            bits = in(vreg) bits,
            low = out(vreg) low,
            high = out(vreg) high,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    [low, high]
}

/// 8 bytes at `p` (one per weight row) as 32-bit lanes.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn byte_lanes(p: *const u8, signed: bool) -> Pair<int32x4_t> {
    // SAFETY: the caller passes 8 readable bytes.
    let v = unsafe { vld1_u8(p) };
    let wide = if signed {
        vmovl_s8(vreinterpret_s8_u8(v))
    } else {
        vreinterpretq_s16_u16(vmovl_u8(v))
    };
    [
        vmovl_s16(vget_low_s16(wide)),
        vmovl_s16(vget_high_s16(wide)),
    ]
}

/// `(s · D) · f32(dot)` for each lane.
#[inline]
#[target_feature(enable = "neon")]
fn term(scales: Pair<float32x4_t>, big_d: float32x4_t, dot: Pair<int32x4_t>) -> Pair<float32x4_t> {
    [0, 1].map(|h| vmulq_f32(vmulq_f32(scales[h], big_d), vcvtq_f32_s32(dot[h])))
}

#[inline]
#[target_feature(enable = "neon")]
fn sub_lanes(a: Pair<int32x4_t>, v: int32x4_t) -> Pair<int32x4_t> {
    [vsubq_s32(a[0], v), vsubq_s32(a[1], v)]
}

/// Q8_0, IQ4_NL (its nibbles looked up), Q4_0, Q4_1, Q5_0 and Q5_1.
#[inline(always)]
unsafe fn format32<const R: usize, E: Engine>(
    format: QuantFormat,
    block: *const u8,
    rows: &Rows,
    b: usize,
) -> [Pair<float32x4_t>; R] {
    // SAFETY: every read lies inside the panel block and block b of each row.
    unsafe {
        let high = matches!(format, QuantFormat::Q5_0 | QuantFormat::Q5_1)
            .then(|| load(block.add(at::Q5_0_HIGH)));
        let weight = |q: usize| match format {
            QuantFormat::Q8_0 => load(block.add(32 * q)),
            QuantFormat::IQ4NL => look_up(nibble_quad(block, q)),
            _ => {
                let w = nibble_quad(block, q);
                match high {
                    Some(h) => or(w, shift_mask(h, 4 - q as i8, 0x10)),
                    None => w,
                }
            }
        };
        let mut acc = E::zero();
        for q in (0..8).step_by(2) {
            acc = E::pair::<R>(acc, [weight(q), weight(q + 1)], rows, 32 * b + 4 * q);
        }
        let dot = E::lanes::<R>(acc);
        let (scales_at, mins_at) = scales_and_mins(format);
        let scales = f16x8(block.add(scales_at));
        let bias = bias(format);
        match mins_at {
            None => std::array::from_fn(|r| {
                let unbiased = sub_lanes(dot[r], vdupq_n_s32(bias * rows.sum(r, 2 * b, 2)));
                term(scales, rows.scale(r, b), unbiased)
            }),
            Some(mins_at) => {
                let mins = f16x8(block.add(mins_at));
                std::array::from_fn(|r| {
                    let big_d = rows.scale(r, b);
                    let sum = vdupq_n_s32(rows.sum(r, 2 * b, 2));
                    let (dot, min) = (term(scales, big_d, dot[r]), term(mins, big_d, [sum, sum]));
                    [0, 1].map(|h| vaddq_f32(dot[h], min[h]))
                })
            }
        }
    }
}

/// Q4_K and Q5_K: per sub-block an exact dot, times the sub-block's scale; the mins per
/// sub-block.
#[inline(always)]
unsafe fn q4k<const R: usize, E: Engine>(
    format: QuantFormat,
    block: *const u8,
    rows: &Rows,
    b: usize,
) -> [Pair<float32x4_t>; R] {
    let layout = k_layout(format);
    // SAFETY: NEON is part of every AArch64 target.
    let zero = unsafe { vdupq_n_s32(0) };
    let mut dot = [[zero; 2]; R];
    let mut mins = [[zero; 2]; R];
    // SAFETY: every read lies inside the panel block and block b of each row.
    unsafe {
        for sub in 0..8 {
            let scales = byte_lanes(block.add(layout.scales + 8 * sub), false);
            let piece = block.add(layout.piece * sub);
            let high = layout.high.map(|h| load(piece.add(h)));
            let weight = |q: usize| {
                let w = nibble_quad(piece, q);
                match high {
                    Some(h) => or(w, shift_mask(h, 4 - q as i8, 0x10)),
                    None => w,
                }
            };
            let mut acc = E::zero();
            for q in (0..8).step_by(2) {
                let w = [weight(q), weight(q + 1)];
                acc = E::pair::<R>(acc, w, rows, 256 * b + 32 * sub + 4 * q);
            }
            let inner = E::lanes::<R>(acc);
            let m: [i32; 8] = std::array::from_fn(|j| {
                i32::from(*block.add(layout.mins + 16 * (sub / 2) + 2 * j + sub % 2))
            });
            let m = [vld1q_s32(m.as_ptr()), vld1q_s32(m.as_ptr().add(4))];
            for r in 0..R {
                let sum = vdupq_n_s32(rows.sum(r, 16 * b + 2 * sub, 2));
                for h in 0..2 {
                    dot[r][h] = vmlaq_s32(dot[r][h], inner[r][h], scales[h]);
                    mins[r][h] = vmlaq_s32(mins[r][h], m[h], sum);
                }
            }
        }
        let (d, dmin) = (f16x8(block.add(layout.d)), f16x8(block.add(layout.dmin)));
        std::array::from_fn(|r| {
            let big_d = rows.scale(r, b);
            let (a, m) = (term(d, big_d, dot[r]), term(dmin, big_d, mins[r]));
            [vsubq_f32(a[0], m[0]), vsubq_f32(a[1], m[1])]
        })
    }
}

/// IQ4_XS: per piece of 32 an exact dot of the looked-up signed bytes, times the piece's
/// signed scale.
#[inline(always)]
unsafe fn iq4xs<const R: usize, E: Engine>(
    block: *const u8,
    rows: &Rows,
    b: usize,
) -> [Pair<float32x4_t>; R] {
    // SAFETY: NEON is part of every AArch64 target.
    let zero = unsafe { vdupq_n_s32(0) };
    let mut dot = [[zero; 2]; R];
    // SAFETY: every read lies inside the panel block and block b of each row.
    unsafe {
        for piece in 0..8 {
            let base = block.add(at::IQ4XS_PIECE * piece);
            let scales = byte_lanes(block.add(at::IQ4XS_SCALES + 8 * piece), true);
            let mut acc = E::zero();
            for q in (0..8).step_by(2) {
                let w = [
                    look_up(nibble_quad(base, q)),
                    look_up(nibble_quad(base, q + 1)),
                ];
                acc = E::pair::<R>(acc, w, rows, 256 * b + 32 * piece + 4 * q);
            }
            let inner = E::lanes::<R>(acc);
            for r in 0..R {
                for h in 0..2 {
                    dot[r][h] = vmlaq_s32(dot[r][h], inner[r][h], scales[h]);
                }
            }
        }
        let d = f16x8(block.add(at::IQ4XS_D));
        std::array::from_fn(|r| term(d, rows.scale(r, b), dot[r]))
    }
}

/// Q2_K: per group of 16 an exact dot, times the group's scale; the mins through the
/// groups' activation sums.
#[inline(always)]
unsafe fn q2k<const R: usize, E: Engine>(
    block: *const u8,
    rows: &Rows,
    b: usize,
) -> [Pair<float32x4_t>; R] {
    // SAFETY: NEON is part of every AArch64 target.
    let zero = unsafe { vdupq_n_s32(0) };
    let mut dot = [[zero; 2]; R];
    let mut mins = [[zero; 2]; R];
    // SAFETY: every read lies inside the panel block and block b of each row.
    unsafe {
        for piece in 0..8 {
            let base = block.add(at::Q2K_PIECE * piece);
            let vectors = [load(base), load(base.add(32))];
            for (half, pairs) in vectors.iter().enumerate() {
                let g = 2 * piece + half;
                let scales = byte_lanes(block.add(at::Q2K_SCALES + 8 * g), false);
                let m = byte_lanes(block.add(at::Q2K_MINS + 8 * g), false);
                let weight = |q: usize| shift_mask(*pairs, -2 * (q % 4) as i8, 0x03);
                let mut acc = E::zero();
                for q in (4 * half..4 * half + 4).step_by(2) {
                    let at = 256 * b + 32 * piece + 4 * q;
                    acc = E::pair::<R>(acc, [weight(q), weight(q + 1)], rows, at);
                }
                let inner = E::lanes::<R>(acc);
                for r in 0..R {
                    let sum = vdupq_n_s32(rows.sum(r, 16 * b + g, 1));
                    for h in 0..2 {
                        dot[r][h] = vmlaq_s32(dot[r][h], inner[r][h], scales[h]);
                        mins[r][h] = vmlaq_s32(mins[r][h], m[h], sum);
                    }
                }
            }
        }
        let (d, dmin) = (f16x8(block.add(at::Q2K_D)), f16x8(block.add(at::Q2K_DMIN)));
        std::array::from_fn(|r| {
            let big_d = rows.scale(r, b);
            let (a, m) = (term(d, big_d, dot[r]), term(dmin, big_d, mins[r]));
            [vsubq_f32(a[0], m[0]), vsubq_f32(a[1], m[1])]
        })
    }
}

/// Q6_K and Q3_K: per group of 16 an exact dot, times the group's scale; the bias (32,
/// or 4) back out through the groups' activation sums.
#[inline(always)]
unsafe fn q6k<const R: usize, E: Engine>(
    format: QuantFormat,
    block: *const u8,
    rows: &Rows,
    b: usize,
) -> [Pair<float32x4_t>; R] {
    let three = format == QuantFormat::Q3K;
    let (piece_bytes, scales_at, d_at) = if three {
        (at::Q3K_PIECE, at::Q3K_SCALES, at::Q3K_D)
    } else {
        (at::Q6K_PIECE, at::Q6K_SCALES, at::Q6K_D)
    };
    // SAFETY: NEON is part of every AArch64 target.
    let zero = unsafe { vdupq_n_s32(0) };
    let mut dot = [[zero; 2]; R];
    let mut bias_sums = [[zero; 2]; R];
    // SAFETY: every read lies inside the panel block and block b of each row.
    unsafe {
        for piece in 0..8 {
            let base = block.add(piece_bytes * piece);
            // Q6_K: nibbles and the high pairs of quads 0-3 and 4-7; Q3_K: the low pairs
            // of quads 0-3 and 4-7, and the third bits.
            let pairs_at = if three { 0 } else { at::Q6K_HIGH };
            let vectors = [load(base.add(pairs_at)), load(base.add(pairs_at + 32))];
            let third = load(base.add(if three { at::Q3K_HIGH } else { 0 }));
            for (half, pairs) in vectors.iter().enumerate() {
                let g = 2 * piece + half;
                let scales = byte_lanes(block.add(scales_at + 8 * g), true);
                let weight = |q: usize| {
                    if three {
                        let low = shift_mask(*pairs, -2 * (q % 4) as i8, 0x03);
                        or(low, shift_mask(third, 2 - q as i8, 0x04))
                    } else {
                        let high = shift_mask(*pairs, 4 - 2 * (q % 4) as i8, 0x30);
                        or(nibble_quad(base, q), high)
                    }
                };
                let mut acc = E::zero();
                for q in (4 * half..4 * half + 4).step_by(2) {
                    let at = 256 * b + 32 * piece + 4 * q;
                    acc = E::pair::<R>(acc, [weight(q), weight(q + 1)], rows, at);
                }
                let inner = E::lanes::<R>(acc);
                for r in 0..R {
                    let sum = vdupq_n_s32(rows.sum(r, 16 * b + g, 1));
                    for h in 0..2 {
                        dot[r][h] = vmlaq_s32(dot[r][h], inner[r][h], scales[h]);
                        bias_sums[r][h] = vmlaq_s32(bias_sums[r][h], scales[h], sum);
                    }
                }
            }
        }
        let d = f16x8(block.add(d_at));
        let bias = vdupq_n_s32(if three { 4 } else { 32 });
        std::array::from_fn(|r| {
            let unbiased = [0, 1].map(|h| vmlsq_s32(dot[r][h], bias_sums[r][h], bias));
            term(d, rows.scale(r, b), unbiased)
        })
    }
}
