//! Row kernels: validation, max, `Σ exp`, candidate collection, the inverse-CDF walk.
//!
//! Every kernel has a scalar version and SIMD versions (AVX2+FMA, AVX-512F) picked at run
//! time. All versions return bit-identical results, so a seed draws the same token on every
//! CPU:
//! - `exp` is one polynomial (Cephes' `expf` coefficients, Cody–Waite reduction), evaluated
//!   with fused multiply-adds in every version; inputs below `-87.336` give exactly 0.
//! - Sums are accumulated in `f64` in 16 lanes, element `i` going to lane `i mod 16`, and
//!   the lanes are added in index order at the end.
//! - Comparisons and the maximum are exact.

use crate::error::SampleError;

/// Which instruction set the kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Isa {
    /// Portable scalar code.
    Scalar,
    /// x86-64 AVX2 with FMA.
    Avx2,
    /// x86-64 AVX-512F.
    Avx512,
}

impl Isa {
    /// The best instruction set this CPU supports.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Scalar
    }

    /// The instruction set named by the `DIAL_ISA` environment variable (read once) when
    /// this CPU supports it, else [`Isa::detect`]: how a user forces a path, the same
    /// variable dial's matmul kernels read. Every path draws the same tokens.
    pub fn chosen() -> Isa {
        static CHOSEN: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            std::env::var("DIAL_ISA")
                .ok()
                .and_then(|name| Isa::from_name(&name))
                .filter(|isa| isa.is_supported())
                .unwrap_or_else(Isa::detect)
        })
    }

    /// The instruction set `DIAL_ISA` may name: `scalar` (or `portable`), `avx2`, `avx512`
    /// (or dial-quant's `avx512vnni`).
    pub fn from_name(name: &str) -> Option<Isa> {
        match name {
            "scalar" | "portable" => Some(Isa::Scalar),
            "avx2" => Some(Isa::Avx2),
            "avx512" | "avx512vnni" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// Whether this CPU can run `self`.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Name, as shown in benchmarks.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// `self` if this CPU supports it, else the best it does support.
    fn usable(self) -> Isa {
        if self.is_supported() {
            self
        } else {
            Isa::detect()
        }
    }
}

const LANES: usize = 16;
const EXP_HI: f32 = 88.0;
const EXP_LO: f32 = -87.336_54;
const LOG2E: f32 = std::f32::consts::LOG2_E;
const ROUND_MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23: adding and subtracting rounds to nearest even
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const P0: f32 = 1.987_569_1e-4;
const P1: f32 = 1.398_199_9e-3;
const P2: f32 = 8.333_452e-3;
const P3: f32 = 4.166_579_6e-2;
const P4: f32 = 1.666_666_5e-1;
const P5: f32 = 0.5;
/// Floor for `y` in `e·y` so that `0 · -inf` never happens.
const Y_FLOOR: f32 = -100.0;

/// dial's `exp`, identical bit for bit in every kernel. Relative error below 2 ulp on
/// `[-87.3, 88]`; exactly 0 below `-87.336`; finite for every input.
#[inline]
pub fn exp(x: f32) -> f32 {
    let xc = x.clamp(EXP_LO, EXP_HI);
    let n = (xc * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
    let r = n.mul_add(-LN2_HI, xc);
    let r = n.mul_add(-LN2_LO, r);
    let r2 = r * r;
    let mut p = P0;
    p = p.mul_add(r, P1);
    p = p.mul_add(r, P2);
    p = p.mul_add(r, P3);
    p = p.mul_add(r, P4);
    p = p.mul_add(r, P5);
    let y = p.mul_add(r2, r + 1.0);
    let pow2 = f32::from_bits((((n as i32) + 127) as u32) << 23);
    if x < EXP_LO { 0.0 } else { y * pow2 }
}

/// What a validating scan of a row found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scan {
    /// The largest logit (`-inf` when every logit is `-inf`).
    pub max: f32,
    /// How many logits are finite.
    pub finite: usize,
}

/// Sums over a row of `e_i = exp((x_i - m) · s)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sums {
    /// `Z = Σ e_i`.
    pub z: f64,
    /// `Σ e_i · y_i` with `y_i = (x_i - m) · s`, for the entropy `H = ln Z - S1 / Z`.
    pub s1: f64,
}

impl Sums {
    /// Entropy in nats of the distribution these sums describe.
    pub fn entropy(&self) -> f64 {
        if self.z > 0.0 {
            (self.z.ln() - self.s1 / self.z).max(0.0)
        } else {
            0.0
        }
    }
}

/// Candidates appended by [`sweep`]: ids with their `y` and `e`.
#[derive(Debug, Default, Clone)]
pub struct Collected {
    /// Token ids, ascending.
    pub ids: Vec<u32>,
    /// `y = (x - m) · s` for each id.
    pub ys: Vec<f32>,
    /// `e = exp(y)` for each id.
    pub es: Vec<f32>,
}

impl Collected {
    /// Empties the buffers, keeping their capacity.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.ys.clear();
        self.es.clear();
    }
}

/// Finds the max and the finite count, rejecting NaN and +inf with their index.
pub fn scan(xs: &[f32], isa: Isa) -> Result<Scan, SampleError> {
    if xs.is_empty() {
        return Err(SampleError::EmptyLogits);
    }
    let (max, neg_inf, bad) = match isa.usable() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU features.
        Isa::Avx512 => unsafe { x86::scan_avx512(xs) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::scan_avx2(xs) },
        _ => scan_scalar(xs),
    };
    if bad {
        for (index, &x) in xs.iter().enumerate() {
            if x.is_nan() {
                return Err(SampleError::NanLogit { index });
            }
            if x == f32::INFINITY {
                return Err(SampleError::PositiveInfinity { index });
            }
        }
    }
    Ok(Scan {
        max,
        finite: xs.len() - neg_inf,
    })
}

fn scan_scalar(xs: &[f32]) -> (f32, usize, bool) {
    let mut max = f32::NEG_INFINITY;
    let mut neg_inf = 0usize;
    let mut bad = false;
    for &x in xs {
        bad |= x.is_nan() || x == f32::INFINITY;
        neg_inf += usize::from(x == f32::NEG_INFINITY);
        max = max.max(x);
    }
    (max, neg_inf, bad)
}

/// The first index holding the row's maximum (ties go to the lowest id).
pub fn argmax(xs: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &x) in xs.iter().enumerate() {
        if x > f32::NEG_INFINITY && best.is_none_or(|(_, b)| x > b) {
            best = Some((i, x));
        }
    }
    best.map(|(i, _)| i)
}

/// One pass of `e_i = exp((x_i - m) · s)`: returns `Σ e` and `Σ e·y`, and when `collect`
/// is given appends every `i` with `y_i ≥ cutoff` (ids ascending).
pub fn sweep(
    xs: &[f32],
    m: f32,
    s: f32,
    cutoff: f32,
    collect: Option<&mut Collected>,
    isa: Isa,
) -> Sums {
    let t = sweep_with::<true, false>(xs, m, s, cutoff, collect, &[0.0; RUNGS], isa);
    Sums { z: t.z, s1: t.s1 }
}

/// [`sweep`] without `Σ e·y` (which only entropies need): returns `Σ e`, bit for bit the
/// same as `sweep(..).z`.
pub fn sweep_z(
    xs: &[f32],
    m: f32,
    s: f32,
    cutoff: f32,
    collect: Option<&mut Collected>,
    isa: Isa,
) -> f64 {
    sweep_with::<false, false>(xs, m, s, cutoff, collect, &[0.0; RUNGS], isa).z
}

