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
    /// Positions in the sparse list, in the order [`Work::sorted_pairs`] left `pairs`.
    pub order: Vec<u32>,
    keys: Vec<u64>,
    spare_keys: Vec<u64>,
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
    pub fn kth_key(&mut self, k: usize) -> Option<(f32, u32)> {
        if k == 0 || k > self.ids.len() {
            return None;
        }
        self.pairs.clear();
        self.pairs
            .extend(self.ids.iter().zip(&self.ys).map(|(&id, &y)| (y, id, 0.0)));
        let (_, kth, _) = self.pairs.select_nth_unstable_by(k - 1, by_key);
        Some((kth.0, kth.1))
    }
}

/// Sorts `keys` by their high 32 bits, stably (so keys built in index order keep it among
/// equals): four counting passes of 8 bits, O(n).
fn radix_sort_high_halves(keys: &mut Vec<u64>, spare: &mut Vec<u64>) {
    spare.clear();
    spare.resize(keys.len(), 0);
    for pass in 0..4 {
        let shift = 32 + 8 * pass;
        let mut counts = [0usize; 257];
        for &k in keys.iter() {
            counts[((k >> shift) & 0xff) as usize + 1] += 1;
        }
        if counts[1..].contains(&keys.len()) {
            continue; // every key has the same byte here
        }
        for b in 0..256 {
            counts[b + 1] += counts[b];
        }
        for &k in keys.iter() {
            let slot = &mut counts[((k >> shift) & 0xff) as usize];
            spare[*slot] = k;
            *slot += 1;
        }
        std::mem::swap(keys, spare);
    }
}

