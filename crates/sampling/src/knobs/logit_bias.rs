use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::kernels;
use crate::params::{BiasKey, Field, FieldKind, Range, SamplingParams, Value};
use crate::work::Snapshot;
use crate::work::Work;

/// Logit bias: `logit_i ← logit_i + b_i` for each listed token (OpenAI's `logit_bias`,
/// HF's `SequenceBiasLogitsProcessor` for single tokens, llama.cpp's `logit_bias`).
///
/// Keys are token ids, or text (llama.cpp's `[["text", bias]]` or `{"text": bias}`) whose
/// every token gets the bias; that needs the model's tokenizer.
///
/// Edges:
/// - Biases are finite, or `−∞` to ban (llama.cpp's `false`).
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
    /// Token id → additive bias, finite or `−∞` (a ban).
    pub fn new(biases: impl IntoIterator<Item = (u32, f32)>) -> Result<Self, ParamError> {
        let biases: Vec<(u32, f32)> = biases.into_iter().collect();
        if let Some(&(id, b)) = biases
            .iter()
            .find(|(_, b)| !(b.is_finite() || *b == f32::NEG_INFINITY))
        {
            return Err(ParamError::new(
                "logit_bias",
                "bias",
                format!("{b} (token {id})"),
                "a finite value, or −∞ to ban",
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
                "an object of token id (or text) → bias in [-100, 100] or false, or a list of [id or text, bias] pairs",
                "Add a bias to token logits: {\"ID\": BIAS}, [[\"text\", BIAS]] (false bans), or ID=BIAS on the command line.",
            )
        }],
        phase: Phase::Edit(1),
        conflicts: &[],
        needs_tokenizer: true,
    };

    fn from_params(
        params: &SamplingParams,
        tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let entries = match params.get("logit_bias") {
            Some(Value::TokenBiases(b)) if !b.is_empty() => {
                return LogitBias::new(b.iter().copied()).map(Some);
            }
            Some(Value::KeyedBiases(entries)) => entries,
            _ => return Ok(None),
        };
        let mut pairs = Vec::new();
        for (key, bias) in entries {
            match key {
                BiasKey::Id(id) => pairs.push((*id, *bias)),
                BiasKey::Text(text) => {
                    let Some(vocabulary) = tokenize else {
                        return Err(ParamError::new(
                            "logit_bias",
                            "logit_bias",
                            format!("{text:?}"),
                            "token ids, or a model to tokenize text keys",
                        ));
                    };
                    let ids = vocabulary.encode(text);
                    if ids.is_empty() {
                        return Err(ParamError::new(
                            "logit_bias",
                            "logit_bias",
                            format!("{text:?}"),
                            "text that tokenizes to at least one token",
                        ));
                    }
                    pairs.extend(ids.into_iter().map(|id| (id, *bias)));
                }
            }
        }
        LogitBias::new(pairs).map(Some)
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        let ids: Vec<u32> = self.biases.iter().map(|b| b.0).collect();
        super::check_ids(&ids, w.vocab, "logit_bias")?;
        if self.biases.is_empty() {
            return Ok(Applied::default());
        }
        // Bans (`−∞`) remove mass the trace should count.
        let mut removed = 0f64;
        if let (Some(d), Some(z)) = (w.dense, ctx.z_in) {
            let base = w.base(input, &d);
            removed = self
                .biases
                .iter()
                .filter(|&&(_, b)| b == f32::NEG_INFINITY)
                .map(|&(id, _)| f64::from(kernels::exp((base[id as usize] - d.max) * d.scale)))
                .sum::<f64>()
                / z;
        }
        w.make_editable(input);
        for &(id, b) in &self.biases {
            w.edit(id, |x| x + b);
        }
        w.rescan_edited("logit_bias")?;
        Ok(Applied {
            dense_removed_mass: removed,
        })
    }

    fn setting(&self) -> String {
        format!("{} biases", self.biases.len())
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "logit bias took it to −inf".into()
    }
}