/// How many thresholds [`sweep_ladder`] tracks.
pub const RUNGS: usize = 2;

/// [`sweep_z`] that also returns, for each `ladder[r]` (descending), the mass `Σ e_i` over
/// `y_i ≥ ladder[r]` (accumulated like `Σ e`), so a caller whose candidates fall short
/// knows how far down to look without another pass of `exp`.
pub fn sweep_ladder(
    xs: &[f32],
    m: f32,
    s: f32,
    cutoff: f32,
    collect: Option<&mut Collected>,
    ladder: &[f32; RUNGS],
    isa: Isa,
) -> (f64, [f64; RUNGS]) {
    let acc = sweep_with::<false, true>(xs, m, s, cutoff, collect, ladder, isa);
    (acc.z, acc.rungs)
}

/// Elements per run of `f32` partial sums in `Σ e`: element `i` adds to its lane's `f32`
/// partial, and after every `CHUNK` elements (and at the end of the row) each lane adds
/// its partial to its `f64` total. Eight `f32` additions per lane bound the partial's
/// relative error by `7·2⁻²⁴ ≈ 4·10⁻⁷`, no more than `exp`'s own 2 ulp, and spare the hot
/// loop a widening to `f64` for every element.
const CHUNK: usize = 8 * LANES;

/// Per-lane accumulators of a sweep (element `i` goes to lane `i mod 16`).
#[derive(Debug, Clone, Copy, Default)]
struct Lanes {
    z: [f64; LANES],
    /// The current chunk's `f32` partial of `Σ e`, not yet in `z`.
    part: [f32; LANES],
    s1: [f64; LANES],
    rungs: [[f64; LANES]; RUNGS],
}

impl Lanes {
    /// Moves each lane's `f32` partial into its `f64` total.
    fn flush(&mut self) {
        for (z, part) in self.z.iter_mut().zip(&mut self.part) {
            *z += f64::from(std::mem::take(part));
        }
    }
}

/// Lane sums, added in lane order.
#[derive(Debug, Clone, Copy)]
struct Totals {
    z: f64,
    s1: f64,
    rungs: [f64; RUNGS],
}

fn sweep_with<const S1: bool, const LADDER: bool>(
    xs: &[f32],
    m: f32,
    s: f32,
    cutoff: f32,
    collect: Option<&mut Collected>,
    ladder: &[f32; RUNGS],
    isa: Isa,
) -> Totals {
    let mut acc = Lanes::default();
    let done = match isa.usable() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU features.
        Isa::Avx512 => unsafe {
            x86::sweep_avx512::<S1, LADDER>(xs, m, s, cutoff, collect, ladder, &mut acc)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe {
            x86::sweep_avx2::<S1, LADDER>(xs, m, s, cutoff, collect, ladder, &mut acc)
        },
        _ => sweep_scalar::<S1, LADDER>(xs, 0, m, s, cutoff, collect, ladder, &mut acc),
    };
    debug_assert_eq!(done, xs.len());
    acc.flush();
    let mut t = Totals {
        z: 0.0,
        s1: 0.0,
        rungs: [0.0; RUNGS],
    };
    for lane in 0..LANES {
        t.z += acc.z[lane];
        t.s1 += acc.s1[lane];
        for r in 0..RUNGS {
            t.rungs[r] += acc.rungs[r][lane];
        }
    }
    t
}

#[allow(clippy::too_many_arguments)]
fn sweep_scalar<const S1: bool, const LADDER: bool>(
    xs: &[f32],
    start: usize,
    m: f32,
    s: f32,
    cutoff: f32,
    mut collect: Option<&mut Collected>,
    ladder: &[f32; RUNGS],
    acc: &mut Lanes,
) -> usize {
    for (i, &x) in xs.iter().enumerate().skip(start) {
        let y = (x - m) * s;
        let e = exp(y);
        let lane = i % LANES;
        acc.part[lane] += e;
        if (i + 1).is_multiple_of(CHUNK) {
            acc.flush();
        }
        if S1 {
            acc.s1[lane] += f64::from(e) * f64::from(y.max(Y_FLOOR));
        }
        if LADDER {
            for (rung, lanes) in ladder.iter().zip(&mut acc.rungs) {
                if y >= *rung {
                    lanes[lane] += f64::from(e);
                }
            }
        }
        if y >= cutoff
            && let Some(c) = collect.as_deref_mut()
        {
            c.ids.push(i as u32);
            c.ys.push(y);
            c.es.push(e);
        }
    }
    xs.len()
}

/// Appends every `i` with `(x_i - m) · s ≥ cutoff` to `ids`/`ys`, without any `exp`.
pub fn collect_above(
    xs: &[f32],
    m: f32,
    s: f32,
    cutoff: f32,
    ids: &mut Vec<u32>,
    ys: &mut Vec<f32>,
    isa: Isa,
) {
    let done = match isa.usable() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU features.
        Isa::Avx512 => unsafe { x86::collect_above_avx512(xs, m, s, cutoff, ids, ys) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::collect_above_avx2(xs, m, s, cutoff, ids, ys) },
        _ => 0,
    };
    for (i, &x) in xs.iter().enumerate().skip(done) {
        let y = (x - m) * s;
        if y >= cutoff {
            ids.push(i as u32);
            ys.push(y);
        }
    }
}

/// The `k` largest finite logits, ties to the lowest id, returned ascending by id.
/// One pass: a buffer is compacted to the best `k` whenever it fills, and its `k`-th value
/// becomes the bar later logits must beat; SIMD versions skip blocks with nothing above
/// the bar.
pub fn collect_top_k(xs: &[f32], k: usize, ids: &mut Vec<u32>, vals: &mut Vec<f32>, isa: Isa) {
    ids.clear();
    vals.clear();
    if k == 0 {
        return;
    }
    let cap = (2 * k).max(k + 256);
    let mut best = Best {
        pairs: Vec::with_capacity(cap.min(xs.len())),
        bar: f32::NEG_INFINITY,
        k,
        cap,
    };
    let done = match isa.usable() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU features.
        Isa::Avx512 => unsafe { x86::top_k_avx512(xs, &mut best) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::top_k_avx2(xs, &mut best) },
        _ => 0,
    };
    for (i, &x) in xs.iter().enumerate().skip(done) {
        best.offer(x, i);
    }
    let mut pairs = best.pairs;
    if pairs.len() > k {
        keep_best(&mut pairs, k);
    }
    pairs.sort_unstable_by_key(|&(_, id)| id);
    for (x, id) in pairs {
        ids.push(id);
        vals.push(x);
    }
}

/// The running buffer of [`collect_top_k`].
struct Best {
    pairs: Vec<(f32, u32)>,
    /// Logits must exceed this to enter (ties at the bar lose to the lower ids inside).
    bar: f32,
    k: usize,
    cap: usize,
}

impl Best {
    #[inline]
    fn offer(&mut self, x: f32, i: usize) {
        if x > self.bar {
            self.pairs.push((x, i as u32));
            if self.pairs.len() == self.cap {
                self.bar = keep_best(&mut self.pairs, self.k);
            }
        }
    }
}

