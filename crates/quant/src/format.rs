//! The GGML block formats dial's kernels read, their layouts, dequantization (the
//! reference) and the integer-exact dot product of one block with activation blocks.
//!
//! | format | values per block | bytes | layout |
//! |---|---|---|---|
//! | Q4_0 | 32 | 18 | f16 `d`, 16 bytes of nibbles; `x = d · (q − 8)` |
//! | Q4_1 | 32 | 20 | f16 `d`, f16 `m`, 16 bytes of nibbles; `x = d · q + m` |
//! | Q5_0 | 32 | 22 | f16 `d`, u32 high bits, 16 bytes of nibbles; `x = d · (q − 16)` |
//! | Q5_1 | 32 | 24 | f16 `d`, f16 `m`, u32 high bits, 16 bytes of nibbles; `x = d · q + m` |
//! | Q8_0 | 32 | 34 | f16 `d`, 32 × i8; `x = d · q` |
//! | IQ4_NL | 32 | 18 | f16 `d`, 16 bytes of nibbles as Q4_0's; `x = d · K[q]`, `K` = [`IQ4_NL_VALUES`] |
//! | Q2_K | 256 | 84 | 16 bytes of 4-bit scales and mins (one byte per 16), 64 bytes of 2-bit pairs, f16 `d`, f16 `dmin`; `x = d·sc_g · q − dmin·m_g` per 16 |
//! | Q3_K | 256 | 110 | 32 bytes of third bits, 64 bytes of 2-bit pairs, 12 bytes of 16 packed 6-bit scales, f16 `d`; `x = d·(sc_g − 32) · (q − 4)` per 16 |
//! | Q4_K | 256 | 144 | f16 `d`, f16 `dmin`, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles; `x = d·sc_j · q − dmin·m_j` per 32 |
//! | Q5_K | 256 | 176 | as Q4_K, with 32 bytes of fifth bits (piece `j`'s at bit `j`) before the nibbles; `q` in 0..32 |
//! | IQ4_XS | 256 | 136 | f16 `d`, u16 high scale bits, 4 bytes of low scale nibbles, 128 bytes of nibbles (16 per 32); `x = d·(ls_j − 32) · K[q]` per 32, `ls_j` 6 bits |
//! | Q6_K | 256 | 210 | 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 × i8 scales, f16 `d`; `x = d·sc_g · (q − 32)` per 16 |

use crate::activations::{ACT_BLOCK, K_ACT_BLOCK};
use half::f16;

/// A GGML block format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantFormat {
    /// 4-bit, one scale per 32.
    Q4_0,
    /// 4-bit, one scale and one minimum per 32.
    Q4_1,
    /// 5-bit, one scale per 32.
    Q5_0,
    /// 5-bit, one scale and one minimum per 32.
    Q5_1,
    /// 8-bit, one scale per 32.
    Q8_0,
    /// 4-bit indices into a fixed non-linear table of 16 signed bytes, one scale per 32.
    IQ4NL,
    /// 2-bit k-quant: super-blocks of 256, 4-bit scales and mins per 16.
    Q2K,
    /// 3-bit k-quant: super-blocks of 256, 6-bit scales per 16.
    Q3K,
    /// 4-bit k-quant: super-blocks of 256, 6-bit scales and mins per 32.
    Q4K,
    /// 5-bit k-quant: Q4_K with a fifth bit per weight.
    Q5K,
    /// 6-bit k-quant: super-blocks of 256, 8-bit scales per 16.
    Q6K,
    /// IQ4_NL's values in super-blocks of 256, with a 6-bit scale per 32.
    IQ4XS,
}

/// IQ4_NL's 16 values (ggml's `kvalues_iq4nl`): a nibble `q` stands for `IQ4_NL_VALUES[q]`.
pub const IQ4_NL_VALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// IQ4_XS's signed scale of 32-value piece `p` (0..8): 4 low bits from byte `4 + p / 2`,
/// 2 high bits from the u16 at 2, less 32 (ggml's `dequantize_row_iq4_xs`).
pub(crate) fn iq4_xs_scale(block: &[u8], p: usize) -> i8 {
    let low = (block[4 + p / 2] >> (4 * (p % 2))) & 0xF;
    let high = (u16::from_le_bytes([block[2], block[3]]) >> (2 * p)) & 3;
    (low | ((high as u8) << 4)) as i8 - 32
}

