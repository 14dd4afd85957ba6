//! Weight rows in panels of 8, laid out at load for the portable, AVX2 and NEON kernels:
//! each kernel lane is one weight row, so a lane computes exactly the reference's sums
//! (`reference.rs`) for its row, and a panel is read once for every activation row of a
//! step.
//!
//! A *quad vector* is 32 bytes: 4 consecutive weights of each of the 8 rows, row `r` at
//! bytes `4r .. 4r + 4`. A panel stores each format block of its 8 rows as:
//!
//! | format | bytes | layout |
//! |---|---|---|
//! | Q8_0 | 272 | 8 quad vectors of signed weights; 8 × f16 scale |
//! | IQ4_NL | 144 | 4 nibble vectors of the table indexes `q` (as Q4_0's); 8 × f16 scale |
//! | Q4_0 | 144 | 4 nibble vectors (vector `v`: quad `v` in the low nibbles, quad `v + 4` in the high ones) of `q + 8`; 8 × f16 scale |
//! | Q4_1 | 160 | 4 nibble vectors of `q`; 8 × f16 scale; 8 × f16 minimum |
//! | Q5_0 | 176 | 4 nibble vectors of the low 4 bits of `q + 16`; 1 vector whose byte bit `j` is bit 4 of quad `j`; 8 × f16 scale |
//! | Q5_1 | 192 | as Q5_0, of `q`; 8 × f16 scale; 8 × f16 minimum |
//! | Q2_K | 800 | per 32 values 2 vectors of bit pairs (as Q3_K's); scales `[group][row]`; mins `[group][row]`; 8 × f16 `d`, 8 × f16 `dmin` |
//! | Q3_K | 912 | per 32 values 2 vectors of the low bit pairs of `q + 4` (quads 0–3 and 4–7, quad `j` at bits `2j`) and 1 of their third bits (as Q5_0's fifth); scales `[group][row]`; 8 × f16 `d` |
//! | Q4_K | 1184 | per sub-block 4 nibble vectors; scales `[sub][row]`; mins `[pair][row][2]`; 8 × f16 `d`, 8 × f16 `dmin` |
//! | Q5_K | 1440 | per sub-block 4 nibble vectors and 1 vector of fifth bits (as Q5_0); then as Q4_K |
//! | IQ4_XS | 1104 | per 32 values 4 nibble vectors of the table indexes `q`; scales `ls − 32` `[piece][row]`; 8 × f16 `d` |
//! | Q6_K | 1680 | per 32 values 4 nibble vectors of the low bits of `q + 32` and 2 vectors of their 2 high bits (quads 0–3 and 4–7, quad `j` at bits `2j`); scales `[group][row]`; 8 × f16 `d` |
//!
//! Stored weights are unsigned (the format's bias added; Q8_0, Q4_1, Q5_1, Q2_K, Q4_K and
//! Q5_K have none; the IQ4s store table indexes, looked up in the kernel), so the
//! x86 kernels multiply them by signed activations with `vpmaddubsw`, without saturation
//! (|w| ≤ 63, |x| ≤ 127; Q8_0 and the IQ4s' values move the sign onto the activations), and take the bias
//! back out with the activations' sums. Every integer sum is exact, so each lane's result
//! is the reference's. The layouts are as compact as the file's blocks.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "aarch64")]
mod neon;
mod portable;

use crate::activations::QuantizedActivations;
use crate::bytes::WeightBytes;
use crate::format::{QuantFormat, iq4_xs_scale, scale_min_k4};
use crate::isa::Isa;
use crate::target::Target;
use rayon::prelude::*;

/// Weight rows per panel: one output per 32-bit lane of a 256-bit register.
pub(crate) const PANEL_ROWS: usize = 8;