/// Order: larger value first, then lower id.
fn better(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Truncates `pairs` to its best `k` (by [`better`]) and returns the worst kept value.
fn keep_best(pairs: &mut Vec<(f32, u32)>, k: usize) -> f32 {
    if pairs.len() > k {
        pairs.select_nth_unstable_by(k - 1, better);
        pairs.truncate(k);
    }
    pairs.iter().map(|p| p.0).fold(f32::INFINITY, f32::min)
}

/// Where [`find_block`] stopped: the first full block whose sum takes the running mass past
/// the target (`n_blocks` when none does), the mass before it, and the last block with
/// positive mass before it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Crossing {
    block: usize,
    cum: f64,
    last_positive: Option<usize>,
}

/// `e_j = exp((x_j - m)·s)` for one block of at most 16 logits (the rest are 0).
#[inline]
fn block_exps(chunk: &[f32], m: f32, s: f32) -> [f32; LANES] {
    let mut es = [0f32; LANES];
    for (e, &x) in es.iter_mut().zip(chunk) {
        *e = exp((x - m) * s);
    }
    es
}

/// A block's sum in `f64`, by a fixed tree (`j + 8`, then `j + 4`, `j + 2`, `j + 1`), so
/// SIMD versions can reproduce it exactly.
#[inline]
fn block_sum(es: &[f32; LANES]) -> f64 {
    let mut t = [0f64; 8];
    for j in 0..8 {
        t[j] = f64::from(es[j]) + f64::from(es[j + 8]);
    }
    for j in 0..4 {
        t[j] += t[j + 4];
    }
    for j in 0..2 {
        t[j] += t[j + 2];
    }
    t[0] + t[1]
}

fn find_block_scalar(xs: &[f32], m: f32, s: f32, target: f64) -> Crossing {
    find_block_by(xs, target, |chunk| block_sum(&block_exps(chunk, m, s)))
}

/// The block loop shared by every version of `find_block`, given each version's block sum.
/// Inlined into the SIMD versions so their intrinsics stay inside their target features.
#[inline(always)]
fn find_block_by(xs: &[f32], target: f64, mut sum_of: impl FnMut(&[f32]) -> f64) -> Crossing {
    let mut cum = 0f64;
    let mut last_positive = None;
    for (b, chunk) in xs.chunks_exact(LANES).enumerate() {
        let sum = sum_of(chunk);
        if sum == 0.0 {
            continue;
        }
        if cum + sum > target {
            return Crossing {
                block: b,
                cum,
                last_positive,
            };
        }
        cum += sum;
        last_positive = Some(b);
    }
    Crossing {
        block: xs.len() / LANES,
        cum,
        last_positive,
    }
}

/// Inverse-CDF walk over a row in id order: the first `i` at which the running
/// `Σ exp((x_j - m)·s)` exceeds `target`. Whole blocks of 16 are skipped by their sums;
/// the crossing block is walked token by token. When rounding leaves `target` just past
/// the end, the last token with positive weight is returned.
pub fn walk(xs: &[f32], m: f32, s: f32, target: f64, isa: Isa) -> Option<usize> {
    let full = xs.len() / LANES * LANES;
    let found = match isa.usable() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU features.
        Isa::Avx512 => unsafe { x86::find_block_avx512(&xs[..full], m, s, target) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::find_block_avx2(&xs[..full], m, s, target) },
        _ => find_block_scalar(&xs[..full], m, s, target),
    };
    let mut cum = found.cum;
    let mut last_positive = found
        .last_positive
        .and_then(|b| last_positive_in(xs, b, m, s));
    // Token by token from the crossing block on; past it only when rounding says so.
    for (b, chunk) in xs.chunks(LANES).enumerate().skip(found.block) {
        let es = block_exps(chunk, m, s);
        for (j, &e) in es.iter().enumerate().take(chunk.len()) {
            if e > 0.0 {
                cum += f64::from(e);
                last_positive = Some(b * LANES + j);
                if cum > target {
                    return last_positive;
                }
            }
        }
    }
    last_positive
}

/// The last index with positive weight in block `b`.
fn last_positive_in(xs: &[f32], b: usize, m: f32, s: f32) -> Option<usize> {
    let chunk = xs.get(b * LANES..((b + 1) * LANES).min(xs.len()))?;
    let es = block_exps(chunk, m, s);
    es.iter()
        .take(chunk.len())
        .rposition(|&e| e > 0.0)
        .map(|j| b * LANES + j)
}

/// `out_i = exp(ys_i - shift)` for every `i`; returns `Σ out_i` accumulated like [`sweep`].
pub fn exps(ys: &[f32], shift: f32, out: &mut Vec<f32>, isa: Isa) -> f64 {
    out.clear();
    out.resize(ys.len(), 0.0);
    let mut lanes = [0f64; LANES];
    let done = match isa.usable() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU features.
        Isa::Avx512 => unsafe { x86::exps_avx512(ys, shift, out, &mut lanes) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::exps_avx2(ys, shift, out, &mut lanes) },
        _ => 0,
    };
    for i in done..ys.len() {
        let e = exp(ys[i] - shift);
        out[i] = e;
        lanes[i % LANES] += f64::from(e);
    }
    lanes.iter().sum()
}

/// The largest value of a row (`-inf` for an empty row), without validation.
pub fn max(xs: &[f32], isa: Isa) -> f32 {
    match isa.usable() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU features.
        Isa::Avx512 => unsafe { x86::max_avx512(xs) },
        _ => {
            let mut lanes = [f32::NEG_INFINITY; LANES];
            let chunks = xs.chunks_exact(LANES);
            let rest = chunks.remainder();
            for c in chunks {
                for (l, &x) in lanes.iter_mut().zip(c) {
                    *l = l.max(x);
                }
            }
            rest.iter()
                .chain(&lanes)
                .copied()
                .fold(f32::NEG_INFINITY, f32::max)
        }
    }
}

