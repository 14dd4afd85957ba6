use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::explain::num;
use crate::kernels;
use crate::params::{Field, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::{Work, by_key, key_at_least};

/// Slack on the cumulative mass, absorbing the float noise of the logit → probability
/// round trip so that exact boundaries (0.4 + 0.3 against p = 0.7) behave as written.
pub(crate) const TOP_P_SLACK: f64 = 1e-6;

/// Cutoffs in nats below the max: the sweep collects tokens above the first and sums the
/// mass above each, so a flat row whose nucleus reaches lower needs one more pass without
/// `exp`, not another sweep.
const LADDER: [f32; kernels::RUNGS] = [-8.0, -11.0];

/// Top-p (nucleus): sort by probability and keep the smallest prefix whose mass reaches `p`:
/// `kept = argmin_{prefix S} |S|  subject to  Σ_{i∈S} p_i ≥ p`.
///
/// **The token that crosses `p` is kept**, as in llama.cpp's `top_p`, HF's
/// `TopPLogitsWarper` and vLLM. Edges:
/// - `p = 1` is off; `p = 0` is greedy (only the top token survives).
/// - At least `min_keep` tokens (default 1) survive.
/// - Mass is summed in `f64`; a prefix within `1e-6` of `p` counts as reaching it, so exact
///   boundaries such as `0.4 + 0.3 ≥ 0.7` hold despite float rounding.
/// - Order is probability descending, ties to the lowest token id.
/// - No full sort: candidates are collected in the `Σ exp` pass and the crossing token is
///   found by binning and a quickselect on mass.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, TopP};
/// let probs = [0.1f32, 0.2, 0.3, 0.4];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// let knobs = Knobs { top_p: Some(TopP::new(0.7)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![2, 3]); // 0.4 + 0.3 reaches 0.7
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TopP {
    p: f32,
    min_keep: usize,
}

impl TopP {
    /// Nucleus mass `p ∈ [0, 1]`.
    pub fn new(p: f32) -> Result<Self, ParamError> {
        Self::with_min_keep(p, 1)
    }

    /// Nucleus mass `p ∈ [0, 1]`, keeping at least `min_keep ≥ 1` tokens.
    pub fn with_min_keep(p: f32, min_keep: usize) -> Result<Self, ParamError> {
        if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
            return Err(ParamError::new("top_p", "p", p, "a finite value in [0, 1]"));
        }
        if min_keep == 0 {
            return Err(ParamError::new(
                "top_p",
                "min_keep",
                min_keep,
                "an integer ≥ 1",
            ));
        }
        Ok(TopP { p, min_keep })
    }

    /// `p`.
    pub fn value(&self) -> f32 {
        self.p
    }
}

impl KnobImpl for TopP {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::TopP,
        summary: "Keeps the smallest most-likely set whose mass reaches p (nucleus sampling).",
        fields: &[Field::number(
            "top_p",
            Range::closed(0.0, 1.0),
            "a number in [0, 1]",
            "Keep the smallest set whose mass reaches p (1 = off, 0 = greedy).",
        )
        .default(1.0)
        .off(1.0)],
        phase: Phase::Truncate { first: 2, last: 3 },
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        params
            .number("top_p")
            .map(|p| TopP::with_min_keep(p as f32, params.min_keep()))
            .transpose()
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.p >= 1.0 {
            return Ok(Applied::default());
        }
        let mut p = f64::from(self.p);
        if crate::mutants::active(crate::mutants::Mutant::TopPStrict) {
            p += 2.0 * TOP_P_SLACK;
        }
        let isa = w.isa();
        if let Some(d) = w.dense {
            let base = if d.edited { &w.edited } else { input };
            w.collected.clear();
            let (z, rungs) = kernels::sweep_ladder(
                base,
                d.max,
                d.scale,
                LADDER[0],
                Some(&mut w.collected),
                &LADDER,
                isa,
            );
            let target = (p - TOP_P_SLACK) * z;
            if rungs[0] < target || w.collected.ids.len() < self.min_keep {
                // A flat row: the nucleus reaches below the first cutoff. Collect down to
                // the highest rung that holds it, or to a cutoff that provably does (the
                // tokens below it weigh less than live · e^cutoff ≤ (1 - p) · Z).
                let proven = -((d.finite as f64).ln() - (1.0 - p).ln() + 1.0) as f32;
                let rung = LADDER
                    .iter()
                    .zip(rungs)
                    .skip(1)
                    .find(|&(_, mass)| mass >= target)
                    .map(|(&cutoff, _)| cutoff);
                let cutoff = rung.map_or(proven, |c| c.max(proven));
                let c = &mut w.collected;
                c.clear();
                kernels::collect_above(base, d.max, d.scale, cutoff, &mut c.ids, &mut c.ys, isa);
                // `y` is already relative to the max: the same `e` the sweep computes.
                kernels::exps(&c.ys, 0.0, &mut c.es, isa);
                if w.collected.ids.len() < self.min_keep {
                    w.materialize(input);
                    w.keep_best_k(self.min_keep);
                    return Ok(Applied::default());
                }
            }
            std::mem::swap(&mut w.es, &mut w.collected.es);
            w.set_sparse_from_collected(f64::from(d.max) * f64::from(d.scale));
            w.keep_mass_prefix(target, self.min_keep);
        } else {
            let (z, _) = w.sparse_weights();
            w.keep_mass_prefix((p - TOP_P_SLACK) * z, self.min_keep);
        }
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("p = {}", self.p)
    }

    fn cut_reason(&self, i: usize, input: &Snapshot) -> String {
        let cum = input.ahead(i).sum::<f64>() + input.probs[i];
        format!("cum {} > {}", num(cum, f64::from(self.p)), self.p)
    }
}

/// The nucleus search over the sparse list, shared by both paths of `apply`.
impl Work {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels;

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
