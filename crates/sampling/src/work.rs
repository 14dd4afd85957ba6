//! The working distribution a chain transforms, and the operations knobs share.
//!
//! A row starts *dense*: every token of a base row (the caller's logits, or a private copy
//! once a knob has edited logits) is live, and temperature is a pending scale. The first
//! knob that cuts tokens turns it *sparse*: a list of surviving ids, ascending, each with a
//! shifted logit `y`; the logit the knob chain sees is `y + offset`. Probabilities are
//! `exp(y - max y) / Σ`, with dial's `exp`.

use crate::error::SampleError;
use crate::kernels::{self, Collected, Isa, Sums};

/// The dense view: all tokens of the base row live, logits `x · scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dense {
    /// The base row is `Work::edited` rather than the caller's input.
    pub edited: bool,
    /// Pending multiplier (1/T) on the base row.
    pub scale: f32,
    /// Max and finite count of the base row.
    pub max: f32,
    pub finite: usize,
}

/// Reusable buffers and the current state. Lives in the sampler so no call allocates over V
/// once warmed up.
#[derive(Debug, Default)]
pub(crate) struct Work {
    pub dense: Option<Dense>,
    pub edited: Vec<f32>,
    pub ids: Vec<u32>,
    pub ys: Vec<f32>,
    pub offset: f64,
    pub vocab: usize,
    pub isa: Option<Isa>,
    // scratch
    pub collected: Collected,
    pub pairs: Vec<(f32, u32, f32)>,
    pub es: Vec<f32>,
    pub probs_in: Vec<(u32, f64)>,
    pub bins: Vec<f64>,
}

/// The whole distribution after one stage, for explanations: one entry per token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// Probability of each token (0 when cut, or when it underflows).
    pub probs: Vec<f64>,
    /// Whether each token is still live.
    pub live: Vec<bool>,
}

/// Statistics of the current distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stats {
    pub sums: Sums,
    pub live: usize,
}

impl Work {
    pub fn isa(&self) -> Isa {
        self.isa.unwrap_or(Isa::Scalar)
    }

    /// Resets to the dense view of `input`, validating it.
    pub fn start(&mut self, input: &[f32], isa: Isa) -> Result<(), SampleError> {
        let scan = kernels::scan(input, isa)?;
        if scan.finite == 0 {
            return Err(SampleError::AllMasked { after: "input" });
        }
        self.isa = Some(isa);
        self.vocab = input.len();
        self.dense = Some(Dense {
            edited: false,
            scale: 1.0,
            max: scan.max,
            finite: scan.finite,
        });
        self.ids.clear();
        self.ys.clear();
        self.offset = 0.0;
        Ok(())
    }

    pub fn base<'a>(&'a self, input: &'a [f32], dense: &Dense) -> &'a [f32] {
        if dense.edited { &self.edited } else { input }
    }

    /// How many tokens are live.
    pub fn live(&self) -> usize {
        match &self.dense {
            Some(d) => d.finite,
            None => self.ids.len(),
        }
    }

    /// `Σ e` and `Σ e·y` of the current distribution.
    pub fn stats(&self, input: &[f32]) -> Stats {
        match &self.dense {
            Some(d) => {
                let base = self.base(input, d);
                Stats {
                    sums: kernels::sweep(base, d.max, d.scale, f32::INFINITY, None, self.isa()),
                    live: d.finite,
                }
            }
            None => {
                let ymax = self.sparse_max();
                Stats {
                    sums: kernels::sweep(&self.ys, ymax, 1.0, f32::INFINITY, None, self.isa()),
                    live: self.ids.len(),
                }
            }
        }
    }

    /// The current distribution over the whole vocabulary (allocates; explanations only).
    pub fn snapshot(&mut self, input: &[f32]) -> Snapshot {
        let mut out = Snapshot {
            probs: vec![0.0; self.vocab],
            live: vec![false; self.vocab],
        };
        match self.dense {
            Some(d) => {
                let base = self.base(input, &d);
                let z = kernels::sweep_z(base, d.max, d.scale, f32::INFINITY, None, self.isa());
                for (i, &x) in base.iter().enumerate() {
                    out.live[i] = x > f32::NEG_INFINITY;
                    out.probs[i] = f64::from(kernels::exp((x - d.max) * d.scale)) / z;
                }
            }
            None => {
                let (z, _) = self.sparse_weights();
                for (&id, &e) in self.ids.iter().zip(&self.es) {
                    out.live[id as usize] = true;
                    out.probs[id as usize] = f64::from(e) / z;
                }
            }
        }
        out
    }

    /// Shifts the sparse logits so the max is 0 (the offset absorbs the shift).
    pub fn shift_max_to_zero(&mut self) {
        let ymax = self.sparse_max();
        if ymax.is_finite() && ymax != 0.0 {
            for y in &mut self.ys {
                *y -= ymax;
            }
            self.offset += f64::from(ymax);
        }
    }

    pub fn sparse_max(&self) -> f32 {
        self.ys.iter().copied().fold(f32::NEG_INFINITY, f32::max)
    }