pub(crate) fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// Q4_K's 6-bit scale and min of sub-block `j` (0..8), as ggml packs them.
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

impl QuantFormat {
    /// Every format.
    pub const ALL: [QuantFormat; 12] = [
        QuantFormat::Q4_0,
        QuantFormat::Q4_1,
        QuantFormat::Q5_0,
        QuantFormat::Q5_1,
        QuantFormat::Q8_0,
        QuantFormat::IQ4NL,
        QuantFormat::Q2K,
        QuantFormat::Q3K,
        QuantFormat::Q4K,
        QuantFormat::Q5K,
        QuantFormat::Q6K,
        QuantFormat::IQ4XS,
    ];

    /// The format of GGML type id `id` (GGUF's tensor type), if dial reads it.
    pub fn from_ggml(id: u32) -> Option<Self> {
        match id {
            2 => Some(QuantFormat::Q4_0),
            3 => Some(QuantFormat::Q4_1),
            6 => Some(QuantFormat::Q5_0),
            7 => Some(QuantFormat::Q5_1),
            8 => Some(QuantFormat::Q8_0),
            10 => Some(QuantFormat::Q2K),
            11 => Some(QuantFormat::Q3K),
            12 => Some(QuantFormat::Q4K),
            13 => Some(QuantFormat::Q5K),
            14 => Some(QuantFormat::Q6K),
            20 => Some(QuantFormat::IQ4NL),
            23 => Some(QuantFormat::IQ4XS),
            _ => None,
        }
    }

