use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Top-H: keep the most likely tokens while their share of the entropy stays within
/// `h · H`.
///
/// Follows HF's `TopHLogitsWarper` (Potraghloo et al. 2025): take the `n = min(100, live)`
/// most likely tokens, renormalise them to `q`, let `H = −Σ q_j ln q_j`, and keep token
/// `k` (by rank) while `Σ_{j ≤ k} −q_j ln q_j ≤ h · H`; the top token always stays.
/// Tokens past the top 100 always go. Ties rank by lowest id. Edges: `h = 1` keeps the top
/// 100; at least `min_keep` stay.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, TopH};
/// let probs = [0.5f32, 0.3, 0.15, 0.05];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// let knobs = Knobs { top_h: Some(TopH::new(0.7)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![0, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TopH {
    h: f64,
    min_keep: usize,
}

/// How many of the most likely tokens top-H looks at (HF's `top_n`).
pub const TOP_H_CANDIDATES: usize = 100;

impl TopH {
    /// `h ∈ (0, 1]`.
    pub fn new(h: f64) -> Result<Self, ParamError> {
        Self::with_min_keep(h, 1)
    }

    /// `h ∈ (0, 1]`, keeping at least `min_keep ≥ 1` tokens.
    pub fn with_min_keep(h: f64, min_keep: usize) -> Result<Self, ParamError> {
        if !(h > 0.0 && h <= 1.0) {
            return Err(ParamError::new("top_h", "h", h, "a value in (0, 1]"));
        }
        let min_keep = super::check_min_keep("top_h", min_keep)?;
        Ok(TopH { h, min_keep })
    }

    /// `h`.
    pub fn value(&self) -> f64 {
        self.h
    }

    /// How many of the candidates' weights (sorted descending, unnormalised) survive.
    pub(crate) fn kept(&self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let terms: Vec<f64> = weights
            .iter()
            .map(|&e| e / total)
            .map(|q| if q > 0.0 { -q * q.ln() } else { 0.0 })
            .collect();
        let tau = self.h * terms.iter().sum::<f64>();
        let mut running = 0.0;
        let mut keep = 0;
        for (k, t) in terms.iter().enumerate() {
            running += t;
            if k > 0 && running > tau {
                break;
            }
            keep = k + 1;
        }
        keep.max(self.min_keep).min(weights.len())
    }
}

impl KnobImpl for TopH {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::TopH,
        "Keeps the most likely tokens while their share of the entropy stays within h · H (HF's top-H).",
        Phase::Truncate { first: 9, last: 9 },
        &[Field::number(
            "top_h",
            Range::above(0.0, 1.0),
            "a number in (0, 1]",
            "Keep top tokens while their entropy share ≤ h · H, of the top 100.",
        )],
    );

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        params
            .number("top_h")
            .map(|h| TopH::with_min_keep(h, params.min_keep()))
            .transpose()
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        let all = crate::mutants::active(crate::mutants::Mutant::TopHAllTokens);
        if !all {
            // Only the top 100 matter: cut to them first, by the usual key.
            w.keep_top_k(input, TOP_H_CANDIDATES);
        }
        w.sorted_pairs(input);
        let weights: Vec<f64> = w.pairs.iter().map(|p| f64::from(p.2)).collect();
        let keep = self.kept(&weights);
        w.keep_sorted_prefix(keep);
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("h = {}", self.h)
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        format!(
            "past the top tokens whose entropy share reaches h · H = {} · H (or outside the top {TOP_H_CANDIDATES})",
            self.h
        )
    }
}
