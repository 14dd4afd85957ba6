//! The definition of every output, written plainly over the file's own bytes. The kernels
//! (`panels`, `tiles`) must give these bits; nothing fast runs here.
//!
//! For an activation row with block scales `D` (f16-rounded for 32-value blocks) and a
//! weight row, in block order, from `acc = 0`, with every integer sum exact in `i32` and
//! no multiply-add fused:
//!
//! ```text
//! Q4_0, Q5_0, Q8_0, IQ4_NL, per 32 values (scale s, weights w; IQ4_NL's looked up):
//!     acc += (s · D) · f32(Σ w·x)
//! Q4_1, Q5_1, per 32 values (scale s, minimum m, unsigned weights q):
//!     acc += (s · D) · f32(Σ q·x) + (m · D) · f32(Σ x)
//! Q4_K and Q5_K, per 256 (d, dmin; sub-blocks j of 32 with 6-bit scale sc_j, min m_j,
//! unsigned q of 4 or 5 bits):
//!     dot  = Σ_j sc_j · Σ_{i∈j} q_i·x_i
//!     mins = Σ_j m_j · Σ_{i∈j} x_i
//!     acc += (d · D) · f32(dot) − (dmin · D) · f32(mins)
//! Q2_K, per 256 (d, dmin; groups g of 16 with 4-bit scale sc_g and min m_g, 2-bit q):
//!     dot  = Σ_g sc_g · Σ_{i∈g} q_i·x_i
//!     mins = Σ_g m_g · Σ_{i∈g} x_i
//!     acc += (d · D) · f32(dot) − (dmin · D) · f32(mins)
//! Q3_K and Q6_K, per 256 (d; groups g of 16 with signed scale sc_g, unsigned q of 3 or
//! 6 bits, centred by c = 4 or 32):
//!     dot  = Σ_g sc_g · Σ_{i∈g} (q_i − c)·x_i
//!     acc += (d · D) · f32(dot)
//! IQ4_XS, per 256 (d; pieces j of 32 with signed scale ls_j − 32, looked-up values w):
//!     dot  = Σ_j (ls_j − 32) · Σ_{i∈j} w_i·x_i
//!     acc += (d · D) · f32(dot)
//! ```
//!
//! The k-quants' activations are quantized per 256 values ([`crate::K_ACT_BLOCK`]) so that
//! a super-block's scales fold in integers, as ggml's Q8_K does; `f32(dot)` rounds to
//! nearest when `|dot| > 2²⁴`, the same way everywhere.

use crate::activations::{ACT_BLOCK, QuantizedActivations};
use crate::format::{QuantFormat, f16_at, iq4_xs_scale, scale_min_k4};

/// `W_row · x_r` by the definition; `row` holds whole blocks of `format`.
pub(crate) fn dot(format: QuantFormat, row: &[u8], x: &QuantizedActivations, r: usize) -> f32 {
    let (quants, scales) = (x.quants(r), x.scales(r));
    let values = format.block_values();
    let mut acc = 0f32;
    let mut w = [0i8; ACT_BLOCK];
    for (b, block) in row.chunks_exact(format.block_bytes()).enumerate() {
        let x = &quants[b * values..(b + 1) * values];
        let big_d = scales[b];
        let piece_dot = |w: &[i8], x: &[i8]| -> i32 {
            w.iter()
                .zip(x)
                .map(|(a, b)| i32::from(*a) * i32::from(*b))
                .sum()
        };
        match format {
            QuantFormat::Q4_0 | QuantFormat::Q5_0 | QuantFormat::Q8_0 | QuantFormat::IQ4NL => {
                format.unpack(block, 0, &mut w);
                acc += (f16_at(block, 0) * big_d) * piece_dot(&w, x) as f32;
            }
            QuantFormat::Q4_1 | QuantFormat::Q5_1 => {
                format.unpack(block, 0, &mut w);
                let sum: i32 = x.iter().map(|v| i32::from(*v)).sum();
                let (s, m) = (f16_at(block, 0), f16_at(block, 2));
                acc += (s * big_d) * piece_dot(&w, x) as f32 + (m * big_d) * sum as f32;
            }
            QuantFormat::Q4K | QuantFormat::Q5K => {
                let (mut dot, mut mins) = (0i32, 0i32);
                for j in 0..8 {
                    let (sc, m) = scale_min_k4(j, &block[4..16]);
                    format.unpack(block, j, &mut w);
                    let xj = &x[32 * j..32 * j + 32];
                    dot += i32::from(sc) * piece_dot(&w, xj);
                    mins += i32::from(m) * xj.iter().map(|v| i32::from(*v)).sum::<i32>();
                }
                let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
                acc += (d * big_d) * dot as f32 - (dmin * big_d) * mins as f32;
            }
            QuantFormat::Q2K => {
                let (mut dot, mut mins) = (0i32, 0i32);
                for p in 0..8 {
                    format.unpack(block, p, &mut w);
                    for h in 0..2 {
                        let g = 2 * p + h;
                        let (sc, m) = (i32::from(block[g] & 0xF), i32::from(block[g] >> 4));
                        let xg = &x[16 * g..16 * g + 16];
                        dot += sc * piece_dot(&w[16 * h..16 * h + 16], xg);
                        mins += m * xg.iter().map(|v| i32::from(*v)).sum::<i32>();
                    }
                }
                let (d, dmin) = (f16_at(block, 80), f16_at(block, 82));
                acc += (d * big_d) * dot as f32 - (dmin * big_d) * mins as f32;
            }
            QuantFormat::Q3K | QuantFormat::Q6K => {
                let mut dot = 0i32;
                for p in 0..8 {
                    format.unpack(block, p, &mut w);
                    for h in 0..2 {
                        let g = 2 * p + h;
                        let sc = i32::from(format.group_scale(block, g));
                        dot += sc * piece_dot(&w[16 * h..16 * h + 16], &x[16 * g..16 * g + 16]);
                    }
                }
                acc += (f16_at(block, format.k_scale_d()) * big_d) * dot as f32;
            }
            QuantFormat::IQ4XS => {
                let mut dot = 0i32;
                for j in 0..8 {
                    format.unpack(block, j, &mut w);
                    let scale = i32::from(iq4_xs_scale(block, j));
                    dot += scale * piece_dot(&w, &x[32 * j..32 * j + 32]);
                }
                acc += (f16_at(block, 0) * big_d) * dot as f32;
            }
        }
    }
    acc
}
