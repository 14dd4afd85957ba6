use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::explain::num;
use crate::params::{Field, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Epsilon sampling (Hewitt et al. 2022): remove every token with `p_i < ε`, keeping at
/// least `min_keep` (the most likely ones).
///
/// Follows HF's `EpsilonLogitsWarper` on the distribution it receives: `p` is that
/// distribution's softmax, and the test is strict (`p = ε` stays). Edges:
/// - `ε = 0` is off.
/// - `ε > p_max` keeps only the best `min_keep` tokens.
/// - text-generation-webui's `epsilon_cutoff` is in units of 1e-4; dial's is HF's, a
///   probability.
///
/// # Example
/// ```
/// use dial_sampling::{EpsilonCutoff, Knobs, Sampler};
/// let probs = [0.5f32, 0.3, 0.15, 0.05];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// let knobs = Knobs { epsilon_cutoff: Some(EpsilonCutoff::new(0.1)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![0, 1, 2]); // 0.05 < 0.1
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EpsilonCutoff {
    epsilon: f64,
    min_keep: usize,
}

impl EpsilonCutoff {
    /// A cutoff `ε ∈ [0, 1]`.
    pub fn new(epsilon: f64) -> Result<Self, ParamError> {
        Self::with_min_keep(epsilon, 1)
    }

    /// A cutoff `ε ∈ [0, 1]`, keeping at least `min_keep ≥ 1` tokens.
    pub fn with_min_keep(epsilon: f64, min_keep: usize) -> Result<Self, ParamError> {
        if !(0.0..=1.0).contains(&epsilon) {
            return Err(ParamError::new(
                "epsilon_cutoff",
                "epsilon",
                epsilon,
                "a value in [0, 1]",
            ));
        }
        let min_keep = super::check_min_keep("epsilon_cutoff", min_keep)?;
        Ok(EpsilonCutoff { epsilon, min_keep })
    }

    /// `ε`.
    pub fn value(&self) -> f64 {
        self.epsilon
    }
}

impl KnobImpl for EpsilonCutoff {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::EpsilonCutoff,
        "Removes every token whose probability is below ε (HF's epsilon sampling).",
        Phase::Truncate { first: 5, last: 5 },
        &[Field::number(
            "epsilon_cutoff",
            Range::closed(0.0, 1.0),
            "a number in [0, 1]",
            "Remove tokens with p < ε (0 = off; a probability, as HF's).",
        )
        .off(0.0)
        .slider(0.0, 0.01, 0.0001)],
    );

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        params
            .number("epsilon_cutoff")
            .map(|e| EpsilonCutoff::with_min_keep(e, params.min_keep()))
            .transpose()
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.epsilon <= 0.0 {
            return Ok(Applied::default());
        }
        let mut z = w.stats(input).sums.z;
        if crate::mutants::active(crate::mutants::Mutant::EpsilonAgainstWeights) {
            z = 1.0;
        }
        w.keep_probability_at_least(input, self.epsilon, z, self.min_keep);
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("ε = {}", self.epsilon)
    }

    fn cut_reason(&self, i: usize, input: &Snapshot) -> String {
        let q = input.probs[i];
        format!("p {} < ε = {}", num(q, self.epsilon), self.epsilon)
    }
}
