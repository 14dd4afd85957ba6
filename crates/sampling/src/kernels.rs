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
/// is given appends every `i` with `y_i ≥ cutoff` (ids ascending, offset by `id_base`).
pub fn sweep(
    xs: &[f32],
    m: f32,
    s: f32,
    cutoff: f32,
    collect: Option<&mut Collected>,
    isa: Isa,
) -> Sums {
    let mut lanes_z = [0f64; LANES];
    let mut lanes_s1 = [0f64; LANES];
    let done = match isa.usable() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU features.
        Isa::Avx512 => unsafe {
            x86::sweep_avx512(xs, m, s, cutoff, collect, &mut lanes_z, &mut lanes_s1)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe {
            x86::sweep_avx2(xs, m, s, cutoff, collect, &mut lanes_z, &mut lanes_s1)
        },
        _ => sweep_scalar(xs, 0, m, s, cutoff, collect, &mut lanes_z, &mut lanes_s1),
    };
    debug_assert_eq!(done, xs.len());
    let mut sums = Sums::default();
    for lane in 0..LANES {
        sums.z += lanes_z[lane];
        sums.s1 += lanes_s1[lane];
    }
    sums
}

#[allow(clippy::too_many_arguments)]
fn sweep_scalar(
    xs: &[f32],
    start: usize,
    m: f32,
    s: f32,
    cutoff: f32,
    mut collect: Option<&mut Collected>,
    lanes_z: &mut [f64; LANES],
    lanes_s1: &mut [f64; LANES],
) -> usize {
    for (i, &x) in xs.iter().enumerate().skip(start) {
        let y = (x - m) * s;
        let e = exp(y);
        let lane = i % LANES;
        lanes_z[lane] += f64::from(e);
        lanes_s1[lane] += f64::from(e) * f64::from(y.max(Y_FLOOR));
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
) {
    // A plain loop: compilers vectorise the compare; pushes are rare on real rows.
    for (i, &x) in xs.iter().enumerate() {
        let y = (x - m) * s;
        if y >= cutoff {
            ids.push(i as u32);
            ys.push(y);
        }
    }
}

/// The `k` largest finite logits, ties to the lowest id, returned ascending by id.
/// One pass: a buffer is compacted to the best `k` whenever it fills, and its `k`-th value
/// becomes the bar later logits must beat.
pub fn collect_top_k(xs: &[f32], k: usize, ids: &mut Vec<u32>, vals: &mut Vec<f32>) {
    ids.clear();
    vals.clear();
    if k == 0 {
        return;
    }
    let cap = (2 * k).max(k + 256);
    let mut pairs: Vec<(f32, u32)> = Vec::with_capacity(cap.min(xs.len()));
    let mut bar = f32::NEG_INFINITY;
    for (i, &x) in xs.iter().enumerate() {
        if x > bar {
            pairs.push((x, i as u32));
            if pairs.len() == cap {
                bar = keep_best(&mut pairs, k);
            }
        }
    }
    if pairs.len() > k {
        keep_best(&mut pairs, k);
    }
    pairs.sort_unstable_by_key(|&(_, id)| id);
    for (x, id) in pairs {
        ids.push(id);
        vals.push(x);
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

/// Inverse-CDF walk over a whole row in id order: the first `i` whose running
/// `Σ exp((x_j - m)·s)` exceeds `target`. Falls back to the last positive weight when
/// rounding leaves `target` just past the end.
pub fn walk(xs: &[f32], m: f32, s: f32, target: f64) -> Option<usize> {
    let mut cum = 0f64;
    let mut last_positive = None;
    for (b, chunk) in xs.chunks(LANES).enumerate() {
        let mut es = [0f32; LANES];
        let mut block = 0f64;
        for (j, &x) in chunk.iter().enumerate() {
            es[j] = exp((x - m) * s);
            block += f64::from(es[j]);
        }
        if block == 0.0 {
            continue;
        }
        if cum + block <= target {
            cum += block;
            last_positive = es.iter().rposition(|&e| e > 0.0).map(|j| b * LANES + j);
            continue;
        }
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

/// The floor every sampler pays: the max, then `Σ exp((x - max)·s)` in one vectorised
/// pass (no validation, no collection). Returns `ln Σ exp(x·s)`.
pub fn log_sum_exp(xs: &[f32], s: f32, isa: Isa) -> f64 {
    let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sums = sweep(xs, m, s, f32::INFINITY, None, isa);
    f64::from(m) * f64::from(s) + sums.z.ln()
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
        let mut vmax = _mm256_set1_ps(f32::NEG_INFINITY);
        let mut bad = _mm256_setzero_ps();
        let mut neg_inf = 0usize;
        let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
        let pinf = _mm256_set1_ps(f32::INFINITY);
        let chunks = xs.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            // SAFETY: `c` has 8 elements.
            let x = unsafe { _mm256_loadu_ps(c.as_ptr()) };
            vmax = _mm256_max_ps(vmax, x);
            bad = _mm256_or_ps(bad, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x));
            bad = _mm256_or_ps(bad, _mm256_cmp_ps::<_CMP_EQ_OQ>(x, pinf));
            neg_inf +=
                _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(x, ninf)).count_ones() as usize;
        }
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` has 8 elements.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), vmax) };
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
        let mut vmax = _mm512_set1_ps(f32::NEG_INFINITY);
        let mut bad: __mmask16 = 0;
        let mut neg_inf = 0usize;
        let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
        let pinf = _mm512_set1_ps(f32::INFINITY);
        let chunks = xs.chunks_exact(16);
        let rest = chunks.remainder();
        for c in chunks {
            // SAFETY: `c` has 16 elements.
            let x = unsafe { _mm512_loadu_ps(c.as_ptr()) };
            vmax = _mm512_max_ps(vmax, x);
            bad |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x)
                | _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, pinf);
            neg_inf += _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, ninf).count_ones() as usize;
        }
        let (tail_max, tail_ninf, tail_bad) = scan_scalar(rest);
        let max = _mm512_reduce_max_ps(vmax).max(tail_max);
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

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn sweep_avx2(
        xs: &[f32],
        m: f32,
        s: f32,
        cutoff: f32,
        mut collect: Option<&mut Collected>,
        lanes_z: &mut [f64; LANES],
        lanes_s1: &mut [f64; LANES],
    ) -> usize {
        let vm = _mm256_set1_ps(m);
        let vs = _mm256_set1_ps(s);
        let vc = _mm256_set1_ps(cutoff);
        let floor = _mm256_set1_ps(Y_FLOOR);
        let mut z = [_mm256_setzero_pd(); 4];
        let mut s1 = [_mm256_setzero_pd(); 4];
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
            let halves = [
                (
                    _mm256_castps256_ps128(e0),
                    _mm256_castps256_ps128(_mm256_max_ps(y0, floor)),
                ),
                (
                    _mm256_extractf128_ps::<1>(e0),
                    _mm256_extractf128_ps::<1>(_mm256_max_ps(y0, floor)),
                ),
                (
                    _mm256_castps256_ps128(e1),
                    _mm256_castps256_ps128(_mm256_max_ps(y1, floor)),
                ),
                (
                    _mm256_extractf128_ps::<1>(e1),
                    _mm256_extractf128_ps::<1>(_mm256_max_ps(y1, floor)),
                ),
            ];
            for (q, &(e, y)) in halves.iter().enumerate() {
                let ed = _mm256_cvtps_pd(e);
                z[q] = _mm256_add_pd(z[q], ed);
                s1[q] = _mm256_add_pd(s1[q], _mm256_mul_pd(ed, _mm256_cvtps_pd(y)));
            }
            if let Some(c) = collect.as_deref_mut() {
                let mask = (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(y0, vc)) as u32)
                    | ((_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(y1, vc)) as u32) << 8);
                if mask != 0 {
                    let mut ys = [0f32; 16];
                    let mut es = [0f32; 16];
                    // SAFETY: the arrays have 16 elements.
                    unsafe {
                        _mm256_storeu_ps(ys.as_mut_ptr(), y0);
                        _mm256_storeu_ps(ys.as_mut_ptr().add(8), y1);
                        _mm256_storeu_ps(es.as_mut_ptr(), e0);
                        _mm256_storeu_ps(es.as_mut_ptr().add(8), e1);
                    }
                    push_block(c, i, &ys, &es, mask);
                }
            }
            i += LANES;
        }
        for q in 0..4 {
            // SAFETY: each 4-lane group lies inside the 16-lane arrays.
            unsafe {
                _mm256_storeu_pd(lanes_z.as_mut_ptr().add(4 * q), z[q]);
                _mm256_storeu_pd(lanes_s1.as_mut_ptr().add(4 * q), s1[q]);
            }
        }
        sweep_scalar(xs, full, m, s, cutoff, collect, lanes_z, lanes_s1)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn sweep_avx512(
        xs: &[f32],
        m: f32,
        s: f32,
        cutoff: f32,
        mut collect: Option<&mut Collected>,
        lanes_z: &mut [f64; LANES],
        lanes_s1: &mut [f64; LANES],
    ) -> usize {
        let vm = _mm512_set1_ps(m);
        let vs = _mm512_set1_ps(s);
        let vc = _mm512_set1_ps(cutoff);
        let floor = _mm512_set1_ps(Y_FLOOR);
        let (mut z_lo, mut z_hi) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let (mut s_lo, mut s_hi) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let full = xs.len() / LANES * LANES;
        let mut i = 0;
        while i < full {
            // SAFETY: `i + 16 <= xs.len()`.
            let x = unsafe { _mm512_loadu_ps(xs.as_ptr().add(i)) };
            let y = _mm512_mul_ps(_mm512_sub_ps(x, vm), vs);
            // SAFETY: avx512f is enabled here.
            let e = unsafe { exp16(y) };
            let yf = _mm512_max_ps(y, floor);
            let e_lo = _mm512_cvtps_pd(_mm512_castps512_ps256(e));
            let e_hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                _mm512_castps_pd(e),
            )));
            let y_lo = _mm512_cvtps_pd(_mm512_castps512_ps256(yf));
            let y_hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                _mm512_castps_pd(yf),
            )));
            z_lo = _mm512_add_pd(z_lo, e_lo);
            z_hi = _mm512_add_pd(z_hi, e_hi);
            s_lo = _mm512_add_pd(s_lo, _mm512_mul_pd(e_lo, y_lo));
            s_hi = _mm512_add_pd(s_hi, _mm512_mul_pd(e_hi, y_hi));
            if let Some(c) = collect.as_deref_mut() {
                let mask = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(y, vc) as u32;
                if mask != 0 {
                    let mut ys = [0f32; 16];
                    let mut es = [0f32; 16];
                    // SAFETY: the arrays have 16 elements.
                    unsafe {
                        _mm512_storeu_ps(ys.as_mut_ptr(), y);
                        _mm512_storeu_ps(es.as_mut_ptr(), e);
                    }
                    push_block(c, i, &ys, &es, mask);
                }
            }
            i += LANES;
        }
        // SAFETY: each 8-lane group lies inside the 16-lane arrays.
        unsafe {
            _mm512_storeu_pd(lanes_z.as_mut_ptr(), z_lo);
            _mm512_storeu_pd(lanes_z.as_mut_ptr().add(8), z_hi);
            _mm512_storeu_pd(lanes_s1.as_mut_ptr(), s_lo);
            _mm512_storeu_pd(lanes_s1.as_mut_ptr().add(8), s_hi);
        }
        sweep_scalar(xs, full, m, s, cutoff, collect, lanes_z, lanes_s1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                assert_eq!(got.s1.to_bits(), want.s1.to_bits(), "{isa:?} n={n}");
                assert_eq!(got_c.ids, reference.ids);
                assert_eq!(got_c.es, reference.es);
                assert_eq!(scan(&xs, isa), scan(&xs, Isa::Scalar));
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
        collect_top_k(&xs, 2, &mut ids, &mut vals);
        assert_eq!(ids, vec![1, 2]);
        collect_top_k(&xs, 10, &mut ids, &mut vals);
        assert_eq!(ids, vec![0, 1, 2, 3, 4]);
        let big: Vec<f32> = (0..5000).map(|i| ((i * 7919) % 5000) as f32).collect();
        collect_top_k(&big, 3, &mut ids, &mut vals);
        let mut got = vals.clone();
        got.sort_by(f32::total_cmp);
        assert_eq!(got, vec![4997.0, 4998.0, 4999.0]);
    }
}