    /// Copies the base into the private buffer (applying the pending scale) so a knob can
    /// edit logits. Only the dense view uses this.
    pub fn make_editable(&mut self, input: &[f32]) {
        if let Some(d) = self.dense {
            if d.edited && d.scale == 1.0 {
                return;
            }
            if !d.edited {
                self.edited.clear();
                self.edited.extend_from_slice(input);
            }
            if d.scale != 1.0 {
                for x in &mut self.edited {
                    *x *= d.scale;
                }
            }
            self.dense = Some(Dense {
                edited: true,
                scale: 1.0,
                max: d.max * d.scale,
                finite: d.finite,
            });
        }
    }

    /// Re-scans the private buffer after edits (max and finite count may have moved).
    pub fn rescan_edited(&mut self, after: &'static str) -> Result<(), SampleError> {
        if let Some(d) = self.dense.as_mut() {
            let scan = kernels::scan(&self.edited, self.isa.unwrap_or(Isa::Scalar))?;
            if scan.finite == 0 {
                return Err(SampleError::AllMasked { after });
            }
            d.max = scan.max;
            d.finite = scan.finite;
        }
        Ok(())
    }

    /// Turns the dense view into the sparse list of every finite token.
    pub fn materialize(&mut self, input: &[f32]) {
        if let Some(d) = self.dense.take() {
            let base = if d.edited { &self.edited } else { input };
            self.ids.clear();
            self.ys.clear();
            kernels::collect_above(
                base,
                d.max,
                d.scale,
                f32::MIN,
                &mut self.ids,
                &mut self.ys,
                self.isa.unwrap_or(Isa::Scalar),
            );
            self.offset = f64::from(d.max) * f64::from(d.scale);
        }
    }

    /// Replaces the state by a sparse list (ids ascending) with logits `ys + offset`.
    pub fn set_sparse_from_collected(&mut self, offset: f64) {
        self.dense = None;
        std::mem::swap(&mut self.ids, &mut self.collected.ids);
        std::mem::swap(&mut self.ys, &mut self.collected.ys);
        self.offset = offset;
    }

    /// Keeps sparse tokens for which `keep(id, y)` holds, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(u32, f32) -> bool) {
        let mut w = 0;
        for r in 0..self.ids.len() {
            let (id, y) = (self.ids[r], self.ys[r]);
            // Branch-free: about half the tokens go each way on flat rows.
            self.ids[w] = id;
            self.ys[w] = y;
            w += usize::from(keep(id, y));
        }
        self.ids.truncate(w);
        self.ys.truncate(w);
    }

    /// Fills `self.es` with `exp(y - max y)` for the sparse list; returns `(Σ e, max y)`.
    pub fn sparse_weights(&mut self) -> (f64, f32) {
        let ymax = self.sparse_max();
        let isa = self.isa();
        let z = kernels::exps(&self.ys, ymax, &mut self.es, isa);
        (z, ymax)
    }

    /// Keeps the `k` best sparse tokens by `(y desc, id asc)`.
    pub fn keep_best_k(&mut self, k: usize) {
        if k >= self.ids.len() {
            return;
        }
        let Some(bar) = self.kth_key(k) else { return };
        self.retain(|id, y| key_at_least((y, id), bar));
    }

    /// The `k`-th best `(y, id)` key (1-based) of the sparse list.
    fn kth_key(&mut self, k: usize) -> Option<(f32, u32)> {
        if k == 0 || k > self.ids.len() {
            return None;
        }
        self.pairs.clear();
        self.pairs
            .extend(self.ids.iter().zip(&self.ys).map(|(&id, &y)| (y, id, 0.0)));
        let (_, kth, _) = self.pairs.select_nth_unstable_by(k - 1, by_key);
        Some((kth.0, kth.1))
    }

    /// The smallest prefix, in `(y desc, id asc)` order, whose weight reaches `target`
    /// (weights in `self.es`, aligned with the sparse list). Keeps at least `min_keep`.
    /// Sort-free: large lists are binned by `y` first, so only the crossing bin is ordered.
    pub fn keep_mass_prefix(&mut self, target: f64, min_keep: usize) {
        let n = self.ids.len();
        if n == 0 {
            return;
        }
        let bar = self.crossing_key_binned(target).unwrap_or_else(|| {
            self.pairs.clear();
            for i in 0..n {
                self.pairs.push((self.ys[i], self.ids[i], self.es[i]));
            }
            crossing_key(&mut self.pairs, target)
        });
        let drop_crossing = crate::mutants::active(crate::mutants::Mutant::TopPDropsCrossing);
        let min_bar = if min_keep > 1 {
            self.kth_key(min_keep.min(n))
        } else {
            None
        };
        self.retain(|id, y| {
            let in_prefix = key_at_least((y, id), bar) && !(drop_crossing && (y, id) == bar);
            in_prefix || min_bar.is_some_and(|mb| key_at_least((y, id), mb))
        });
    }

    /// [`crossing_key`] for long lists: one pass sums the weight in `BINS` equal-width bins
    /// of `y` (bin 0 holds the largest `y`), the running sum over bins finds the bin where
    /// the mass reaches `target`, and only that bin's tokens are ordered. `None` when the
    /// list is short or all `y` are equal.
    fn crossing_key_binned(&mut self, target: f64) -> Option<(f32, u32)> {
        const BINNED_ABOVE: usize = 2048;
        const BINS: usize = 1024;
        if self.ids.len() <= BINNED_ABOVE {
            return None;
        }
        let finite = self.ys.iter().copied().filter(|y| y.is_finite());
        let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), y| {
            (lo.min(y), hi.max(y))
        });
        let width = (hi - lo) / BINS as f32;
        if !(width > 0.0 && width.is_finite()) {
            return None;
        }
        let inv = 1.0 / width;
        // Rounding is monotone, so a larger `y` never lands in a later bin.
        let bin = |y: f32| (((hi - y) * inv) as usize).min(BINS - 1);
        self.bins.clear();
        self.bins.resize(BINS, 0.0);
        for (&y, &e) in self.ys.iter().zip(&self.es) {
            self.bins[bin(y)] += f64::from(e);
        }
        let mut before = 0f64;
        let mut crossing = None;
        for (b, &mass) in self.bins.iter().enumerate() {
            if mass == 0.0 {
                continue;
            }
            crossing = Some((b, before));
            if before + mass >= target {
                break;
            }
            before += mass;
        }
        let (b, before) = crossing?;
        self.pairs.clear();
        for ((&y, &id), &e) in self.ys.iter().zip(&self.ids).zip(&self.es) {
            if bin(y) == b {
                self.pairs.push((y, id, e));
            }
        }
        Some(crossing_key(&mut self.pairs, target - before))
    }
}

