use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;

/// XTC, "exclude top choices": with probability `probability`, remove every token with
/// `p_i ≥ threshold` except the least likely of them, so the model steps off its most
/// obvious continuations while keeping one viable choice.
///
/// Follows llama.cpp's `xtc`. Edges:
/// - `probability = 0` or `threshold > 0.5` is off (above 0.5 at most one token can pass).
/// - Nothing happens with fewer than 2 live tokens, or when fewer than `min_keep` tokens
///   would remain.
/// - The coin is one uniform from the sampler's own seeded stream (`u ≤ probability`
///   triggers), drawn before the token; `explain` shows what the next draw will do.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, Xtc};
/// let probs = [0.4f32, 0.3, 0.2, 0.1];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// let knobs = Knobs { xtc: Some(Xtc::new(1.0, 0.19)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![2, 3]); // 0.4 and 0.3 are excluded
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Xtc {
    probability: f32,
    threshold: f32,
    min_keep: usize,
}

impl Xtc {
    /// Trigger `probability ∈ [0, 1]` and `threshold ∈ [0, 1]`.
    pub fn new(probability: f32, threshold: f32) -> Result<Self, ParamError> {
        Self::with_min_keep(probability, threshold, 1)
    }

    /// As [`Xtc::new`], never leaving fewer than `min_keep ≥ 1` tokens.
    pub fn with_min_keep(
        probability: f32,
        threshold: f32,
        min_keep: usize,
    ) -> Result<Self, ParamError> {
        if !(probability.is_finite() && (0.0..=1.0).contains(&probability)) {
            return Err(ParamError::new(
                "xtc",
                "probability",
                probability,
                "a finite value in [0, 1]",
            ));
        }
        if !(threshold.is_finite() && (0.0..=1.0).contains(&threshold)) {
            return Err(ParamError::new(
                "xtc",
                "threshold",
                threshold,
                "a finite value in [0, 1]",
            ));
        }
        if min_keep == 0 {
            return Err(ParamError::new(
                "xtc",
                "min_keep",
                min_keep,
                "an integer ≥ 1",
            ));
        }
        Ok(Xtc {
            probability,
            threshold,
            min_keep,
        })
    }

    /// `(probability, threshold)`.
    pub fn value(&self) -> (f32, f32) {
        (self.probability, self.threshold)
    }
}

impl KnobImpl for Xtc {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::Xtc,
        summary: "Exclude Top Choices: with some probability, removes every likely token but the least likely of them.",
        fields: &[
            Field::number(
                "xtc_probability",
                Range::closed(0.0, 1.0),
                "a number in [0, 1]",
                "XTC: chance per step of removing the top choices (0 = off).",
            )
            .off(0.0),
            Field::number(
                "xtc_threshold",
                Range::closed(0.0, 1.0),
                "a number in [0, 1]",
                "XTC: tokens above this probability count as top choices.",
            )
            .default(0.1),
        ],
        phase: Phase::Truncate { first: 20, last: 20 },
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let threshold = params.number("xtc_threshold");
        match params.number("xtc_probability") {
            Some(p) => Xtc::new(p as f32, threshold.unwrap_or(0.1) as f32).map(Some),
            None => match threshold {
                Some(t) => Err(ParamError::new(
                    "xtc",
                    "xtc_threshold",
                    t,
                    "to come with xtc_probability",
                )),
                None => Ok(None),
            },
        }
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.probability <= 0.0 || self.threshold > 0.5 || w.live() < 2 {
            return Ok(Applied::default());
        }
        if ctx.rng.uniform() > f64::from(self.probability) {
            return Ok(Applied::default());
        }
        w.materialize(input);
        let (z, _) = w.sparse_weights();
        let threshold = f64::from(self.threshold);
        let above: Vec<(f32, u32)> = w
            .ids
            .iter()
            .zip(&w.ys)
            .zip(&w.es)
            .filter(|&(_, &e)| f64::from(e) / z >= threshold)
            .map(|((&id, &y), _)| (y, id))
            .collect();
        let remaining = w.ids.len() - above.len() + 1;
        if above.len() < 2 || remaining < self.min_keep {
            return Ok(Applied::default());
        }
        // Keep the least likely of the tokens above the threshold (ties: the highest id
        // goes, matching a probability-descending, id-ascending order).
        let Some(&(ly, lid)) = above
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        else {
            return Ok(Applied::default());
        };
        let mut removed: Vec<u32> = above
            .iter()
            .filter(|&&(y, id)| !(y == ly && id == lid))
            .map(|a| a.1)
            .collect();
        removed.sort_unstable();
        w.retain(|id, _| removed.binary_search(&id).is_err());
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!(
            "probability {}, threshold {}",
            self.probability, self.threshold
        )
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "XTC removed it as a likely choice".into()
    }
}
