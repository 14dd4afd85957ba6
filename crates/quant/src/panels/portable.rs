//! The panel kernel in portable Rust, for every CPU without a SIMD path: fixed-width lane
//! arrays that LLVM vectorizes. Each block's weights are unpacked once for all activation
//! rows; the sums are the reference's, lane by lane.

use super::{PANEL_ROWS, at, bias, block_bytes, k_layout, scales_and_mins};
use crate::activations::QuantizedActivations;
use crate::format::{IQ4_NL_VALUES, QuantFormat};
use half::f16;

/// 8 lanes, one per weight row.
type Lanes<T> = [T; PANEL_ROWS];

/// A quad vector's signed weights: lane `r`'s 4 at `4r .. 4r + 4`.
type Quad = [i16; 4 * PANEL_ROWS];

/// 8 quads: 32 values of each of the 8 rows.
type Octet = [Quad; 8];

/// `sums[r][j] = W[j] · x_r` for one panel (see `super`).
///
/// Each block's weights are unpacked once, as 16-bit quad vectors, for every activation
/// row. The products run slot by slot in 16 bits over fixed-length arrays ([`dots`]);
/// the few functions LLVM must not see through are out of line ([`words`],
/// [`lane_sums`]): with them inlined it vectorizes along the wrong axis.
pub(super) fn panel(
    format: QuantFormat,
    panel: &[u8],
    x: &QuantizedActivations,
    sums: &mut [Lanes<f32>],
) {
    sums.iter_mut().for_each(|s| *s = [0.0; PANEL_ROWS]);
    let blocks = panel.chunks_exact(block_bytes(format)).enumerate();
    match format {
        QuantFormat::Q4_0
        | QuantFormat::Q4_1
        | QuantFormat::Q5_0
        | QuantFormat::Q5_1
        | QuantFormat::Q8_0
        | QuantFormat::IQ4NL => {
            let mut octet = [[0i16; 4 * PANEL_ROWS]; 8];
            let (scales_at, mins_at) = scales_and_mins(format);
            for (b, block) in blocks {
                unpack(format, block, &mut octet);
                let scales = f16_lanes(&block[scales_at..]);
                let mins = mins_at.map(|at| f16_lanes(&block[at..]));
                for (r, acc) in sums.iter_mut().enumerate() {
                    let xq = &x.quants(r)[32 * b..][..32];
                    let slots = if matches!(format, QuantFormat::Q8_0 | QuantFormat::IQ4NL) {
                        octet_slots::<2>(&octet, xq)
                    } else {
                        octet_slots::<4>(&octet, xq)
                    };
                    let dot = lane_sums(&slots);
                    let big_d = x.scales(r)[b];
                    match &mins {
                        None => {
                            for j in 0..PANEL_ROWS {
                                acc[j] += (scales[j] * big_d) * dot[j] as f32;
                            }
                        }
                        Some(mins) => {
                            let sums16 = &x.sums16(r)[2 * b..];
                            let sum = (sums16[0] + sums16[1]) as f32;
                            for j in 0..PANEL_ROWS {
                                acc[j] +=
                                    (scales[j] * big_d) * dot[j] as f32 + (mins[j] * big_d) * sum;
                            }
                        }
                    }
                }
            }
        }
        QuantFormat::Q4K | QuantFormat::Q5K => {
            let layout = k_layout(format);
            let mut octets = [[[0i16; 4 * PANEL_ROWS]; 8]; 8];
            for (b, block) in blocks {
                unpack(format, block, octets.as_flattened_mut());
                let d = f16_lanes(&block[layout.d..]);
                let dmin = f16_lanes(&block[layout.dmin..]);
                let scales: [Slots; 8] = std::array::from_fn(|sub| {
                    slot_scales(&block[layout.scales + 8 * sub..][..PANEL_ROWS], false)
                });
                for (r, acc) in sums.iter_mut().enumerate() {
                    let xq = &x.quants(r)[256 * b..];
                    let sums16 = &x.sums16(r)[16 * b..];
                    let big_d = x.scales(r)[b];
                    // Σ_sub scale · slot, slot by slot: the lane sums then give
                    // Σ_sub scale · inner exactly, once per block instead of per sub-block.
                    let mut scaled = [0i32; 4 * PANEL_ROWS];
                    let mut mins = [0i32; PANEL_ROWS];
                    for (sub, octet) in octets.iter().enumerate() {
                        add_scaled(
                            &mut scaled,
                            &scales[sub],
                            &octet_slots::<4>(octet, &xq[32 * sub..][..32]),
                        );
                        let sum = sums16[2 * sub] + sums16[2 * sub + 1];
                        let pair = &block[layout.mins + 16 * (sub / 2)..][..2 * PANEL_ROWS];
                        for j in 0..PANEL_ROWS {
                            mins[j] += i32::from(pair[2 * j + sub % 2]) * sum;
                        }
                    }
                    let dot = lane_sums(&scaled);
                    for j in 0..PANEL_ROWS {
                        acc[j] +=
                            (d[j] * big_d) * dot[j] as f32 - (dmin[j] * big_d) * mins[j] as f32;
                    }
                }
            }
        }
        QuantFormat::Q2K => {
            let mut octets = [[[0i16; 4 * PANEL_ROWS]; 8]; 8];
            for (b, block) in blocks {
                unpack(format, block, octets.as_flattened_mut());
                let d = f16_lanes(&block[at::Q2K_D..]);
                let dmin = f16_lanes(&block[at::Q2K_DMIN..]);
                let scales: [Slots; 16] = std::array::from_fn(|g| {
                    slot_scales(&block[at::Q2K_SCALES + 8 * g..][..PANEL_ROWS], false)
                });
                for (r, acc) in sums.iter_mut().enumerate() {
                    let xq = &x.quants(r)[256 * b..];
                    let sums16 = &x.sums16(r)[16 * b..];
                    let big_d = x.scales(r)[b];
                    let mut scaled = [0i32; 4 * PANEL_ROWS];
                    let mut mins = [0i32; PANEL_ROWS];
                    for (o, octet) in octets.iter().enumerate() {
                        let halves = half_slots(octet, &xq[32 * o..][..32]);
                        for (h, slots) in halves.iter().enumerate() {
                            let g = 2 * o + h;
                            add_scaled(&mut scaled, &scales[g], slots);
                            let m = &block[at::Q2K_MINS + 8 * g..][..PANEL_ROWS];
                            for j in 0..PANEL_ROWS {
                                mins[j] += i32::from(m[j]) * sums16[g];
                            }
                        }
                    }
                    let dot = lane_sums(&scaled);
                    for j in 0..PANEL_ROWS {
                        acc[j] +=
                            (d[j] * big_d) * dot[j] as f32 - (dmin[j] * big_d) * mins[j] as f32;
                    }
                }
            }
        }
        QuantFormat::IQ4XS => {
            let mut octets = [[[0i16; 4 * PANEL_ROWS]; 8]; 8];
            for (b, block) in blocks {
                unpack(format, block, octets.as_flattened_mut());
                let d = f16_lanes(&block[at::IQ4XS_D..]);
                let scales: [Slots; 8] = std::array::from_fn(|p| {
                    slot_scales(&block[at::IQ4XS_SCALES + 8 * p..][..PANEL_ROWS], true)
                });
                for (r, acc) in sums.iter_mut().enumerate() {
                    let xq = &x.quants(r)[256 * b..];
                    let big_d = x.scales(r)[b];
                    let mut scaled = [0i32; 4 * PANEL_ROWS];
                    for (p, octet) in octets.iter().enumerate() {
                        let slots = octet_slots::<2>(octet, &xq[32 * p..][..32]);
                        add_scaled(&mut scaled, &scales[p], &slots);
                    }
                    let dot = lane_sums(&scaled);
                    for j in 0..PANEL_ROWS {
                        acc[j] += (d[j] * big_d) * dot[j] as f32;
                    }
                }
            }
        }
        QuantFormat::Q3K | QuantFormat::Q6K => {
            let (scales_at, d_at) = if format == QuantFormat::Q3K {
                (at::Q3K_SCALES, at::Q3K_D)
            } else {
                (at::Q6K_SCALES, at::Q6K_D)
            };
            let mut octets = [[[0i16; 4 * PANEL_ROWS]; 8]; 8];
            for (b, block) in blocks {
                unpack(format, block, octets.as_flattened_mut());
                let d = f16_lanes(&block[d_at..]);
                let scales: [Slots; 16] = std::array::from_fn(|g| {
                    slot_scales(&block[scales_at + 8 * g..][..PANEL_ROWS], true)
                });
                for (r, acc) in sums.iter_mut().enumerate() {
                    let xq = &x.quants(r)[256 * b..];
                    let big_d = x.scales(r)[b];
                    let mut scaled = [0i32; 4 * PANEL_ROWS];
                    for (o, octet) in octets.iter().enumerate() {
                        let halves = half_slots(octet, &xq[32 * o..][..32]);
                        for (h, slots) in halves.iter().enumerate() {
                            add_scaled(&mut scaled, &scales[2 * o + h], slots);
                        }
                    }
                    let dot = lane_sums(&scaled);
                    for j in 0..PANEL_ROWS {
                        acc[j] += (d[j] * big_d) * dot[j] as f32;
                    }
                }
            }
        }
    }
}