/// `(y desc, id asc)`: better keys first.
pub(crate) fn by_key(a: &(f32, u32, f32), b: &(f32, u32, f32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Whether `key` is at least as good as `bar` in `(y desc, id asc)` order.
pub(crate) fn key_at_least(key: (f32, u32), bar: (f32, u32)) -> bool {
    key.0 > bar.0 || (key.0 == bar.0 && key.1 <= bar.1)
}

/// The key of the token whose inclusion first brings the running mass (in key order) to
/// `target`; the best key when `target ≤ 0`, the worst when it is never reached.
pub(crate) fn crossing_key(pairs: &mut [(f32, u32, f32)], target: f64) -> (f32, u32) {
    let mut need = target;
    let mut slice: &mut [(f32, u32, f32)] = pairs;
    loop {
        if slice.len() <= 32 {
            slice.sort_unstable_by(by_key);
            let mut cum = 0f64;
            for p in slice.iter() {
                cum += f64::from(p.2);
                if cum >= need {
                    return (p.0, p.1);
                }
            }
            let last = slice
                .last()
                .map_or((f32::NEG_INFINITY, u32::MAX), |p| (p.0, p.1));
            return last;
        }
        if need <= 0.0 {
            let best = slice
                .iter()
                .min_by(|a, b| by_key(a, b))
                .map_or((f32::INFINITY, 0), |p| (p.0, p.1));
            return best;
        }
        let mid = slice.len() / 2;
        let (left, pivot, right) = slice.select_nth_unstable_by(mid, by_key);
        let left_mass: f64 = left.iter().map(|p| f64::from(p.2)).sum();
        if left_mass >= need {
            slice = left;
            continue;
        }
        let with_pivot = left_mass + f64::from(pivot.2);
        if with_pivot >= need {
            return (pivot.0, pivot.1);
        }
        need -= with_pivot;
        slice = right;
    }
}

impl Work {
    /// Rewrites one token's logit with `f` (dense view: must be editable first). Tokens
    /// the sparse list no longer holds are skipped: they are already cut.
    pub fn edit(&mut self, id: u32, f: impl FnOnce(f32) -> f32) {
        if self.dense.is_some() {
            if let Some(x) = self.edited.get_mut(id as usize) {
                *x = f(*x);
            }
        } else if let Ok(pos) = self.ids.binary_search(&id) {
            let v = (f64::from(self.ys[pos]) + self.offset) as f32;
            self.ys[pos] = (f64::from(f(v)) - self.offset) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binned_crossing_matches_the_plain_quickselect() {
        let mut rng = crate::DialRng::new(5);
        for (n, spread) in [(3000usize, 1.0f64), (5000, 8.0), (20_000, 30.0)] {
            let mut w = Work::default();
            for i in 0..n {
                w.ids.push(i as u32);
                // Coarse values so ties across ids occur.
                let y = -((rng.uniform() * spread * 64.0).floor() / 64.0) as f32;
                w.ys.push(y);
                w.es.push(kernels::exp(y));
            }
            let z: f64 = w.es.iter().map(|&e| f64::from(e)).sum();
            for frac in [0.0, 1e-6, 0.1, 0.5, 0.9, 0.999, 1.5] {
                let binned = w.crossing_key_binned(frac * z);
                let mut pairs: Vec<_> = (0..n).map(|i| (w.ys[i], w.ids[i], w.es[i])).collect();
                let plain = crossing_key(&mut pairs, frac * z);
                assert_eq!(binned, Some(plain), "n={n} frac={frac}");
            }
        }
    }
}
