use super::{Applied, ApplyResult, Ctx};
use crate::error::ParamError;
use crate::kernels;
use crate::work::Work;

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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

    pub(crate) fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
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
}