/// 32-bit slots of a quad vector: lane `j`'s 4 at `4j .. 4j + 4`.
type Slots = [i32; 4 * PANEL_ROWS];

/// Each weight row's scale byte (unsigned, or signed for Q3_K, Q6_K and IQ4_XS) in its 4
/// slots.
fn slot_scales(bytes: &[u8], signed: bool) -> Slots {
    let mut out = [0i32; 4 * PANEL_ROWS];
    for (t, o) in out.iter_mut().enumerate() {
        let byte = bytes[t / 4];
        *o = if signed {
            i32::from(byte as i8)
        } else {
            i32::from(byte)
        };
    }
    out
}

/// `scaled += scales · slots`, slot by slot (exact: at most `8 · 63 · 8 · 15 · 127` for
/// Q4_K, `16 · 128 · 4 · 32 · 127` for Q6_K and `8 · 32 · 8 · 127 · 127` for IQ4_XS, far
/// inside `i32`).
#[inline(never)]
fn add_scaled(scaled: &mut Slots, scales: &Slots, slots: &Slots) {
    for t in 0..4 * PANEL_ROWS {
        scaled[t] += scales[t] * slots[t];
    }
}

fn f16_lanes(bytes: &[u8]) -> Lanes<f32> {
    let mut out = [0f32; PANEL_ROWS];
    for (j, o) in out.iter_mut().enumerate() {
        *o = f16::from_le_bytes([bytes[2 * j], bytes[2 * j + 1]]).to_f32();
    }
    out
}