    /// GGML's name.
    pub fn name(self) -> &'static str {
        match self {
            QuantFormat::Q4_0 => "Q4_0",
            QuantFormat::Q4_1 => "Q4_1",
            QuantFormat::Q5_0 => "Q5_0",
            QuantFormat::Q5_1 => "Q5_1",
            QuantFormat::Q8_0 => "Q8_0",
            QuantFormat::IQ4NL => "IQ4_NL",
            QuantFormat::IQ4XS => "IQ4_XS",
            QuantFormat::Q2K => "Q2_K",
            QuantFormat::Q3K => "Q3_K",
            QuantFormat::Q4K => "Q4_K",
            QuantFormat::Q5K => "Q5_K",
            QuantFormat::Q6K => "Q6_K",
        }
    }

    /// Values per block.
    pub fn block_values(self) -> usize {
        match self {
            QuantFormat::Q2K
            | QuantFormat::Q3K
            | QuantFormat::Q4K
            | QuantFormat::Q5K
            | QuantFormat::Q6K
            | QuantFormat::IQ4XS => 256,
            _ => 32,
        }
    }

    /// Whether blocks carry a minimum added to every value (Q4_1, Q5_1): `x = d · q + m`.
    pub fn has_min(self) -> bool {
        matches!(self, QuantFormat::Q4_1 | QuantFormat::Q5_1)
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            QuantFormat::Q4_0 => 18,
            QuantFormat::Q4_1 => 20,
            QuantFormat::Q5_0 => 22,
            QuantFormat::Q5_1 => 24,
            QuantFormat::Q8_0 => 34,
            QuantFormat::IQ4NL => 18,
            QuantFormat::IQ4XS => 136,
            QuantFormat::Q2K => 84,
            QuantFormat::Q3K => 110,
            QuantFormat::Q4K => 144,
            QuantFormat::Q5K => 176,
            QuantFormat::Q6K => 210,
        }
    }

    /// Values per activation block the kernels take with this format: [`ACT_BLOCK`], or
    /// [`K_ACT_BLOCK`] for the k-quants, whose sub-block scales fold in integers over it.
    pub fn activation_block(self) -> usize {
        match self {
            QuantFormat::Q2K
            | QuantFormat::Q3K
            | QuantFormat::Q4K
            | QuantFormat::Q5K
            | QuantFormat::Q6K
            | QuantFormat::IQ4XS => K_ACT_BLOCK,
            _ => ACT_BLOCK,
        }
    }

    /// The signed integer weights of 32-value piece `p` of `block` (`p < block_values / 32`),
    /// with the offset of the 32-value formats, Q3_K and Q6_K applied (IQ4_NL's and IQ4_XS's
    /// looked up); for Q2_K, Q4_K, Q5_K, Q4_1 and Q5_1 the raw unsigned values (their
    /// minimums are added apart).
    pub(crate) fn unpack(self, block: &[u8], p: usize, out: &mut [i8; ACT_BLOCK]) {
        match self {
            QuantFormat::Q4_0 => {
                for j in 0..16 {
                    out[j] = (block[2 + j] & 0xF) as i8 - 8;
                    out[j + 16] = (block[2 + j] >> 4) as i8 - 8;
                }
            }
            QuantFormat::IQ4NL | QuantFormat::IQ4XS => {
                self.table_indexes(block, p, out);
                for v in out.iter_mut() {
                    *v = IQ4_NL_VALUES[*v as usize];
                }
            }
            QuantFormat::Q4_1 => {
                for j in 0..16 {
                    out[j] = (block[4 + j] & 0xF) as i8;
                    out[j + 16] = (block[4 + j] >> 4) as i8;
                }
            }
            QuantFormat::Q5_0 | QuantFormat::Q5_1 => {
                // Q5_1's bits sit after its minimum; Q5_0's values are centred on 16.
                let (at, centre) = if self == QuantFormat::Q5_0 {
                    (2, 16)
                } else {
                    (4, 0)
                };
                let qh =
                    u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
                let qs = &block[at + 4..at + 20];
                for j in 0..16 {
                    let low = ((qh >> j) << 4) & 0x10;
                    let high = (qh >> (j + 12)) & 0x10;
                    out[j] = ((u32::from(qs[j] & 0xF) | low) as i8) - centre;
                    out[j + 16] = ((u32::from(qs[j] >> 4) | high) as i8) - centre;
                }
            }
            QuantFormat::Q8_0 => {
                for (o, b) in out.iter_mut().zip(&block[2..34]) {
                    *o = *b as i8;
                }
            }
            QuantFormat::Q4K => {
                let qs = &block[16 + 32 * (p / 2)..16 + 32 * (p / 2) + 32];
                for (o, b) in out.iter_mut().zip(qs) {
                    *o = if p.is_multiple_of(2) { b & 0xF } else { b >> 4 } as i8;
                }
            }
            QuantFormat::Q2K => {
                let qs = &block[16 + 32 * (p / 4)..16 + 32 * (p / 4) + 32];
                for (o, q) in out.iter_mut().zip(qs) {
                    *o = ((q >> (2 * (p % 4))) & 3) as i8;
                }
            }
            QuantFormat::Q3K => {
                // Piece p: 2-bit pairs at bits 2(p mod 4) of the 32 bytes of half p / 4,
                // the third bit at bit p of the high-bit bytes; stored off by 4.
                let qs = &block[32 + 32 * (p / 4)..32 + 32 * (p / 4) + 32];
                let hm = &block[..32];
                for ((o, q), h) in out.iter_mut().zip(qs).zip(hm) {
                    let low = (q >> (2 * (p % 4))) & 3;
                    *o = (low | (((h >> p) & 1) << 2)) as i8 - 4;
                }
            }
            QuantFormat::Q5K => {
                let qs = &block[48 + 32 * (p / 2)..48 + 32 * (p / 2) + 32];
                let qh = &block[16..48];
                for ((o, b), h) in out.iter_mut().zip(qs).zip(qh) {
                    let low = if p.is_multiple_of(2) { b & 0xF } else { b >> 4 };
                    *o = (low | (((h >> p) & 1) << 4)) as i8;
                }
            }
            QuantFormat::Q6K => {
                // Piece p covers values 32p..32p+32: half h = p / 4, quarter g = p % 4.
                let (h, g) = (p / 4, p % 4);
                let ql = &block[64 * h..64 * h + 64];
                let qh = &block[128 + 32 * h..128 + 32 * h + 32];
                for l in 0..32 {
                    let low = match g {
                        0 => ql[l] & 0xF,
                        1 => ql[l + 32] & 0xF,
                        2 => ql[l] >> 4,
                        _ => ql[l + 32] >> 4,
                    };
                    let high = (qh[l] >> (2 * g)) & 3;
                    out[l] = (low | (high << 4)) as i8 - 32;
                }
            }
        }
    }

    /// IQ4_NL's and IQ4_XS's 4-bit table indexes of piece `p` (what [`IQ4_NL_VALUES`] is
    /// indexed by), in value order; the other formats have none.
    pub(crate) fn table_indexes(self, block: &[u8], p: usize, out: &mut [i8; ACT_BLOCK]) {
        let qs = match self {
            QuantFormat::IQ4NL => &block[2..18],
            QuantFormat::IQ4XS => &block[8 + 16 * p..8 + 16 * p + 16],
            _ => return,
        };
        for j in 0..16 {
            out[j] = (qs[j] & 0xF) as i8;
            out[j + 16] = (qs[j] >> 4) as i8;
        }
    }

    /// Dequantizes one block into `out` (`block_values` floats), as ggml does.
    pub fn dequantize_block(self, block: &[u8], out: &mut [f32]) {
        let mut q = [0i8; ACT_BLOCK];
        match self {
            QuantFormat::Q4_0 | QuantFormat::Q5_0 | QuantFormat::Q8_0 | QuantFormat::IQ4NL => {
                let d = f16_at(block, 0);
                self.unpack(block, 0, &mut q);
                for (o, v) in out.iter_mut().zip(q) {
                    *o = f32::from(v) * d;
                }
            }
            QuantFormat::Q4_1 | QuantFormat::Q5_1 => {
                let (d, m) = (f16_at(block, 0), f16_at(block, 2));
                self.unpack(block, 0, &mut q);
                for (o, v) in out.iter_mut().zip(q) {
                    *o = f32::from(v) * d + m;
                }
            }
            QuantFormat::Q2K => {
                let (d, dmin) = (f16_at(block, 80), f16_at(block, 82));
                for p in 0..8 {
                    self.unpack(block, p, &mut q);
                    for (i, (o, v)) in out[32 * p..32 * p + 32].iter_mut().zip(q).enumerate() {
                        let sc = block[(32 * p + i) / 16];
                        *o = d * f32::from(sc & 0xF) * f32::from(v) - dmin * f32::from(sc >> 4);
                    }
                }
            }
            QuantFormat::Q4K | QuantFormat::Q5K => {
                let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
                for p in 0..8 {
                    let (sc, m) = scale_min_k4(p, &block[4..16]);
                    let (d1, m1) = (d * f32::from(sc), dmin * f32::from(m));
                    self.unpack(block, p, &mut q);
                    for (o, v) in out[32 * p..32 * p + 32].iter_mut().zip(q) {
                        *o = d1 * f32::from(v) - m1;
                    }
                }
            }
            QuantFormat::IQ4XS => {
                let d = f16_at(block, 0);
                for p in 0..8 {
                    let dl = d * f32::from(iq4_xs_scale(block, p));
                    self.unpack(block, p, &mut q);
                    for (o, v) in out[32 * p..32 * p + 32].iter_mut().zip(q) {
                        *o = dl * f32::from(v);
                    }
                }
            }
            QuantFormat::Q3K | QuantFormat::Q6K => {
                let d = f16_at(block, self.k_scale_d());
                for p in 0..8 {
                    self.unpack(block, p, &mut q);
                    for (i, (o, v)) in out[32 * p..32 * p + 32].iter_mut().zip(q).enumerate() {
                        let sc = self.group_scale(block, (32 * p + i) / 16);
                        *o = d * f32::from(sc) * f32::from(v);
                    }
                }
            }
        }
    }

    /// Piece `p` of `block` in the kernels' form: 32 signed integer weights, and the scale
    /// and the offset per unit of activation of each 4-value lane (the k-quants' mins, Q4_1's
    /// and Q5_1's negated minimums; 0 otherwise), so that value `j` is
    /// `lane_scales[j / 4] · weights[j] − offsets[j / 4]`.
    pub(crate) fn unpack_piece(self, block: &[u8], p: usize, piece: &mut Piece) {
        self.unpack(block, p, &mut piece.weights);
        match self {
            QuantFormat::Q4_0 | QuantFormat::Q5_0 | QuantFormat::Q8_0 | QuantFormat::IQ4NL => {
                piece.lane_scales = [f16_at(block, 0); 8];
                piece.offsets = [0.0; 8];
            }
            QuantFormat::Q4_1 | QuantFormat::Q5_1 => {
                piece.lane_scales = [f16_at(block, 0); 8];
                piece.offsets = [-f16_at(block, 2); 8];
            }
            QuantFormat::Q4K | QuantFormat::Q5K => {
                let (sc, m) = scale_min_k4(p, &block[4..16]);
                piece.lane_scales = [f16_at(block, 0) * f32::from(sc); 8];
                piece.offsets = [f16_at(block, 2) * f32::from(m); 8];
            }
            QuantFormat::Q2K => {
                let (d, dmin) = (f16_at(block, 80), f16_at(block, 82));
                let (first, second) = (block[2 * p], block[2 * p + 1]);
                let (a, b) = (d * f32::from(first & 0xF), d * f32::from(second & 0xF));
                piece.lane_scales = [a, a, a, a, b, b, b, b];
                let (a, b) = (dmin * f32::from(first >> 4), dmin * f32::from(second >> 4));
                piece.offsets = [a, a, a, a, b, b, b, b];
            }
            QuantFormat::Q3K | QuantFormat::Q6K => {
                let d = f16_at(block, self.k_scale_d());
                let first = d * f32::from(self.group_scale(block, 2 * p));
                let second = d * f32::from(self.group_scale(block, 2 * p + 1));
                piece.lane_scales = [first, first, first, first, second, second, second, second];
                piece.offsets = [0.0; 8];
            }
            QuantFormat::IQ4XS => {
                piece.lane_scales = [f16_at(block, 0) * f32::from(iq4_xs_scale(block, p)); 8];
                piece.offsets = [0.0; 8];
            }
        }
    }

    /// Q3_K's and Q6_K's signed scale of 16-value group `g` (0..16): Q6_K's bytes as
    /// they are; Q3_K's 6-bit values unpacked as ggml does, less 32.
    pub(crate) fn group_scale(self, block: &[u8], g: usize) -> i8 {
        if self == QuantFormat::Q3K {
            let s = &block[96..108];
            let low = if g < 8 { s[g] & 0xF } else { s[g - 8] >> 4 };
            let high = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
            (low | (high << 4)) as i8 - 32
        } else {
            block[192 + g] as i8
        }
    }

    /// Where Q3_K's and Q6_K's f16 `d` lies in a block.
    pub(crate) fn k_scale_d(self) -> usize {
        if self == QuantFormat::Q3K { 108 } else { 208 }
    }

    /// Whether pieces carry an offset (the k-quants' mins, Q4_1's and Q5_1's minimums).
    pub(crate) fn has_offset(self) -> bool {
        matches!(self, QuantFormat::Q2K | QuantFormat::Q4K | QuantFormat::Q5K) || self.has_min()
    }
}

/// 32 weights in the kernels' form; see [`QuantFormat::unpack_piece`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Piece {
    pub weights: [i8; ACT_BLOCK],
    pub lane_scales: [f32; 8],
    pub offsets: [f32; 8],
}
