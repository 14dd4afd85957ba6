use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Tail-free sampling (Trenton Bricken, 2019): sort the probabilities descending,
/// `p_(1) ≥ p_(2) ≥ …`, take the absolute second differences
/// `d_j = |p_(j) − 2·p_(j+1) + p_(j+2)|`, normalise them to sum 1, and cut the tail where
/// their running sum first exceeds `z`.
///
/// Follows text-generation-webui's `TailFreeLogitsWarper` exactly: token `j + 1` (for
/// `j ≥ 1`) is removed when `Σ_{i ≤ j} d_i / Σ d > z`; the first token always stays and the
/// last is always dropped. Ties sort by lowest id. Edges:
/// - `z = 1` is off.
/// - All second differences zero (a flat tail): only the last token goes.
/// - At least `min_keep` tokens stay; a single live token stays.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, TailFree};
/// let probs = [0.5f32, 0.3, 0.1, 0.05, 0.03, 0.02];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// // d = 0, 0.15, 0.03, 0.01: the running share passes 0.5 at the second (0.79)
/// let knobs = Knobs { tfs: Some(TailFree::new(0.5)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![0, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TailFree {
    z: f64,
    min_keep: usize,
}

impl TailFree {
    /// `z ∈ [0, 1]`.
    pub fn new(z: f64) -> Result<Self, ParamError> {
        Self::with_min_keep(z, 1)
    }

    /// `z ∈ [0, 1]`, keeping at least `min_keep ≥ 1` tokens.
    pub fn with_min_keep(z: f64, min_keep: usize) -> Result<Self, ParamError> {
        if !(0.0..=1.0).contains(&z) {
            return Err(ParamError::new("tfs", "z", z, "a value in [0, 1]"));
        }
        let min_keep = super::check_min_keep("tfs", min_keep)?;
        Ok(TailFree { z, min_keep })
    }

    /// `z`.
    pub fn value(&self) -> f64 {
        self.z
    }

    /// How many of `probs` (sorted descending) survive. Two passes over the second
    /// differences: their total, then the running share.
    pub(crate) fn kept(&self, probs: impl Iterator<Item = f64> + Clone) -> usize {
        let first_difference = crate::mutants::active(crate::mutants::Mutant::TfsFirstDifference);
        let differences = |probs: std::iter::Peekable<_>| SecondDifferences {
            probs,
            prev: None,
            first_difference,
        };
        let n = probs.clone().count();
        if n <= 1 {
            return n;
        }
        let total: f64 = differences(probs.clone().peekable()).sum();
        // Token j + 1 goes once the running share passes z; a zero total cuts nothing
        // (the reference's 0/0 compares false).
        let mut keep = n - 1;
        if total > 0.0 {
            let mut running = 0.0;
            for (j, dj) in differences(probs.peekable()).enumerate() {
                running += dj / total;
                if running > self.z {
                    keep = j + 1;
                    break;
                }
            }
        }
        keep.max(self.min_keep).min(n)
    }
}

/// `|p_j − 2·p_(j+1) + p_(j+2)|` over a sorted sequence (first differences under the
/// mutant).
struct SecondDifferences<I: Iterator<Item = f64>> {
    probs: std::iter::Peekable<I>,
    prev: Option<f64>,
    first_difference: bool,
}

impl<I: Iterator<Item = f64>> Iterator for SecondDifferences<I> {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        let a = match self.prev {
            Some(a) => a,
            None => self.probs.next()?,
        };
        let b = self.probs.next()?;
        let c = *self.probs.peek()?;
        self.prev = Some(b);
        Some(if self.first_difference {
            (a - b).abs()
        } else {
            (a - 2.0 * b + c).abs()
        })
    }
}

impl KnobImpl for TailFree {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::Tfs,
        "Tail-free sampling: cuts where the curvature of the sorted probabilities has mostly run out.",
        Phase::Truncate { first: 7, last: 7 },
        &[Field::number(
            "tfs",
            Range::closed(0.0, 1.0),
            "a number in [0, 1]",
            "Tail-free sampling z (1 = off).",
        )
        .aliases(&["tfs_z", "tail_free_sampling"])
        .default(1.0)
        .off(1.0)],
    );

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        params
            .number("tfs")
            .map(|z| TailFree::with_min_keep(z, params.min_keep()))
            .transpose()
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.z >= 1.0 {
            return Ok(Applied::default());
        }
        let z = w.sorted_pairs(input);
        let keep = self.kept(w.pairs.iter().map(|p| f64::from(p.2) / z));
        w.keep_sorted_prefix(keep);
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("z = {}", self.z)
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        format!(
            "past the point where the sorted probabilities' curvature reaches z = {}",
            self.z
        )
    }
}