/// Where each format's pieces lie in a panel block.
pub(crate) mod at {
    /// 32-value formats: the f16 scales after the weights.
    pub const Q8_0_SCALES: usize = 256;
    pub const Q4_0_SCALES: usize = 128;
    pub const Q4_1_SCALES: usize = 128;
    pub const Q4_1_MINS: usize = 144;
    pub const Q5_0_HIGH: usize = 128;
    pub const Q5_0_SCALES: usize = 160;
    pub const Q5_1_SCALES: usize = 160;
    pub const Q5_1_MINS: usize = 176;
    /// Q4_K: nibbles of sub-block `j` at `128 j`.
    pub const Q4K_SCALES: usize = 1024;
    pub const Q4K_MINS: usize = 1088;
    pub const Q4K_D: usize = 1152;
    pub const Q4K_DMIN: usize = 1168;
    /// Q2_K: 32 values at `64 p`: bit pairs.
    pub const Q2K_PIECE: usize = 64;
    pub const Q2K_SCALES: usize = 512;
    pub const Q2K_MINS: usize = 640;
    pub const Q2K_D: usize = 768;
    pub const Q2K_DMIN: usize = 784;
    /// Q3_K: 32 values at `96 p`: low pairs, then the third bits at `+ 64`.
    pub const Q3K_PIECE: usize = 96;
    pub const Q3K_HIGH: usize = 64;
    pub const Q3K_SCALES: usize = 768;
    pub const Q3K_D: usize = 896;
    /// Q5_K: sub-block `j` at `160 j`: nibbles, then its fifth bits at `+ 128`.
    pub const Q5K_PIECE: usize = 160;
    pub const Q5K_HIGH: usize = 128;
    pub const Q5K_SCALES: usize = 1280;
    pub const Q5K_MINS: usize = 1344;
    pub const Q5K_D: usize = 1408;
    pub const Q5K_DMIN: usize = 1424;
    /// Q6_K: 32 values at `192 p`: nibbles, then the high pairs at `+ 128`.
    pub const Q6K_PIECE: usize = 192;
    pub const Q6K_HIGH: usize = 128;
    pub const Q6K_SCALES: usize = 1536;
    pub const Q6K_D: usize = 1664;
    /// IQ4_NL: as Q4_0.
    pub const IQ4NL_SCALES: usize = 128;
    /// IQ4_XS: 32 values at `128 p`: 4 nibble vectors.
    pub const IQ4XS_PIECE: usize = 128;
    pub const IQ4XS_SCALES: usize = 1024;
    pub const IQ4XS_D: usize = 1088;
}

/// Bytes of one format block of a panel.
pub(crate) fn block_bytes(format: QuantFormat) -> usize {
    match format {
        QuantFormat::Q8_0 => 272,
        QuantFormat::Q4_0 | QuantFormat::IQ4NL => 144,
        QuantFormat::Q4_1 => 160,
        QuantFormat::Q5_0 => 176,
        QuantFormat::Q5_1 => 192,
        QuantFormat::Q2K => 800,
        QuantFormat::Q3K => 912,
        QuantFormat::Q4K => 1184,
        QuantFormat::Q5K => 1440,
        QuantFormat::Q6K => 1680,
        QuantFormat::IQ4XS => 1104,
    }
}

/// Where a 32-value format's f16 scales (and minimums, for Q4_1 and Q5_1) lie in its
/// panel block.
pub(crate) fn scales_and_mins(format: QuantFormat) -> (usize, Option<usize>) {
    match format {
        QuantFormat::Q4_0 => (at::Q4_0_SCALES, None),
        QuantFormat::IQ4NL => (at::IQ4NL_SCALES, None),
        QuantFormat::Q4_1 => (at::Q4_1_SCALES, Some(at::Q4_1_MINS)),
        QuantFormat::Q5_0 => (at::Q5_0_SCALES, None),
        QuantFormat::Q5_1 => (at::Q5_1_SCALES, Some(at::Q5_1_MINS)),
        _ => (at::Q8_0_SCALES, None),
    }
}

/// What the layout adds to each signed weight to store it unsigned.
pub(crate) fn bias(format: QuantFormat) -> i32 {
    match format {
        QuantFormat::Q8_0
        | QuantFormat::IQ4NL
        | QuantFormat::IQ4XS
        | QuantFormat::Q2K
        | QuantFormat::Q4K
        | QuantFormat::Q5K
        | QuantFormat::Q4_1
        | QuantFormat::Q5_1 => 0,
        QuantFormat::Q3K => 4,
        QuantFormat::Q4_0 => 8,
        QuantFormat::Q5_0 => 16,
        QuantFormat::Q6K => 32,
    }
}