/// `x`'s bits as an unsigned integer with the same order as the floats (no NaN here).
fn orderable(x: f32) -> u32 {
    let bits = x.to_bits();
    if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
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

impl Work {
    /// `Σ e²` over the current distribution, `e` taken relative to its max, so that the
    /// collision probability is `Σ p² = Σ e² / Z²` with `Z` from [`Work::stats`].
    pub fn sum_of_squares(&self, input: &[f32]) -> f64 {
        match &self.dense {
            Some(d) => {
                let base = self.base(input, d);
                kernels::sweep_z(base, d.max, 2.0 * d.scale, f32::INFINITY, None, self.isa())
            }
            None => {
                let ymax = self.sparse_max();
                kernels::sweep_z(&self.ys, ymax, 2.0, f32::INFINITY, None, self.isa())
            }
        }
    }

    /// Keeps the tokens with `p ≥ bar`, where `z` is the current `Σ e` (`p = e / Z`), or
    /// the best `min_keep` when fewer pass. A bar of 0 or less keeps everything.
    pub fn keep_probability_at_least(&mut self, input: &[f32], bar: f64, z: f64, min_keep: usize) {
        if bar > 0.0 {
            self.keep_within(input, (bar * z).ln() as f32, min_keep);
        }
    }

    /// Keeps the tokens whose logit is at least the max's plus `cutoff` (`cutoff ≤ 0`: the
    /// log of the smallest probability ratio to the top token), or the best `min_keep`
    /// when fewer pass. Needs no `exp`.
    pub fn keep_within(&mut self, input: &[f32], cutoff: f32, min_keep: usize) {
        if let Some(d) = self.dense {
            let isa = self.isa();
            let base = if d.edited { &self.edited } else { input };
            self.collected.clear();
            kernels::collect_above(
                base,
                d.max,
                d.scale,
                cutoff,
                &mut self.collected.ids,
                &mut self.collected.ys,
                isa,
            );
            if self.collected.ids.len() >= min_keep {
                self.set_sparse_from_collected(f64::from(d.max) * f64::from(d.scale));
            } else {
                self.materialize(input);
                self.keep_best_k(min_keep);
            }
        } else {
            let ymax = self.sparse_max();
            let passing = self.ys.iter().filter(|&&y| y - ymax >= cutoff).count();
            if passing >= min_keep {
                self.retain(|_, y| y - ymax >= cutoff);
            } else {
                self.keep_best_k(min_keep);
            }
        }
    }

    /// The sparse tokens, by `(y desc, id asc)`, as `(y, id, e)` in `self.pairs` with
    /// `e = exp(y − y_max)`; returns `Σ e`. Materializes a dense view first.
    pub fn sorted_pairs(&mut self, input: &[f32]) -> f64 {
        self.materialize(input);
        let (z, _) = self.sparse_weights();
        // Sorting integer keys is several times faster than comparing tuples: the high half
        // orders y descending, the low half is the index, which is id order.
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        keys.extend(
            self.ys
                .iter()
                .enumerate()
                .map(|(i, &y)| (u64::from(!orderable(y)) << 32) | i as u64),
        );
        radix_sort_high_halves(&mut keys, &mut self.spare_keys);
        self.pairs.clear();
        self.order.clear();
        for &k in &keys {
            let i = (k & 0xffff_ffff) as usize;
            self.pairs.push((self.ys[i], self.ids[i], self.es[i]));
            self.order.push(i as u32);
        }
        self.keys = keys;
        z
    }

    /// Keeps the `k` best tokens by `(y desc, id asc)`; a dense view uses the vectorised
    /// top-k scan.
    pub fn keep_top_k(&mut self, input: &[f32], k: usize) {
        match self.dense {
            Some(d) if k < d.finite => {
                let base = if d.edited { &self.edited } else { input };
                let (mut ids, mut vals) =
                    (std::mem::take(&mut self.ids), std::mem::take(&mut self.ys));
                kernels::collect_top_k(base, k, &mut ids, &mut vals, self.isa());
                for v in &mut vals {
                    *v = (*v - d.max) * d.scale;
                }
                self.ids = ids;
                self.ys = vals;
                self.offset = f64::from(d.max) * f64::from(d.scale);
                self.dense = None;
            }
            Some(_) => {}
            None => self.keep_best_k(k),
        }
    }

    /// Keeps the `n` best tokens of `self.pairs` (as [`Work::sorted_pairs`] left them).
    pub fn keep_sorted_prefix(&mut self, n: usize) {
        if n >= self.order.len() {
            return;
        }
        let mut keep = vec![false; self.ids.len()];
        for &i in &self.order[..n] {
            keep[i as usize] = true;
        }
        let mut w = 0;
        for (r, &kept) in keep.iter().enumerate() {
            self.ids[w] = self.ids[r];
            self.ys[w] = self.ys[r];
            w += usize::from(kept);
        }
        self.ids.truncate(w);
        self.ys.truncate(w);
    }

    /// Keeps only the tokens in `allowed`, which turns the view sparse; tokens past the
    /// set's vocabulary are cut.
    pub fn keep_set(&mut self, input: &[f32], allowed: &crate::TokenSet) {
        if let Some(d) = self.dense.take() {
            let base = if d.edited { &self.edited } else { input };
            self.ids.clear();
            self.ys.clear();
            for id in allowed.iter() {
                match base.get(id as usize) {
                    Some(&x) if x > f32::NEG_INFINITY => {
                        self.ids.push(id);
                        self.ys.push((x - d.max) * d.scale);
                    }
                    _ => {}
                }
            }
            self.offset = f64::from(d.max) * f64::from(d.scale);
        } else {
            self.retain(|id, _| allowed.contains(id));
        }
    }

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

impl Snapshot {
    /// Probabilities of the live tokens ranked ahead of `i` (probability desc, id asc).
    pub fn ahead(&self, i: usize) -> impl Iterator<Item = f64> + '_ {
        let q = self.probs[i];
        self.probs
            .iter()
            .zip(&self.live)
            .enumerate()
            .filter(move |&(j, (&pj, &live))| live && (pj > q || (pj == q && j < i)))
            .map(|(_, (&pj, _))| pj)
    }

    /// Entropy in nats of the live distribution.
    pub fn entropy(&self) -> f64 {
        self.live_probs()
            .filter(|&p| p > 0.0)
            .map(|p| -p * p.ln())
            .sum()
    }

    /// `Σ p²` of the live distribution.
    pub fn sum_of_squares(&self) -> f64 {
        self.live_probs().map(|p| p * p).sum()
    }

    fn live_probs(&self) -> impl Iterator<Item = f64> + '_ {
        self.probs
            .iter()
            .zip(&self.live)
            .filter(|(_, live)| **live)
            .map(|(p, _)| *p)
    }

    /// The largest live probability.
    pub fn p_max(&self) -> f64 {
        self.probs
            .iter()
            .zip(&self.live)
            .filter(|(_, live)| **live)
            .map(|(p, _)| *p)
            .fold(0.0, f64::max)
    }
}
