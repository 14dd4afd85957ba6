use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::explain::num;
use crate::params::{Field, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Eta sampling (Hewitt et al. 2022): remove every token with `p_i < min(η, √η · e^(−H))`,
/// where `H = −Σ p_j ln p_j` is the entropy in nats, keeping at least `min_keep`.
///
/// Follows HF's `EtaLogitsWarper` on the distribution it receives; the test is strict.
/// The bar falls as the distribution spreads out, so flat distributions keep more of
/// their tail than epsilon sampling would. Edges:
/// - `η = 0` is off.
/// - text-generation-webui's `eta_cutoff` is in units of 1e-4; dial's is HF's.
///
/// # Example
/// ```
/// use dial_sampling::{EtaCutoff, Knobs, Sampler};
/// let probs = [0.9f32, 0.09, 0.009, 0.001];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// // H ≈ 0.37 nats: the bar is min(0.01, 0.1 · e^-0.37) = 0.01
/// let knobs = Knobs { eta_cutoff: Some(EtaCutoff::new(0.01)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.kept_ids(), vec![0, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EtaCutoff {
    eta: f64,
    min_keep: usize,
}

impl EtaCutoff {
    /// A cutoff `η ∈ [0, 1]`.
    pub fn new(eta: f64) -> Result<Self, ParamError> {
        Self::with_min_keep(eta, 1)
    }

    /// A cutoff `η ∈ [0, 1]`, keeping at least `min_keep ≥ 1` tokens.
    pub fn with_min_keep(eta: f64, min_keep: usize) -> Result<Self, ParamError> {
        if !(0.0..=1.0).contains(&eta) {
            return Err(ParamError::new("eta_cutoff", "eta", eta, "a value in [0, 1]"));
        }
        let min_keep = super::check_min_keep("eta_cutoff", min_keep)?;
        Ok(EtaCutoff { eta, min_keep })
    }

    /// `η`.
    pub fn value(&self) -> f64 {
        self.eta
    }

    /// The probability bar for a distribution with entropy `h` nats.
    pub fn bar(&self, h: f64) -> f64 {
        if crate::mutants::active(crate::mutants::Mutant::EtaWithoutRoot) {
            return self.eta.min(self.eta * (-h).exp());
        }
        self.eta.min(self.eta.sqrt() * (-h).exp())
    }
}

impl KnobImpl for EtaCutoff {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::EtaCutoff,
        "Removes tokens below min(η, √η·e^(−H)): a floor that falls as the entropy H rises (HF's eta sampling).",
        Phase::Truncate { first: 6, last: 6 },
        &[Field::number(
            "eta_cutoff",
            Range::closed(0.0, 1.0),
            "a number in [0, 1]",
            "Remove tokens with p < min(η, √η·e^(−H)) (0 = off; HF's units).",
        )
        .off(0.0)
        .slider(0.0, 0.01, 0.0001)],
    );

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        params
            .number("eta_cutoff")
            .map(|e| EtaCutoff::with_min_keep(e, params.min_keep()))
            .transpose()
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.eta <= 0.0 {
            return Ok(Applied::default());
        }
        let sums = w.stats(input).sums;
        w.keep_probability_at_least(input, self.bar(sums.entropy()), sums.z, self.min_keep);
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("η = {}", self.eta)
    }

    fn cut_reason(&self, i: usize, input: &Snapshot) -> String {
        let h = input.entropy();
        let bar = self.bar(h);
        format!(
            "p {} < min(η, √η·e^(−H)) = {} (H = {h:.3} nats)",
            num(input.probs[i], bar),
            num(bar, input.probs[i])
        )
    }
}