/// Where a 4- or 5-bit k-quant's pieces lie in its panel block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KLayout {
    /// Bytes from one sub-block's weights to the next.
    pub piece: usize,
    /// The fifth bits' vector within a sub-block (Q5_K).
    pub high: Option<usize>,
    pub scales: usize,
    pub mins: usize,
    pub d: usize,
    pub dmin: usize,
}

/// Q4_K's and Q5_K's panel layouts.
pub(crate) fn k_layout(format: QuantFormat) -> KLayout {
    if format == QuantFormat::Q5K {
        KLayout {
            piece: at::Q5K_PIECE,
            high: Some(at::Q5K_HIGH),
            scales: at::Q5K_SCALES,
            mins: at::Q5K_MINS,
            d: at::Q5K_D,
            dmin: at::Q5K_DMIN,
        }
    } else {
        KLayout {
            piece: 128,
            high: None,
            scales: at::Q4K_SCALES,
            mins: at::Q4K_MINS,
            d: at::Q4K_D,
            dmin: at::Q4K_DMIN,
        }
    }
}

/// Each row's bit `bit` of 32-value piece `p` as one vector: byte `4r + i`'s bit `q` is
/// bit `bit` of quad `q`'s value `i` in row `r` (Q5's fifth bits, Q3_K's third).
fn bit_vector(w: &[[u8; 256]; PANEL_ROWS], p: usize, bit: u8, out: &mut [u8]) {
    for (r, row) in w.iter().enumerate() {
        for i in 0..4 {
            out[4 * r + i] = (0..8)
                .map(|q| ((row[32 * p + 4 * q + i] >> bit) & 1) << q)
                .sum();
        }
    }
}

/// Each row's bits `shift, shift + 1` of piece `p` as 2 vectors (quads 0–3, then 4–7):
/// byte `4r + i`'s bits `2j, 2j + 1` hold quad `4·half + j`'s value `i` in row `r`.
fn pair_vectors(w: &[[u8; 256]; PANEL_ROWS], p: usize, shift: u8, out: &mut [u8]) {
    for (r, row) in w.iter().enumerate() {
        for half in 0..2 {
            for i in 0..4 {
                out[32 * half + 4 * r + i] = (0..4)
                    .map(|j| ((row[32 * p + 4 * (4 * half + j) + i] >> shift) & 3) << (2 * j))
                    .sum();
            }
        }
    }
}

/// A matrix's rows as panels (the last padded with zero rows).
#[derive(Debug, Clone)]
pub(crate) struct Panels {
    format: QuantFormat,
    n: usize,
    k: usize,
    bytes: Zeroed,
    panel_bytes: usize,
}

/// Zeroed bytes for the panels: anonymous memory on huge pages where the kernel gives
/// them (decode streams every panel once a token, and 4 KiB pages cost a TLB miss and a
/// pause of the hardware prefetcher each), else a vector.
#[derive(Debug)]
enum Zeroed {
    /// The map and the length asked for (a map is never empty).
    Mapped(memmap2::MmapMut, usize),
    Owned(Vec<u8>),
}

impl Zeroed {
    fn new(len: usize) -> Zeroed {
        match memmap2::MmapMut::map_anon(len.max(1)) {
            Ok(map) => {
                // Before the first write, so that its faults take huge pages.
                #[cfg(target_os = "linux")]
                let _ = map.advise(memmap2::Advice::HugePage);
                Zeroed::Mapped(map, len)
            }
            Err(_) => Zeroed::Owned(vec![0; len]),
        }
    }
}

impl Clone for Zeroed {
    fn clone(&self) -> Zeroed {
        let mut copy = Zeroed::new(self.len());
        copy.copy_from_slice(self);
        copy
    }
}

impl std::ops::Deref for Zeroed {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Zeroed::Mapped(map, len) => &map[..*len],
            Zeroed::Owned(bytes) => bytes,
        }
    }
}

impl std::ops::DerefMut for Zeroed {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Zeroed::Mapped(map, len) => &mut map[..*len],
            Zeroed::Owned(bytes) => bytes,
        }
    }
}

