use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;

/// Locally typical sampling: keep the tokens whose surprise `-ln p_i` is closest to the
/// entropy `H = -Σ p_j ln p_j`, in order of `|-ln p_i - H|`, until their mass exceeds `p`.
///
/// Follows llama.cpp's `typical` (Meister et al. 2022): the cumulative test is strict,
/// `cum > p`, and at least `min_keep` tokens survive. Edges:
/// - `p = 1` is off; `p = 0` keeps the single most typical token.
/// - Ties in typicality go to the lowest token id.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, TypicalP};
/// let probs = [0.4f32, 0.2, 0.2, 0.2];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// let knobs = Knobs { typical_p: Some(TypicalP::new(0.5)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![1, 2, 3]); // the 0.2s are the typical ones
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TypicalP {
    p: f32,
    min_keep: usize,
}

impl TypicalP {
    /// Typical mass `p ∈ [0, 1]`.
    pub fn new(p: f32) -> Result<Self, ParamError> {
        Self::with_min_keep(p, 1)
    }

    /// Typical mass `p ∈ [0, 1]`, keeping at least `min_keep ≥ 1` tokens.
    pub fn with_min_keep(p: f32, min_keep: usize) -> Result<Self, ParamError> {
        if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
            return Err(ParamError::new(
                "typical_p",
                "p",
                p,
                "a finite value in [0, 1]",
            ));
        }
        if min_keep == 0 {
            return Err(ParamError::new(
                "typical_p",
                "min_keep",
                min_keep,
                "an integer ≥ 1",
            ));
        }
        Ok(TypicalP { p, min_keep })
    }

    /// `p`.
    pub fn value(&self) -> f32 {
        self.p
    }
}

impl KnobImpl for TypicalP {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::TypicalP,
        summary: "Keeps the tokens whose surprise is closest to the entropy, up to mass p (locally typical sampling).",
        fields: &[Field::number(
            "typical_p",
            Range::closed(0.0, 1.0),
            "a number in [0, 1]",
            "Locally typical sampling mass (1 = off).",
        )
        .aliases(&["typical"])
        .default(1.0)
        .off(1.0)],
        phase: Phase::Truncate { first: 4, last: 2 },
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        params
            .number("typical_p")
            .map(|p| TypicalP::with_min_keep(p as f32, params.min_keep()))
            .transpose()
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.p >= 1.0 {
            return Ok(Applied::default());
        }
        w.materialize(input);
        let (z, _) = w.sparse_weights();
        let probs: Vec<f64> = w.es.iter().map(|&e| f64::from(e) / z).collect();
        let entropy: f64 = probs
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|&p| -p * p.ln())
            .sum();
        let mut order: Vec<(f64, u32, f64)> = probs
            .iter()
            .zip(&w.ids)
            .map(|(&p, &id)| ((-p.ln() - entropy).abs(), id, p))
            .collect();
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut cum = 0f64;
        let mut keep = order.len();
        for (i, &(_, _, p)) in order.iter().enumerate() {
            cum += p;
            if cum > f64::from(self.p) && i + 1 >= self.min_keep {
                keep = i + 1;
                break;
            }
        }
        let mut kept: Vec<u32> = order[..keep].iter().map(|o| o.1).collect();
        kept.sort_unstable();
        w.retain(|id, _| kept.binary_search(&id).is_ok());
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("p = {}", self.p)
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        format!("outside the typical set (p = {})", self.p)
    }
}
