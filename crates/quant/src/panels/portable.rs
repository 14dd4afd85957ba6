//! The panel kernel in portable Rust, for every CPU without a SIMD path: fixed-width lane
//! arrays that LLVM vectorizes. Each block's weights are unpacked once for all activation
//! rows; the sums are the reference's, lane by lane.

use super::{PANEL_ROWS, at, bias, block_bytes};
use crate::activations::QuantizedActivations;
use crate::format::QuantFormat;
use half::f16;

/// 8 lanes, one per weight row.
type Lanes<T> = [T; PANEL_ROWS];

/// A quad vector's signed weights: lane `r`'s 4 at `4r .. 4r + 4`.
type Quad = [i16; 4 * PANEL_ROWS];

/// `sums[r][j] = W[j] · x_r` for one panel (see `super`).
pub(super) fn panel(
    format: QuantFormat,
    panel: &[u8],
    x: &QuantizedActivations,
    sums: &mut [Lanes<f32>],
) {
    sums.iter_mut().for_each(|s| *s = [0.0; PANEL_ROWS]);
    let values = format.block_values();
    let mut quads = [[0i16; 4 * PANEL_ROWS]; 64];
    for (b, block) in panel.chunks_exact(block_bytes(format)).enumerate() {
        unpack(format, block, &mut quads[..values / 4]);
        for (r, acc) in sums.iter_mut().enumerate() {
            let xq = &x.quants(r)[b * values..(b + 1) * values];
            let big_d = x.scales(r)[b];
            let c = match format {
                QuantFormat::Q4_0 | QuantFormat::Q5_0 | QuantFormat::Q8_0 => {
                    let scales = f16_lanes(&block[block_bytes(format) - 16..]);
                    let dot = quad_dots(&quads[..8], xq);
                    lanes(|j| (scales[j] * big_d) * dot[j] as f32)
                }
                QuantFormat::Q4K => {
                    let (mut dot, mut mins) = ([0i32; PANEL_ROWS], [0i32; PANEL_ROWS]);
                    for sub in 0..8 {
                        let inner = quad_dots(&quads[8 * sub..8 * sub + 8], &xq[32 * sub..]);
                        let sum: i32 = xq[32 * sub..32 * sub + 32]
                            .iter()
                            .map(|v| i32::from(*v))
                            .sum();
                        for j in 0..PANEL_ROWS {
                            let sc = i32::from(block[at::Q4K_SCALES + 8 * sub + j]);
                            let m =
                                i32::from(block[at::Q4K_MINS + 16 * (sub / 2) + 2 * j + sub % 2]);
                            dot[j] += sc * inner[j];
                            mins[j] += m * sum;
                        }
                    }
                    let (d, dmin) = (
                        f16_lanes(&block[at::Q4K_D..]),
                        f16_lanes(&block[at::Q4K_DMIN..]),
                    );
                    lanes(|j| (d[j] * big_d) * dot[j] as f32 - (dmin[j] * big_d) * mins[j] as f32)
                }
                QuantFormat::Q6K => {
                    let mut dot = [0i32; PANEL_ROWS];
                    for g in 0..16 {
                        let inner = quad_dots(&quads[4 * g..4 * g + 4], &xq[16 * g..]);
                        for (j, d) in dot.iter_mut().enumerate() {
                            *d += i32::from(block[at::Q6K_SCALES + 8 * g + j] as i8) * inner[j];
                        }
                    }
                    let d = f16_lanes(&block[at::Q6K_D..]);
                    lanes(|j| (d[j] * big_d) * dot[j] as f32)
                }
            };
            for (a, c) in acc.iter_mut().zip(c) {
                *a += c;
            }
        }
    }
}

fn lanes<T>(f: impl FnMut(usize) -> T) -> Lanes<T> {
    std::array::from_fn(f)
}

fn f16_lanes(bytes: &[u8]) -> Lanes<f32> {
    lanes(|j| f16::from_le_bytes([bytes[2 * j], bytes[2 * j + 1]]).to_f32())
}

/// `Σ_q Σ_i quads[q][4j + i] · x[4q + i]` for each lane `j` (exact). Written as sums of
/// adjacent products in 32-bit lanes, which LLVM turns into `pmaddwd` (or its kin) and
/// vertical adds; the 8 lanes are taken from them once at the end.
#[inline]
fn quad_dots(quads: &[Quad], x: &[i8]) -> Lanes<i32> {
    let mut pairs = [0i32; 2 * PANEL_ROWS];
    for (w, x) in quads.iter().zip(x.chunks_exact(4)) {
        let x: [i32; 4] = std::array::from_fn(|i| i32::from(x[i]));
        for (u, p) in pairs.iter_mut().enumerate() {
            let (even, odd) = (2 * u % 4, (2 * u + 1) % 4);
            *p += i32::from(w[2 * u]) * x[even] + i32::from(w[2 * u + 1]) * x[odd];
        }
    }
    lanes(|j| pairs[2 * j] + pairs[2 * j + 1])
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
        QuantFormat::Q4_0 | QuantFormat::Q4K => {
            for (piece, quads) in quads.chunks_exact_mut(8).enumerate() {
                nibble_piece(&block[128 * piece..], quads);
                quads.iter_mut().flatten().for_each(|w| *w -= bias);
            }
        }
        QuantFormat::Q5_0 => {
            nibble_piece(block, quads);
            let high = &block[at::Q5_0_HIGH..at::Q5_0_HIGH + 32];
            for (q, quad) in quads.iter_mut().enumerate() {
                for (w, h) in quad.iter_mut().zip(high) {
                    *w = (*w | (i16::from((h >> q) & 1) << 4)) - bias;
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