impl Panels {
    /// Lays out `n` rows of `k` values of `format` from `bytes`, slab by slab, letting a
    /// mapped file's pages go once each slab is laid out.
    pub(crate) fn build(format: QuantFormat, n: usize, k: usize, bytes: &WeightBytes) -> Panels {
        let blocks = k / format.block_values();
        let panel_bytes = blocks * block_bytes(format);
        let row_bytes = blocks * format.block_bytes();
        let panels = n.div_ceil(PANEL_ROWS);
        let mut out = Zeroed::new(panels * panel_bytes);
        // 512 panels (4096 rows) per slab.
        let slab = 512;
        for (s, slab_out) in out.chunks_mut((panel_bytes * slab).max(1)).enumerate() {
            slab_out
                .par_chunks_mut(panel_bytes.max(1))
                .enumerate()
                .for_each(|(p, panel)| {
                    let first = (s * slab + p) * PANEL_ROWS;
                    let rows = (n - first).min(PANEL_ROWS);
                    for (b, out) in panel.chunks_exact_mut(block_bytes(format)).enumerate() {
                        let mut row_blocks: [&[u8]; PANEL_ROWS] = [&[]; PANEL_ROWS];
                        for (r, slot) in row_blocks.iter_mut().enumerate().take(rows) {
                            let at = (first + r) * row_bytes + b * format.block_bytes();
                            *slot = &bytes[at..at + format.block_bytes()];
                        }
                        lay_out_block(format, &row_blocks[..rows], out);
                    }
                });
            let rows = (s * slab * PANEL_ROWS)..((s + 1) * slab * PANEL_ROWS).min(n);
            bytes.release(rows.start * row_bytes..rows.end * row_bytes);
        }
        Panels {
            format,
            n,
            k,
            bytes: out,
            panel_bytes,
        }
    }

    /// `out[r · n + i] = W[i] · x_r` on `isa`'s panel kernel (AVX-512 runs AVX2's); the
    /// caller has checked the shapes and that `isa` is available.
    pub(crate) fn matmul(&self, isa: Isa, x: &QuantizedActivations, out: &mut [f32]) {
        let rows = x.rows();
        let n = self.n;
        let target = Target(out.as_mut_ptr());
        let run = |sums: &mut Vec<[f32; PANEL_ROWS]>, p: usize| {
            let panel = &self.bytes[p * self.panel_bytes..(p + 1) * self.panel_bytes];
            sums.resize(rows, [0.0; PANEL_ROWS]);
            kernel(isa, self.format, panel, x, sums);
            let first = p * PANEL_ROWS;
            let columns = (n - first).min(PANEL_ROWS);
            let out = target.pointer();
            for (r, lanes) in sums.iter().enumerate() {
                // SAFETY: panel p alone writes columns `first .. first + columns` of each
                // of the `rows` output rows, all inside `out` (`rows · n` values).
                unsafe {
                    std::ptr::copy_nonoverlapping(lanes.as_ptr(), out.add(r * n + first), columns)
                };
            }
        };
        let panels = n.div_ceil(PANEL_ROWS);
        // Under about a million products a hand-off to another thread costs more than it
        // saves; above, enough panels per task that each is worth one (about 64 Ki).
        let products = PANEL_ROWS * panels * self.k * rows;
        if products < 1 << 20 {
            let mut sums = Vec::new();
            (0..panels).for_each(|p| run(&mut sums, p));
        } else {
            let per_task = (65_536 / (PANEL_ROWS * self.k * rows).max(1)).max(1);
            (0..panels)
                .into_par_iter()
                .with_min_len(per_task)
                .for_each_init(Vec::new, run);
        }
    }
}

/// A group of activation rows as the SIMD kernels read them: row `r`'s values at
/// `quants + r·k`, its block scales at `scales + r·k/block`, its sums of 16 at
/// `sums16 + r·k/16`. Each kernel adds its own broadcasts.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) struct Rows {
    quants: *const i8,
    scales: *const f32,
    sums16: *const i32,
    k: usize,
    block: usize,
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
impl Rows {
    /// Rows `first ..` of `x`.
    pub(crate) fn new(x: &QuantizedActivations, first: usize) -> Rows {
        Rows {
            quants: x.quants(first).as_ptr(),
            scales: x.scales(first).as_ptr(),
            sums16: x.sums16(first).as_ptr(),
            k: x.k(),
            block: x.block(),
        }
    }

    /// Row `r`'s 4 activations from value `at`, as one word.
    ///
    /// # Safety
    /// Row `r` is one of the group's, and `at + 4 ≤ k`.
    #[inline]
    pub(crate) unsafe fn quad_word(&self, r: usize, at: usize) -> i32 {
        // SAFETY: as the caller promises.
        unsafe {
            self.quants
                .add(r * self.k + at)
                .cast::<i32>()
                .read_unaligned()
        }
    }