/// The 32-bit slot sums of an octet with 32 activations, exactly ([`lane_sums`] gives
/// each lane's dot product); the products add up in 16 bits over chains of `GROUP`
/// quads, 2 or 4 (see [`dots`]).
#[inline(never)]
fn octet_slots<const GROUP: usize>(octet: &Octet, xq: &[i8]) -> Slots {
    let xs = words(xq);
    let mut wide = [0i32; 4 * PANEL_ROWS];
    let (low, high) = (dots::<0>(octet, &xs), dots::<4>(octet, &xs));
    if GROUP == 2 {
        widen_into(&low, &mut wide);
        widen_into(&high, &mut wide);
    } else {
        // Chains of 4 quads: each half's two chains add up in 16 bits first.
        widen_into(&[join(&low), join(&high)], &mut wide);
    }
    wide
}

/// [`octet_slots`] of each half of an octet (Q6_K's groups of 16).
#[inline(never)]
fn half_slots(octet: &Octet, xq: &[i8]) -> [Slots; 2] {
    let xs = words(xq);
    let mut wide = [[0i32; 4 * PANEL_ROWS]; 2];
    widen_into(&dots::<0>(octet, &xs), &mut wide[0]);
    widen_into(&dots::<4>(octet, &xs), &mut wide[1]);
    wide
}