/// The floor every sampler pays: the max, then `Σ exp((x - max)·s)` in one vectorised
/// pass with dial's `exp` (no validation, no collection). Returns `ln Σ exp(x·s)`.
pub fn log_sum_exp(xs: &[f32], s: f32, isa: Isa) -> f64 {
    let m = max(xs, isa);
    let z = sweep_z(xs, m, s, f32::INFINITY, None, isa);
    f64::from(m) * f64::from(s) + z.ln()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! AVX2 and AVX-512 versions. Each mirrors the scalar code operation for operation.
    use super::*;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp8(x: __m256) -> __m256 {
        let xc = _mm256_max_ps(
            _mm256_min_ps(x, _mm256_set1_ps(EXP_HI)),
            _mm256_set1_ps(EXP_LO),
        );
        let magic = _mm256_set1_ps(ROUND_MAGIC);
        let n = _mm256_sub_ps(
            _mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(LOG2E)), magic),
            magic,
        );
        let r = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_HI), xc);
        let r = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_LO), r);
        let r2 = _mm256_mul_ps(r, r);
        let mut p = _mm256_set1_ps(P0);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P1));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P2));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P4));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P5));
        let y = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0)));
        let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        ));
        let out = _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
        let under = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(EXP_LO));
        _mm256_andnot_ps(under, out)
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn exp16(x: __m512) -> __m512 {
        let xc = _mm512_max_ps(
            _mm512_min_ps(x, _mm512_set1_ps(EXP_HI)),
            _mm512_set1_ps(EXP_LO),
        );
        let magic = _mm512_set1_ps(ROUND_MAGIC);
        let n = _mm512_sub_ps(
            _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(LOG2E)), magic),
            magic,
        );
        let r = _mm512_fmadd_ps(n, _mm512_set1_ps(-LN2_HI), xc);
        let r = _mm512_fmadd_ps(n, _mm512_set1_ps(-LN2_LO), r);
        let r2 = _mm512_mul_ps(r, r);
        let mut p = _mm512_set1_ps(P0);
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P1));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P2));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P3));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P4));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P5));
        let y = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0)));
        let bits = _mm512_slli_epi32::<23>(_mm512_add_epi32(
            _mm512_cvtps_epi32(n),
            _mm512_set1_epi32(127),
        ));
        let out = _mm512_mul_ps(y, _mm512_castsi512_ps(bits));
        let under = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_set1_ps(EXP_LO));
        _mm512_maskz_mov_ps(!under, out)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scan_avx2(xs: &[f32]) -> (f32, usize, bool) {
        // Four independent chains: `max` has a latency of several cycles.
        let mut vmax = [_mm256_set1_ps(f32::NEG_INFINITY); 4];
        let mut bad = _mm256_setzero_ps();
        let mut neg_inf = 0usize;
        let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
        let pinf = _mm256_set1_ps(f32::INFINITY);
        let blocks = xs.chunks_exact(32);
        let rest = blocks.remainder();
        for c in blocks {
            let mut is_ninf = 0u32;
            for (k, v) in vmax.iter_mut().enumerate() {
                // SAFETY: `c` has 32 elements.
                let x = unsafe { _mm256_loadu_ps(c.as_ptr().add(8 * k)) };
                *v = _mm256_max_ps(*v, x);
                // Not below +inf: +inf or NaN.
                bad = _mm256_or_ps(bad, _mm256_cmp_ps::<_CMP_NLT_UQ>(x, pinf));
                is_ninf |=
                    (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(x, ninf)) as u32) << (8 * k);
            }
            neg_inf += is_ninf.count_ones() as usize;
        }
        let v = _mm256_max_ps(
            _mm256_max_ps(vmax[0], vmax[1]),
            _mm256_max_ps(vmax[2], vmax[3]),
        );
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` has 8 elements.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        let (tail_max, tail_ninf, tail_bad) = scan_scalar(rest);
        let max = lanes.iter().copied().fold(tail_max, f32::max);
        (
            max,
            neg_inf + tail_ninf,
            tail_bad || _mm256_movemask_ps(bad) != 0,
        )
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn scan_avx512(xs: &[f32]) -> (f32, usize, bool) {
        // Four independent chains: `max` has a latency of several cycles.
        let mut vmax = [_mm512_set1_ps(f32::NEG_INFINITY); 4];
        let mut ninf_count = [_mm512_setzero_si512(); 4];
        let mut bad: __mmask16 = 0;
        let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
        let pinf = _mm512_set1_ps(f32::INFINITY);
        let one = _mm512_set1_epi32(1);
        let blocks = xs.chunks_exact(64);
        let rest = blocks.remainder();
        for c in blocks {
            for k in 0..4 {
                // SAFETY: `c` has 64 elements.
                let x = unsafe { _mm512_loadu_ps(c.as_ptr().add(16 * k)) };
                vmax[k] = _mm512_max_ps(vmax[k], x);
                // Not below +inf: +inf or NaN.
                bad |= _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(x, pinf);
                let is_ninf = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, ninf);
                ninf_count[k] = _mm512_mask_add_epi32(ninf_count[k], is_ninf, ninf_count[k], one);
            }
        }
        let (tail_max, tail_ninf, tail_bad) = scan_scalar(rest);
        let v = _mm512_max_ps(
            _mm512_max_ps(vmax[0], vmax[1]),
            _mm512_max_ps(vmax[2], vmax[3]),
        );
        let counts = _mm512_add_epi32(
            _mm512_add_epi32(ninf_count[0], ninf_count[1]),
            _mm512_add_epi32(ninf_count[2], ninf_count[3]),
        );
        let max = _mm512_reduce_max_ps(v).max(tail_max);
        let neg_inf = _mm512_reduce_add_epi32(counts) as u32 as usize;
        (max, neg_inf + tail_ninf, tail_bad || bad != 0)
    }

    /// Appends candidates of one 16-element block, given its `y`, `e` and mask.
    #[inline(always)]
    fn push_block(c: &mut Collected, base: usize, ys: &[f32; 16], es: &[f32; 16], mut mask: u32) {
        while mask != 0 {
            let j = mask.trailing_zeros() as usize;
            c.ids.push((base + j) as u32);
            c.ys.push(ys[j]);
            c.es.push(es[j]);
            mask &= mask - 1;
        }
    }

    /// The rarer part of a sweep block, out of the hot loop: collects the block's
    /// candidates and adds its `e` to every rung its `y` reaches, lane by lane as
    /// [`sweep_scalar`] does (adding `+0.0` where a lane's `y` is below the rung leaves
    /// the lane's bits as they were).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn climb<const LADDER: bool>(
        collect: Option<&mut Collected>,
        acc: &mut Lanes,
        base: usize,
        y: [__m256; 2],
        e: [__m256; 2],
        cutoff: f32,
        ladder: &[f32; RUNGS],
    ) {
        if LADDER {
            let quarters = |v: [__m256; 2]| {
                [
                    _mm256_cvtps_pd(_mm256_castps256_ps128(v[0])),
                    _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v[0])),
                    _mm256_cvtps_pd(_mm256_castps256_ps128(v[1])),
                    _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v[1])),
                ]
            };
            let (yd, ed) = (quarters(y), quarters(e));
            for (rung, lanes) in ladder.iter().zip(&mut acc.rungs) {
                let bar = _mm256_set1_pd(f64::from(*rung));
                for q in 0..4 {
                    let reached = _mm256_and_pd(_mm256_cmp_pd::<_CMP_GE_OQ>(yd[q], bar), ed[q]);
                    // SAFETY: each 4-lane group lies inside the 16-lane array.
                    unsafe {
                        let p = lanes.as_mut_ptr().add(4 * q);
                        _mm256_storeu_pd(p, _mm256_add_pd(_mm256_loadu_pd(p), reached));
                    }
                }
            }
        }
        if let Some(c) = collect {
            let vc = _mm256_set1_ps(cutoff);
            let mask = (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(y[0], vc)) as u32)
                | ((_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(y[1], vc)) as u32) << 8);
            if mask != 0 {
                let mut ys = [0f32; 16];
                let mut es = [0f32; 16];
                // SAFETY: the arrays have 16 elements.
                unsafe {
                    _mm256_storeu_ps(ys.as_mut_ptr(), y[0]);
                    _mm256_storeu_ps(ys.as_mut_ptr().add(8), y[1]);
                    _mm256_storeu_ps(es.as_mut_ptr(), e[0]);
                    _mm256_storeu_ps(es.as_mut_ptr().add(8), e[1]);
                }
                push_block(c, base, &ys, &es, mask);
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn sweep_avx2<const S1: bool, const LADDER: bool>(
        xs: &[f32],
        m: f32,
        s: f32,
        cutoff: f32,
        mut collect: Option<&mut Collected>,
        ladder: &[f32; RUNGS],
        acc: &mut Lanes,
    ) -> usize {
        let vm = _mm256_set1_ps(m);
        let vs = _mm256_set1_ps(s);
        let floor = _mm256_set1_ps(Y_FLOOR);
        // A block with no `y` at or above the gate neither collects nor reaches a rung
        // (the ladder descends), so only the gate is tested in the hot loop.
        let gated = LADDER || collect.is_some();
        let gate = match (LADDER, collect.is_some()) {
            (true, true) => cutoff.min(ladder[RUNGS - 1]),
            (true, false) => ladder[RUNGS - 1],
            _ => cutoff,
        };
        let vg = _mm256_set1_ps(gate);
        let mut z = [_mm256_setzero_pd(); 4];
        let mut s1 = [_mm256_setzero_pd(); 4];
        let mut part = [_mm256_setzero_ps(); 2];
        *acc = Lanes::default();
        let full = xs.len() / LANES * LANES;
        let mut i = 0;
        while i < full {
            // SAFETY: `i + 16 <= xs.len()`.
            let (x0, x1) = unsafe {
                (
                    _mm256_loadu_ps(xs.as_ptr().add(i)),
                    _mm256_loadu_ps(xs.as_ptr().add(i + 8)),
                )
            };
            let y0 = _mm256_mul_ps(_mm256_sub_ps(x0, vm), vs);
            let y1 = _mm256_mul_ps(_mm256_sub_ps(x1, vm), vs);
            // SAFETY: avx2+fma are enabled here.
            let (e0, e1) = unsafe { (exp8(y0), exp8(y1)) };
            let es = [
                _mm256_castps256_ps128(e0),
                _mm256_extractf128_ps::<1>(e0),
                _mm256_castps256_ps128(e1),
                _mm256_extractf128_ps::<1>(e1),
            ];
            part = [_mm256_add_ps(part[0], e0), _mm256_add_ps(part[1], e1)];
            if (i + LANES).is_multiple_of(CHUNK) {
                let halves = [
                    _mm256_castps256_ps128(part[0]),
                    _mm256_extractf128_ps::<1>(part[0]),
                    _mm256_castps256_ps128(part[1]),
                    _mm256_extractf128_ps::<1>(part[1]),
                ];
                for q in 0..4 {
                    z[q] = _mm256_add_pd(z[q], _mm256_cvtps_pd(halves[q]));
                }
                part = [_mm256_setzero_ps(); 2];
            }
            if S1 {
                let (f0, f1) = (_mm256_max_ps(y0, floor), _mm256_max_ps(y1, floor));
                let ys = [
                    _mm256_castps256_ps128(f0),
                    _mm256_extractf128_ps::<1>(f0),
                    _mm256_castps256_ps128(f1),
                    _mm256_extractf128_ps::<1>(f1),
                ];
                for q in 0..4 {
                    let ey = _mm256_mul_pd(_mm256_cvtps_pd(es[q]), _mm256_cvtps_pd(ys[q]));
                    s1[q] = _mm256_add_pd(s1[q], ey);
                }
            }
            if gated
                && _mm256_movemask_ps(_mm256_or_ps(
                    _mm256_cmp_ps::<_CMP_GE_OQ>(y0, vg),
                    _mm256_cmp_ps::<_CMP_GE_OQ>(y1, vg),
                )) != 0
            {
                // SAFETY: avx2+fma are enabled here.
                unsafe {
                    climb::<LADDER>(
                        collect.as_deref_mut(),
                        acc,
                        i,
                        [y0, y1],
                        [e0, e1],
                        cutoff,
                        ladder,
                    )
                };
            }
            i += LANES;
        }
        for q in 0..4 {
            // SAFETY: each 4-lane group lies inside the 16-lane arrays.
            unsafe {
                _mm256_storeu_pd(acc.z.as_mut_ptr().add(4 * q), z[q]);
                _mm256_storeu_pd(acc.s1.as_mut_ptr().add(4 * q), s1[q]);
            }
        }
        // SAFETY: `part` covers the 16-lane array.
        unsafe {
            _mm256_storeu_ps(acc.part.as_mut_ptr(), part[0]);
            _mm256_storeu_ps(acc.part.as_mut_ptr().add(8), part[1]);
        }
        sweep_scalar::<S1, LADDER>(xs, full, m, s, cutoff, collect, ladder, acc)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn sweep_avx512<const S1: bool, const LADDER: bool>(
        xs: &[f32],
        m: f32,
        s: f32,
        cutoff: f32,
        mut collect: Option<&mut Collected>,
        ladder: &[f32; RUNGS],
        acc: &mut Lanes,
    ) -> usize {
        let vm = _mm512_set1_ps(m);
        let vs = _mm512_set1_ps(s);
        let vc = _mm512_set1_ps(cutoff);
        let floor = _mm512_set1_ps(Y_FLOOR);
        let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let (mut z_lo, mut z_hi) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let mut part = _mm512_setzero_ps();
        let (mut s_lo, mut s_hi) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let mut rungs = [[_mm512_setzero_pd(); 2]; RUNGS];
        let rung_bars = ladder.map(|t| _mm512_set1_ps(t));
        let full = xs.len() / LANES * LANES;
        let mut i = 0;
        while i < full {
            // SAFETY: `i + 16 <= xs.len()`.
            let x = unsafe { _mm512_loadu_ps(xs.as_ptr().add(i)) };
            let y = _mm512_mul_ps(_mm512_sub_ps(x, vm), vs);
            // SAFETY: avx512f is enabled here.
            let e = unsafe { exp16(y) };
            let e_lo = _mm512_cvtps_pd(_mm512_castps512_ps256(e));
            let e_hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                _mm512_castps_pd(e),
            )));
            part = _mm512_add_ps(part, e);
            if (i + LANES).is_multiple_of(CHUNK) {
                z_lo = _mm512_add_pd(z_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(part)));
                z_hi = _mm512_add_pd(
                    z_hi,
                    _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                        _mm512_castps_pd(part),
                    ))),
                );
                part = _mm512_setzero_ps();
            }
            if S1 {
                let yf = _mm512_max_ps(y, floor);
                let y_lo = _mm512_cvtps_pd(_mm512_castps512_ps256(yf));
                let y_hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                    _mm512_castps_pd(yf),
                )));
                s_lo = _mm512_add_pd(s_lo, _mm512_mul_pd(e_lo, y_lo));
                s_hi = _mm512_add_pd(s_hi, _mm512_mul_pd(e_hi, y_hi));
            }
            // The ladder descends, so a block with nothing on the lowest rung (most blocks
            // of a peaked row) adds nothing anywhere.
            if LADDER && _mm512_cmp_ps_mask::<_CMP_GE_OQ>(y, rung_bars[RUNGS - 1]) != 0 {
                for r in 0..RUNGS {
                    let ge = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(y, rung_bars[r]);
                    let [lo, hi] = &mut rungs[r];
                    *lo = _mm512_mask_add_pd(*lo, ge as u8, *lo, e_lo);
                    *hi = _mm512_mask_add_pd(*hi, (ge >> 8) as u8, *hi, e_hi);
                }
            }
            if let Some(c) = collect.as_deref_mut() {
                let mask = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(y, vc);
                if mask != 0 {
                    let n = mask.count_ones() as usize;
                    c.ids.reserve(LANES);
                    c.ys.reserve(LANES);
                    c.es.reserve(LANES);
                    let id = _mm512_add_epi32(_mm512_set1_epi32(i as i32), iota);
                    // SAFETY: each vector has room for 16 more elements; the first `n` written
                    // are the compressed candidates, and only those become part of the length.
                    unsafe {
                        _mm512_storeu_si512(
                            c.ids.as_mut_ptr().add(c.ids.len()).cast(),
                            _mm512_maskz_compress_epi32(mask, id),
                        );
                        _mm512_storeu_ps(
                            c.ys.as_mut_ptr().add(c.ys.len()),
                            _mm512_maskz_compress_ps(mask, y),
                        );
                        _mm512_storeu_ps(
                            c.es.as_mut_ptr().add(c.es.len()),
                            _mm512_maskz_compress_ps(mask, e),
                        );
                        c.ids.set_len(c.ids.len() + n);
                        c.ys.set_len(c.ys.len() + n);
                        c.es.set_len(c.es.len() + n);
                    }
                }
            }
            i += LANES;
        }
        // SAFETY: each 8-lane group lies inside the 16-lane arrays.
        unsafe {
            _mm512_storeu_pd(acc.z.as_mut_ptr(), z_lo);
            _mm512_storeu_pd(acc.z.as_mut_ptr().add(8), z_hi);
            _mm512_storeu_ps(acc.part.as_mut_ptr(), part);
            _mm512_storeu_pd(acc.s1.as_mut_ptr(), s_lo);
            _mm512_storeu_pd(acc.s1.as_mut_ptr().add(8), s_hi);
            for (out, [lo, hi]) in acc.rungs.iter_mut().zip(&rungs) {
                _mm512_storeu_pd(out.as_mut_ptr(), *lo);
                _mm512_storeu_pd(out.as_mut_ptr().add(8), *hi);
            }
        }
        sweep_scalar::<S1, LADDER>(xs, full, m, s, cutoff, collect, ladder, acc)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn max_avx512(xs: &[f32]) -> f32 {
        let mut acc = [_mm512_set1_ps(f32::NEG_INFINITY); 4];
        let blocks = xs.chunks_exact(64);
        let rest = blocks.remainder();
        for c in blocks {
            for (k, a) in acc.iter_mut().enumerate() {
                // SAFETY: `c` has 64 elements.
                *a = _mm512_max_ps(*a, unsafe { _mm512_loadu_ps(c.as_ptr().add(16 * k)) });
            }
        }
        let v = _mm512_max_ps(_mm512_max_ps(acc[0], acc[1]), _mm512_max_ps(acc[2], acc[3]));
        rest.iter().copied().fold(_mm512_reduce_max_ps(v), f32::max)
    }

    /// Full 64-element blocks of [`collect_top_k`]; returns how many elements it did.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn top_k_avx512(xs: &[f32], best: &mut Best) -> usize {
        let full = xs.len() / 64 * 64;
        let mut i = 0;
        while i < full {
            let bar = _mm512_set1_ps(best.bar);
            let mut masks = [0u16; 4];
            for (k, m) in masks.iter_mut().enumerate() {
                // SAFETY: `i + 64 <= xs.len()`.
                let x = unsafe { _mm512_loadu_ps(xs.as_ptr().add(i + 16 * k)) };
                *m = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, bar);
            }
            if masks != [0; 4] {
                for (k, &m) in masks.iter().enumerate() {
                    let mut m = m;
                    while m != 0 {
                        let j = i + 16 * k + m.trailing_zeros() as usize;
                        best.offer(xs[j], j);
                        m &= m - 1;
                    }
                }
            }
            i += 64;
        }
        full
    }

    /// Full 32-element blocks of [`collect_top_k`]; returns how many elements it did.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn top_k_avx2(xs: &[f32], best: &mut Best) -> usize {
        let full = xs.len() / 32 * 32;
        let mut i = 0;
        while i < full {
            let bar = _mm256_set1_ps(best.bar);
            let mut mask = 0u32;
            for k in 0..4 {
                // SAFETY: `i + 32 <= xs.len()`.
                let x = unsafe { _mm256_loadu_ps(xs.as_ptr().add(i + 8 * k)) };
                mask |= (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(x, bar)) as u32) << (8 * k);
            }
            while mask != 0 {
                let j = i + mask.trailing_zeros() as usize;
                best.offer(xs[j], j);
                mask &= mask - 1;
            }
            i += 32;
        }
        full
    }

    /// Block sum by the tree of [`block_sum`], from the block's two `f64` halves.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tree_sum_avx2(e0: __m256, e1: __m256) -> f64 {
        // t8 = e[j] + e[j+8], as two 4-lane vectors (j < 4, j ≥ 4).
        let t_lo = _mm256_add_pd(
            _mm256_cvtps_pd(_mm256_castps256_ps128(e0)),
            _mm256_cvtps_pd(_mm256_castps256_ps128(e1)),
        );
        let t_hi = _mm256_add_pd(
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(e0)),
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(e1)),
        );
        let t4 = _mm256_add_pd(t_lo, t_hi);
        let t2 = _mm_add_pd(_mm256_castpd256_pd128(t4), _mm256_extractf128_pd::<1>(t4));
        _mm_cvtsd_f64(t2) + _mm_cvtsd_f64(_mm_unpackhi_pd(t2, t2))
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn find_block_avx2(xs: &[f32], m: f32, s: f32, target: f64) -> Crossing {
        let vm = _mm256_set1_ps(m);
        let vs = _mm256_set1_ps(s);
        find_block_by(xs, target, |c| {
            // SAFETY: `c` has 16 elements; avx2+fma are enabled here.
            unsafe {
                let x0 = _mm256_loadu_ps(c.as_ptr());
                let x1 = _mm256_loadu_ps(c.as_ptr().add(8));
                let e0 = exp8(_mm256_mul_ps(_mm256_sub_ps(x0, vm), vs));
                let e1 = exp8(_mm256_mul_ps(_mm256_sub_ps(x1, vm), vs));
                tree_sum_avx2(e0, e1)
            }
        })
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn find_block_avx512(xs: &[f32], m: f32, s: f32, target: f64) -> Crossing {
        let vm = _mm512_set1_ps(m);
        let vs = _mm512_set1_ps(s);
        find_block_by(xs, target, |c| {
            // SAFETY: `c` has 16 elements; avx512f is enabled here.
            let e = unsafe {
                exp16(_mm512_mul_ps(
                    _mm512_sub_ps(_mm512_loadu_ps(c.as_ptr()), vm),
                    vs,
                ))
            };
            let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(e));
            let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                _mm512_castps_pd(e),
            )));
            let t8 = _mm512_add_pd(lo, hi);
            let t4 = _mm256_add_pd(_mm512_castpd512_pd256(t8), _mm512_extractf64x4_pd::<1>(t8));
            let t2 = _mm_add_pd(_mm256_castpd256_pd128(t4), _mm256_extractf128_pd::<1>(t4));
            _mm_cvtsd_f64(t2) + _mm_cvtsd_f64(_mm_unpackhi_pd(t2, t2))
        })
    }

    /// Full blocks of [`collect_above`]; returns how many elements it did.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn collect_above_avx2(
        xs: &[f32],
        m: f32,
        s: f32,
        cutoff: f32,
        ids: &mut Vec<u32>,
        ys: &mut Vec<f32>,
    ) -> usize {
        let (vm, vs, vc) = (_mm256_set1_ps(m), _mm256_set1_ps(s), _mm256_set1_ps(cutoff));
        let full = xs.len() / 8 * 8;
        let mut i = 0;
        while i < full {
            // SAFETY: `i + 8 <= xs.len()`.
            let y = _mm256_mul_ps(
                _mm256_sub_ps(unsafe { _mm256_loadu_ps(xs.as_ptr().add(i)) }, vm),
                vs,
            );
            let mut mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(y, vc)) as u32;
            if mask != 0 {
                let mut lane = [0f32; 8];
                // SAFETY: `lane` has 8 elements.
                unsafe { _mm256_storeu_ps(lane.as_mut_ptr(), y) };
                while mask != 0 {
                    let j = mask.trailing_zeros() as usize;
                    ids.push((i + j) as u32);
                    ys.push(lane[j]);
                    mask &= mask - 1;
                }
            }
            i += 8;
        }
        full
    }

    /// Full blocks of [`collect_above`], compacting with AVX-512 compress.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn collect_above_avx512(
        xs: &[f32],
        m: f32,
        s: f32,
        cutoff: f32,
        ids: &mut Vec<u32>,
        ys: &mut Vec<f32>,
    ) -> usize {
        let (vm, vs, vc) = (_mm512_set1_ps(m), _mm512_set1_ps(s), _mm512_set1_ps(cutoff));
        let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let full = xs.len() / LANES * LANES;
        let mut i = 0;
        while i < full {
            // SAFETY: `i + 16 <= xs.len()`.
            let y = _mm512_mul_ps(
                _mm512_sub_ps(unsafe { _mm512_loadu_ps(xs.as_ptr().add(i)) }, vm),
                vs,
            );
            let mask = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(y, vc);
            if mask != 0 {
                let n = mask.count_ones() as usize;
                ids.reserve(LANES);
                ys.reserve(LANES);
                let id = _mm512_add_epi32(_mm512_set1_epi32(i as i32), iota);
                // SAFETY: both vectors have room for 16 more elements; the first `n` written
                // are the compressed candidates, and only those become part of the length.
                unsafe {
                    _mm512_storeu_si512(
                        ids.as_mut_ptr().add(ids.len()).cast(),
                        _mm512_maskz_compress_epi32(mask, id),
                    );
                    _mm512_storeu_ps(
                        ys.as_mut_ptr().add(ys.len()),
                        _mm512_maskz_compress_ps(mask, y),
                    );
                    ids.set_len(ids.len() + n);
                    ys.set_len(ys.len() + n);
                }
            }
            i += LANES;
        }
        full
    }

    /// Full blocks of [`exps`]; returns how many elements it did.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn exps_avx2(
        ys: &[f32],
        shift: f32,
        out: &mut [f32],
        lanes: &mut [f64; LANES],
    ) -> usize {
        let vshift = _mm256_set1_ps(shift);
        let mut z = [_mm256_setzero_pd(); 4];
        let full = ys.len() / LANES * LANES;
        let mut i = 0;
        while i < full {
            // SAFETY: `i + 16 <= ys.len() == out.len()`.
            unsafe {
                let e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(ys.as_ptr().add(i)), vshift));
                let e1 = exp8(_mm256_sub_ps(
                    _mm256_loadu_ps(ys.as_ptr().add(i + 8)),
                    vshift,
                ));
                _mm256_storeu_ps(out.as_mut_ptr().add(i), e0);
                _mm256_storeu_ps(out.as_mut_ptr().add(i + 8), e1);
                let quarters = [
                    _mm256_castps256_ps128(e0),
                    _mm256_extractf128_ps::<1>(e0),
                    _mm256_castps256_ps128(e1),
                    _mm256_extractf128_ps::<1>(e1),
                ];
                for (q, e) in quarters.into_iter().enumerate() {
                    z[q] = _mm256_add_pd(z[q], _mm256_cvtps_pd(e));
                }
            }
            i += LANES;
        }
        for (q, zq) in z.into_iter().enumerate() {
            // SAFETY: each 4-lane group lies inside the 16-lane array.
            unsafe { _mm256_storeu_pd(lanes.as_mut_ptr().add(4 * q), zq) };
        }
        full
    }

    /// Full blocks of [`exps`]; returns how many elements it did.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn exps_avx512(
        ys: &[f32],
        shift: f32,
        out: &mut [f32],
        lanes: &mut [f64; LANES],
    ) -> usize {
        let vshift = _mm512_set1_ps(shift);
        let (mut z_lo, mut z_hi) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let full = ys.len() / LANES * LANES;
        let mut i = 0;
        while i < full {
            // SAFETY: `i + 16 <= ys.len() == out.len()`.
            unsafe {
                let e = exp16(_mm512_sub_ps(_mm512_loadu_ps(ys.as_ptr().add(i)), vshift));
                _mm512_storeu_ps(out.as_mut_ptr().add(i), e);
                z_lo = _mm512_add_pd(z_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
                z_hi = _mm512_add_pd(
                    z_hi,
                    _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                        _mm512_castps_pd(e),
                    ))),
                );
            }
            i += LANES;
        }
        // SAFETY: each 8-lane group lies inside the 16-lane array.
        unsafe {
            _mm512_storeu_pd(lanes.as_mut_ptr(), z_lo);
            _mm512_storeu_pd(lanes.as_mut_ptr().add(8), z_hi);
        }
        full
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dial_isa_names_every_path_and_the_chosen_one_runs_here() {
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
        }
        assert_eq!(Isa::from_name("portable"), Some(Isa::Scalar));
        assert_eq!(Isa::from_name("avx512vnni"), Some(Isa::Avx512));
        assert_eq!(Isa::from_name("neon-dot"), None);
        assert!(Isa::chosen().is_supported());
    }

    fn row(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::DialRng::new(seed);
        (0..n)
            .map(|i| {
                if i % 7 == 3 {
                    f32::NEG_INFINITY
                } else {
                    (rng.uniform() as f32 - 0.5) * 40.0
                }
            })
            .collect()
    }

    #[test]
    fn exp_is_accurate_and_never_nan() {
        for i in -2000..=880 {
            let x = i as f32 * 0.1;
            let got = f64::from(exp(x));
            let want = f64::from(x).exp();
            if x >= EXP_LO {
                assert!(
                    ((got - want) / want).abs() < 3e-7,
                    "exp({x}) = {got}, want {want}"
                );
            } else {
                assert_eq!(got, 0.0);
            }
        }
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(1e30).is_finite());
    }

    #[test]
    fn every_isa_agrees_bit_for_bit() {
        for n in [1usize, 15, 16, 17, 100, 1031, 4096] {
            let xs = row(n, n as u64);
            let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut reference = Collected::default();
            let want = sweep(&xs, m, 1.25, -3.0, Some(&mut reference), Isa::Scalar);
            assert_eq!(scan(&xs, Isa::Scalar).map(|s| s.max), Ok(m));
            for isa in [Isa::Avx2, Isa::Avx512] {
                if !isa.is_supported() {
                    continue;
                }
                let mut got_c = Collected::default();
                let got = sweep(&xs, m, 1.25, -3.0, Some(&mut got_c), isa);
                assert_eq!(got.z.to_bits(), want.z.to_bits(), "{isa:?} n={n}");
                let ladder = [-1.0, -9.5];
                let (z_l, rungs) = sweep_ladder(&xs, m, 1.25, -3.0, None, &ladder, isa);
                let (z_ls, rungs_s) = sweep_ladder(&xs, m, 1.25, -3.0, None, &ladder, Isa::Scalar);
                assert_eq!(z_l.to_bits(), want.z.to_bits());
                assert_eq!(z_ls.to_bits(), want.z.to_bits());
                assert_eq!(
                    rungs.map(f64::to_bits),
                    rungs_s.map(f64::to_bits),
                    "{isa:?} n={n}"
                );
                // Collecting and climbing in one sweep, with the cutoff above and below
                // the lowest rung.
                for cutoff in [-3.0, -12.0] {
                    let mut c_isa = Collected::default();
                    let mut c_scalar = Collected::default();
                    let l_isa = sweep_ladder(&xs, m, 1.25, cutoff, Some(&mut c_isa), &ladder, isa);
                    let l_scalar = sweep_ladder(
                        &xs,
                        m,
                        1.25,
                        cutoff,
                        Some(&mut c_scalar),
                        &ladder,
                        Isa::Scalar,
                    );
                    assert_eq!(l_isa.0.to_bits(), l_scalar.0.to_bits(), "{isa:?} n={n}");
                    assert_eq!(l_isa.1.map(f64::to_bits), l_scalar.1.map(f64::to_bits));
                    assert_eq!(l_isa.1.map(f64::to_bits), rungs_s.map(f64::to_bits));
                    assert_eq!(
                        (&c_isa.ids, &c_isa.ys, &c_isa.es),
                        (&c_scalar.ids, &c_scalar.ys, &c_scalar.es)
                    );
                }
                let z_only = sweep_z(&xs, m, 1.25, -3.0, None, isa);
                assert_eq!(z_only.to_bits(), want.z.to_bits(), "{isa:?} n={n}");
                assert_eq!(max(&xs, isa), m);
                assert_eq!(got.s1.to_bits(), want.s1.to_bits(), "{isa:?} n={n}");
                assert_eq!(got_c.ids, reference.ids);
                assert_eq!(got_c.es, reference.es);
                assert_eq!(scan(&xs, isa), scan(&xs, Isa::Scalar));
            }
        }
    }

    #[test]
    fn z_stays_within_a_millionth_of_an_f64_sum() {
        // The f32 partials of CHUNK add at most a few 1e-7 to exp's own error.
        let xs: Vec<f32> = row(262_147, 9).into_iter().map(|x| x.max(-20.0)).collect();
        let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exact: f64 = xs.iter().map(|&x| (f64::from((x - m) * 0.5)).exp()).sum();
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
            let z = sweep_z(&xs, m, 0.5, f32::INFINITY, None, isa);
            assert!((z / exact - 1.0).abs() < 1e-6, "{isa:?}: {z} vs {exact}");
        }
    }

    #[test]
    fn walk_and_exps_agree_across_isas_and_with_a_plain_walk() {
        for n in [1usize, 15, 16, 17, 100, 1031, 4096] {
            let xs = row(n, 40 + n as u64);
            let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut es = Vec::new();
            let z = exps(&xs, m, &mut es, Isa::Scalar);
            for isa in [Isa::Avx2, Isa::Avx512] {
                if !isa.is_supported() {
                    continue;
                }
                let mut got = Vec::new();
                assert_eq!(exps(&xs, m, &mut got, isa).to_bits(), z.to_bits());
                assert_eq!(got, es);
            }
            for k in 0..=20 {
                let target = z * f64::from(k) / 20.0;
                let want = walk(&xs, m, 1.0, target, Isa::Scalar);
                for isa in [Isa::Avx2, Isa::Avx512] {
                    if isa.is_supported() {
                        assert_eq!(walk(&xs, m, 1.0, target, isa), want, "{isa:?} n={n} k={k}");
                    }
                }
                // The token picked is where the running mass crosses the target.
                let i = want.unwrap();
                assert!(es[i] > 0.0);
                let before: f64 = es[..i].iter().map(|&e| f64::from(e)).sum();
                let tol = 1e-9 * z;
                assert!(before <= target + tol, "n={n} k={k}");
                assert!(
                    before + f64::from(es[i]) >= target - tol || k == 20,
                    "n={n} k={k}"
                );
            }
        }
    }

    #[test]
    fn collect_above_agrees_across_isas() {
        for n in [1usize, 7, 8, 9, 16, 17, 100, 1031, 4096] {
            let xs = row(n, 90 + n as u64);
            let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let (mut ids, mut ys) = (Vec::new(), Vec::new());
            collect_above(&xs, m, 0.7, -6.0, &mut ids, &mut ys, Isa::Scalar);
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(
                ids.len(),
                xs.iter().filter(|&&x| (x - m) * 0.7 >= -6.0).count()
            );
            for isa in [Isa::Avx2, Isa::Avx512] {
                if isa.is_supported() {
                    let (mut gi, mut gy) = (vec![7], vec![0.5]);
                    collect_above(&xs, m, 0.7, -6.0, &mut gi, &mut gy, isa);
                    assert_eq!(gi[1..], ids[..], "{isa:?} n={n}");
                    assert_eq!(gy[1..], ys[..], "{isa:?} n={n}");
                }
            }
        }
    }

    #[test]
    fn scan_names_bad_values() {
        assert_eq!(scan(&[], Isa::detect()), Err(SampleError::EmptyLogits));
        let mut xs = vec![0.0f32; 40];
        xs[33] = f32::NAN;
        assert_eq!(
            scan(&xs, Isa::detect()),
            Err(SampleError::NanLogit { index: 33 })
        );
        xs[33] = f32::INFINITY;
        assert_eq!(
            scan(&xs, Isa::detect()),
            Err(SampleError::PositiveInfinity { index: 33 })
        );
    }

    #[test]
    fn top_k_collection_breaks_ties_by_lowest_id() {
        let xs = [1.0, 3.0, 3.0, 2.0, 3.0, f32::NEG_INFINITY];
        let (mut ids, mut vals) = (vec![], vec![]);
        collect_top_k(&xs, 2, &mut ids, &mut vals, Isa::Scalar);
        assert_eq!(ids, vec![1, 2]);
        collect_top_k(&xs, 10, &mut ids, &mut vals, Isa::Scalar);
        assert_eq!(ids, vec![0, 1, 2, 3, 4]);
        let big: Vec<f32> = (0..5000).map(|i| ((i * 7919) % 5000) as f32).collect();
        collect_top_k(&big, 3, &mut ids, &mut vals, Isa::Scalar);
        let mut got = vals.clone();
        got.sort_by(f32::total_cmp);
        assert_eq!(got, vec![4997.0, 4998.0, 4999.0]);
        // Every instruction set keeps the same tokens, ties included.
        for n in [5usize, 63, 64, 65, 1000, 4099] {
            let xs: Vec<f32> = row(n, 7 + n as u64).iter().map(|x| x.round()).collect();
            for k in [1usize, 3, 40, 300] {
                let (mut want_ids, mut want_vals) = (vec![], vec![]);
                collect_top_k(&xs, k, &mut want_ids, &mut want_vals, Isa::Scalar);
                for isa in [Isa::Avx2, Isa::Avx512] {
                    if isa.is_supported() {
                        collect_top_k(&xs, k, &mut ids, &mut vals, isa);
                        assert_eq!(ids, want_ids, "{isa:?} n={n} k={k}");
                    }
                }
            }
        }
    }
}