    /// Row `r`'s scale of block `b`.
    ///
    /// # Safety
    /// Row `r` is one of the group's, and `b < k / block`.
    #[inline]
    pub(crate) unsafe fn scale_of(&self, r: usize, b: usize) -> f32 {
        // SAFETY: as the caller promises.
        unsafe { *self.scales.add(r * (self.k / self.block) + b) }
    }

    /// Row `r`'s sum of values `16 s .. 16 s + 16·n`.
    ///
    /// # Safety
    /// Row `r` is one of the group's, and `s + n ≤ k / 16`.
    #[inline]
    pub(crate) unsafe fn sum(&self, r: usize, s: usize, n: usize) -> i32 {
        // SAFETY: as the caller promises.
        (0..n)
            .map(|i| unsafe { *self.sums16.add(r * (self.k / 16) + s + i) })
            .sum()
    }
}

/// One panel against every activation row: `sums[r][j] = W[8p + j] · x_r`.
fn kernel(
    isa: Isa,
    format: QuantFormat,
    panel: &[u8],
    x: &QuantizedActivations,
    sums: &mut [[f32; PANEL_ROWS]],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: callers only pass an ISA from `Isa::available`; both x86 ones have AVX2
        // and F16C.
        Isa::Avx2 | Isa::Avx512Vnni => unsafe { avx2::panel(format, panel, x, sums) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: callers only pass an ISA from `Isa::available`, which lists NEON with
        // the dot-product extension only where this CPU has it.
        Isa::NeonDot => unsafe { neon::panel_sdot(format, panel, x, sums) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above, and i8mm only where this CPU has both.
        Isa::NeonI8mm => unsafe { neon::panel_smmla(format, panel, x, sums) },
        _ => portable::panel(format, panel, x, sums),
    }
}

/// One format block of up to 8 rows (`blocks`, the rest zero) into a panel block `out`
/// (zeroed).
fn lay_out_block(format: QuantFormat, blocks: &[&[u8]], out: &mut [u8]) {
    let values = format.block_values();
    // The stored (unsigned) weights of each row.
    let mut w = [[0u8; 256]; PANEL_ROWS];
    let bias = bias(format);
    for (r, block) in blocks.iter().enumerate() {
        let mut piece = [0i8; 32];
        for p in 0..values / 32 {
            // The IQ4s keep their table indexes: the kernels look the values up.
            if matches!(format, QuantFormat::IQ4NL | QuantFormat::IQ4XS) {
                format.table_indexes(block, p, &mut piece);
            } else {
                format.unpack(block, p, &mut piece);
            }
            for (s, v) in w[r][32 * p..32 * p + 32].iter_mut().zip(piece) {
                // Wrapping: Q8_0 keeps its signed bytes.
                *s = (i32::from(v) + bias) as u8;
            }
        }
    }
    let f16_scales = |from: usize, out: &mut [u8]| {
        for (r, block) in blocks.iter().enumerate() {
            out[2 * r..2 * r + 2].copy_from_slice(&block[from..from + 2]);
        }
    };
    match format {
        QuantFormat::Q8_0 => {
            for q in 0..8 {
                for (r, row) in w.iter().enumerate() {
                    out[32 * q + 4 * r..32 * q + 4 * r + 4].copy_from_slice(&row[4 * q..4 * q + 4]);
                }
            }
            f16_scales(0, &mut out[at::Q8_0_SCALES..]);
        }
        QuantFormat::Q4_0 | QuantFormat::IQ4NL => {
            nibbles(&w, 0, &mut out[..128]);
            f16_scales(0, &mut out[at::Q4_0_SCALES..]);
        }
        QuantFormat::Q4_1 => {
            nibbles(&w, 0, &mut out[..128]);
            f16_scales(0, &mut out[at::Q4_1_SCALES..]);
            f16_scales(2, &mut out[at::Q4_1_MINS..]);
        }
        QuantFormat::Q5_0 | QuantFormat::Q5_1 => {
            nibbles(&w, 0, &mut out[..128]);
            bit_vector(&w, 0, 4, &mut out[at::Q5_0_HIGH..at::Q5_0_HIGH + 32]);
            if format == QuantFormat::Q5_0 {
                f16_scales(0, &mut out[at::Q5_0_SCALES..]);
            } else {
                f16_scales(0, &mut out[at::Q5_1_SCALES..]);
                f16_scales(2, &mut out[at::Q5_1_MINS..]);
            }
        }
        QuantFormat::Q4K | QuantFormat::Q5K => {
            let layout = k_layout(format);
            for j in 0..8 {
                let piece = &mut out[layout.piece * j..layout.piece * (j + 1)];
                nibbles(&w, j, &mut piece[..128]);
                if let Some(high) = layout.high {
                    bit_vector(&w, j, 4, &mut piece[high..high + 32]);
                }
            }
            for (r, block) in blocks.iter().enumerate() {
                for j in 0..8 {
                    let (sc, m) = scale_min_k4(j, &block[4..16]);
                    out[layout.scales + 8 * j + r] = sc;
                    out[layout.mins + 16 * (j / 2) + 2 * r + j % 2] = m;
                }
            }
            f16_scales(0, &mut out[layout.d..]);
            f16_scales(2, &mut out[layout.dmin..]);
        }
        QuantFormat::Q2K => {
            for p in 0..8 {
                pair_vectors(
                    &w,
                    p,
                    0,
                    &mut out[at::Q2K_PIECE * p..at::Q2K_PIECE * (p + 1)],
                );
            }
            for (r, block) in blocks.iter().enumerate() {
                for g in 0..16 {
                    out[at::Q2K_SCALES + 8 * g + r] = block[g] & 0xF;
                    out[at::Q2K_MINS + 8 * g + r] = block[g] >> 4;
                }
            }
            f16_scales(80, &mut out[at::Q2K_D..]);
            f16_scales(82, &mut out[at::Q2K_DMIN..]);
        }
        QuantFormat::Q3K => {
            for p in 0..8 {
                let piece = &mut out[at::Q3K_PIECE * p..at::Q3K_PIECE * (p + 1)];
                pair_vectors(&w, p, 0, &mut piece[..64]);
                bit_vector(&w, p, 2, &mut piece[at::Q3K_HIGH..at::Q3K_HIGH + 32]);
            }
            for (r, block) in blocks.iter().enumerate() {
                for g in 0..16 {
                    out[at::Q3K_SCALES + 8 * g + r] = format.group_scale(block, g) as u8;
                }
            }
            f16_scales(108, &mut out[at::Q3K_D..]);
        }
        QuantFormat::IQ4XS => {
            for p in 0..8 {
                nibbles(
                    &w,
                    p,
                    &mut out[at::IQ4XS_PIECE * p..at::IQ4XS_PIECE * (p + 1)],
                );
            }
            for (r, block) in blocks.iter().enumerate() {
                for p in 0..8 {
                    out[at::IQ4XS_SCALES + 8 * p + r] = iq4_xs_scale(block, p) as u8;
                }
            }
            f16_scales(0, &mut out[at::IQ4XS_D..]);
        }
        QuantFormat::Q6K => {
            for p in 0..8 {
                let piece = &mut out[at::Q6K_PIECE * p..at::Q6K_PIECE * (p + 1)];
                nibbles(&w, p, &mut piece[..128]);
                pair_vectors(&w, p, 4, &mut piece[at::Q6K_HIGH..at::Q6K_HIGH + 64]);
            }
            for (r, block) in blocks.iter().enumerate() {
                for g in 0..16 {
                    out[at::Q6K_SCALES + 8 * g + r] = block[192 + g];
                }
            }
            f16_scales(208, &mut out[at::Q6K_D..]);
        }
    }
}

/// The 4 nibble vectors of 32-value piece `p`: vector `v` holds quad `v` in its low
/// nibbles and quad `v + 4` in its high ones.
fn nibbles(w: &[[u8; 256]; PANEL_ROWS], p: usize, out: &mut [u8]) {
    for v in 0..4 {
        for (r, row) in w.iter().enumerate() {
            for i in 0..4 {
                let low = row[32 * p + 4 * v + i] & 0xF;
                let high = row[32 * p + 4 * (v + 4) + i] & 0xF;
                out[32 * v + 4 * r + i] = low | (high << 4);
            }
        }
    }
}