/// Each quad's 4 activations as 16-bit values in one 64-bit word. Out of line, so that
/// LLVM repeats each word across a quad vector as one whole register.
#[inline(never)]
fn words(xq: &[i8]) -> [u64; 8] {
    let mut wide = [0i16; 32];
    for (w, x) in wide.iter_mut().zip(xq) {
        *w = i16::from(*x);
    }
    // Whatever the byte order, a word repeated and cast back holds its 4 values in order.
    bytemuck::cast(wide)
}

/// `Σ_q quads[q][t] · x_q[t mod 4]` slot by slot in 16 bits, as two chains of 2 quads
/// (quads `FIRST, FIRST + 1` and `FIRST + 2, FIRST + 3`): exact, because `|x| ≤ 127` and
/// the signed weights bound a chain of 2 below `2^15` even for Q8_0 (`2·128·127`), and a
/// chain of 4 ([`join`]) for the other formats (Q4_0 `4·8·127`, Q5_0 `4·16·127`, Q4_K
/// `4·15·127`, Q5_K `4·31·127`; Q6_K's groups are 2 + 2 quads, `2·32·127` each). Loops of two, so that
/// LLVM unrolls them whole before it vectorizes.
#[inline(always)]
fn dots<const FIRST: usize>(quads: &Octet, words: &[u64; 8]) -> [Quad; 2] {
    let mut chains = [[0i16; 4 * PANEL_ROWS]; 2];
    for (c, chain) in chains.iter_mut().enumerate() {
        for q in FIRST + 2 * c..FIRST + 2 * c + 2 {
            let xs: Quad = bytemuck::cast([words[q]; PANEL_ROWS]);
            for t in 0..4 * PANEL_ROWS {
                chain[t] = chain[t].wrapping_add(quads[q][t].wrapping_mul(xs[t]));
            }
        }
    }
    chains
}

/// Two chains of 2 quads as one chain of 4, in 16 bits.
#[inline(always)]
fn join(chains: &[Quad; 2]) -> Quad {
    let mut out = chains[0];
    for (o, c) in out.iter_mut().zip(&chains[1]) {
        *o = o.wrapping_add(*c);
    }
    out
}

/// Adds two 16-bit chains into 32-bit slots.
#[inline(always)]
fn widen_into(chains: &[Quad; 2], wide: &mut [i32; 4 * PANEL_ROWS]) {
    for t in 0..4 * PANEL_ROWS {
        wide[t] += i32::from(chains[0][t]) + i32::from(chains[1][t]);
    }
}

/// Each lane's sum of its 4 slots. Out of line: a sum across slots inlined would set the
/// axis along which LLVM vectorizes everything before it.
#[inline(never)]
fn lane_sums(wide: &[i32; 4 * PANEL_ROWS]) -> Lanes<i32> {
    let mut out = [0i32; PANEL_ROWS];
    for (j, o) in out.iter_mut().enumerate() {
        *o = (wide[4 * j] + wide[4 * j + 1]) + (wide[4 * j + 2] + wide[4 * j + 3]);
    }
    out
}

