use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, FieldKind, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;

/// Logit bias: `logit_i ← logit_i + b_i` for each listed token (OpenAI's `logit_bias`,
/// HF's `SequenceBiasLogitsProcessor` for single tokens, llama.cpp's `logit_bias`).
///
/// Edges:
/// - Biases must be finite; to remove a token use [`crate::BannedTokens`].
/// - A token listed twice gets the sum of its biases.
/// - Ids outside the row are an error at sampling time, not a silent skip.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, LogitBias, Sampler};
/// let knobs = Knobs { logit_bias: Some(LogitBias::new([(0, 10.0)])?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&[0.0, 0.0])?;
/// assert!(explained.probability(0) > 0.99);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LogitBias {
    biases: Vec<(u32, f32)>,
}

impl LogitBias {
    /// Token id → additive bias, finite.
    pub fn new(biases: impl IntoIterator<Item = (u32, f32)>) -> Result<Self, ParamError> {
        let biases: Vec<(u32, f32)> = biases.into_iter().collect();
        if let Some(&(id, b)) = biases.iter().find(|(_, b)| !b.is_finite()) {
            return Err(ParamError::new(
                "logit_bias",
                "bias",
                format!("{b} (token {id})"),
                "a finite value",
            ));
        }
        Ok(LogitBias { biases })
    }

    /// The `(token, bias)` pairs.
    pub fn biases(&self) -> &[(u32, f32)] {
        &self.biases
    }
}

impl KnobImpl for LogitBias {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::LogitBias,
        summary: "Adds a bias to chosen tokens' logits (-100 all but bans, +100 all but forces).",
        fields: &[Field {
            range: Some(Range::closed(-100.0, 100.0)),
            ..Field::other(
                "logit_bias",
                FieldKind::TokenBiases,
                "an object of token id → bias in [-100, 100]",
                "Add a bias to token logits: {\"ID\": BIAS}, or ID=BIAS on the command line.",
            )
        }],
        phase: Phase::Edit(0),
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        match params.token_biases("logit_bias") {
            Some(b) if !b.is_empty() => LogitBias::new(b.iter().copied()).map(Some),
            _ => Ok(None),
        }
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        let ids: Vec<u32> = self.biases.iter().map(|b| b.0).collect();
        super::check_ids(&ids, w.vocab, "logit_bias")?;
        if self.biases.is_empty() {
            return Ok(Applied::default());
        }
        w.make_editable(input);
        for &(id, b) in &self.biases {
            w.edit(id, |x| x + b);
        }
        w.rescan_edited("logit_bias")?;
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("{} biases", self.biases.len())
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "logit bias took it to −inf".into()
    }
}