/// A panel block's signed weights as quad vectors, in value order.
fn unpack(format: QuantFormat, block: &[u8], quads: &mut [Quad]) {
    let bias = bias(format) as i16;
    let nibble_piece = |nibbles: &[u8], quads: &mut [Quad]| {
        for (q, quad) in quads.iter_mut().enumerate().take(8) {
            let v = &nibbles[32 * (q % 4)..32 * (q % 4) + 32];
            for (w, byte) in quad.iter_mut().zip(v) {
                *w = i16::from(if q < 4 { byte & 0xF } else { byte >> 4 });
            }
        }
    };
    match format {
        QuantFormat::Q8_0 => {
            for (q, quad) in quads.iter_mut().enumerate() {
                for (w, byte) in quad.iter_mut().zip(&block[32 * q..32 * q + 32]) {
                    *w = i16::from(*byte as i8);
                }
            }
        }
        QuantFormat::IQ4NL | QuantFormat::IQ4XS => {
            for (piece, quads) in quads.chunks_exact_mut(8).enumerate() {
                nibble_piece(&block[at::IQ4XS_PIECE * piece..], quads);
                for w in quads.iter_mut().flatten() {
                    *w = i16::from(IQ4_NL_VALUES[*w as usize]);
                }
            }
        }
        QuantFormat::Q4_0 | QuantFormat::Q4_1 | QuantFormat::Q4K => {
            for (piece, quads) in quads.chunks_exact_mut(8).enumerate() {
                nibble_piece(&block[128 * piece..], quads);
                quads.iter_mut().flatten().for_each(|w| *w -= bias);
            }
        }
        QuantFormat::Q5_0 | QuantFormat::Q5_1 => {
            nibble_piece(block, quads);
            let high = &block[at::Q5_0_HIGH..at::Q5_0_HIGH + 32];
            for (q, quad) in quads.iter_mut().enumerate() {
                for (w, h) in quad.iter_mut().zip(high) {
                    *w = (*w | (i16::from((h >> q) & 1) << 4)) - bias;
                }
            }
        }
        QuantFormat::Q5K => {
            for (p, quads) in quads.chunks_exact_mut(8).enumerate() {
                let piece = &block[at::Q5K_PIECE * p..at::Q5K_PIECE * (p + 1)];
                nibble_piece(piece, quads);
                let high = &piece[at::Q5K_HIGH..at::Q5K_HIGH + 32];
                for (q, quad) in quads.iter_mut().enumerate() {
                    for (w, h) in quad.iter_mut().zip(high) {
                        *w |= i16::from((h >> q) & 1) << 4;
                    }
                }
            }
        }
        QuantFormat::Q2K | QuantFormat::Q3K => {
            // Bit pairs of quads 0-3 and 4-7; Q3_K adds a third bit.
            let (piece_bytes, third_at) = if format == QuantFormat::Q3K {
                (at::Q3K_PIECE, Some(at::Q3K_HIGH))
            } else {
                (at::Q2K_PIECE, None)
            };
            for (p, quads) in quads.chunks_exact_mut(8).enumerate() {
                let piece = &block[piece_bytes * p..piece_bytes * (p + 1)];
                for (q, quad) in quads.iter_mut().enumerate() {
                    let pairs = &piece[32 * (q / 4)..32 * (q / 4) + 32];
                    for (i, (w, l)) in quad.iter_mut().zip(pairs).enumerate() {
                        let third = third_at.map_or(0, |at| (piece[at + i] >> q) & 1);
                        *w = i16::from(((l >> (2 * (q % 4))) & 3) | (third << 2)) - bias;
                    }
                }
            }
        }
        QuantFormat::Q6K => {
            for (p, quads) in quads.chunks_exact_mut(8).enumerate() {
                let piece = &block[at::Q6K_PIECE * p..at::Q6K_PIECE * (p + 1)];
                nibble_piece(piece, quads);
                for (q, quad) in quads.iter_mut().enumerate() {
                    let high =
                        &piece[at::Q6K_HIGH + 32 * (q / 4)..at::Q6K_HIGH + 32 * (q / 4) + 32];
                    for (w, h) in quad.iter_mut().zip(high) {
                        *w = (*w | (i16::from((h >> (2 * (q % 4))) & 3) << 4)) - bias;
                    }
                }
            }
        }
    }
}
