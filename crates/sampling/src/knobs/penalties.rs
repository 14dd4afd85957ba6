use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase, check_ids};
use crate::error::ParamError;
use crate::params::{Field, FieldKind, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;
use std::collections::HashMap;

/// Which tokens a penalty counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum PenaltyScope {
    /// Generated tokens only (OpenAI's and vLLM's frequency/presence penalties).
    Generated,
    /// Prompt and generated tokens (HF's and vLLM's repetition penalty).
    PromptAndGenerated,
}

/// Repetition, frequency and presence penalties over a window of the last `window` tokens,
/// with `c_i` the count of token `i` in that window:
/// - repetition `r`: if `c_i > 0`, `logit_i ← logit_i / r` when `logit_i > 0`, else
///   `logit_i · r` (CTRL; HF's `RepetitionPenaltyLogitsProcessor`, vLLM, llama.cpp);
/// - frequency `f` and presence `q`: `logit_i ← logit_i - c_i · f - [c_i > 0] · q`
///   (OpenAI's definition, llama.cpp's `penalties`).
///
/// Scope (what counts): by default, as in vLLM, repetition counts prompt + generated tokens
/// and frequency/presence count generated tokens only; both are configurable. Edges:
/// - `r = 1`, `f = 0`, `q = 0` are off; `r` must be > 0; `f`, `q` may be negative
///   (encouraging repeats).
/// - `window = None` looks at every token; `Some(n)` at the last `n` of the scope.
/// - A counted token id outside the row is an error, not a skip.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Penalties, Sampler};
/// let knobs = Knobs { penalties: Some(Penalties::new(50.0, 0.0, 0.0)?), ..Knobs::default() };
/// let mut sampler = Sampler::new(knobs, 0)?;
/// sampler.set_prompt(&[0, 1, 2]);
/// let explained = sampler.explain(&[0.2f32.ln(); 5])?;
/// assert!(explained.probability(0) < 1e-6 && (explained.probability(3) - 0.5).abs() < 1e-6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Penalties {
    repetition: f32,
    frequency: f32,
    presence: f32,
    window: Option<usize>,
    repetition_scope: PenaltyScope,
    frequency_presence_scope: PenaltyScope,
}

impl Penalties {
    /// Repetition `r > 0`, frequency `f` and presence `q` (finite), over all tokens, with
    /// the default scopes.
    pub fn new(repetition: f32, frequency: f32, presence: f32) -> Result<Self, ParamError> {
        if !(repetition.is_finite() && repetition > 0.0) {
            return Err(ParamError::new(
                "penalties",
                "repetition",
                repetition,
                "a finite value > 0 (1 = off)",
            ));
        }
        if !frequency.is_finite() {
            return Err(ParamError::new(
                "penalties",
                "frequency",
                frequency,
                "a finite value (0 = off)",
            ));
        }
        if !presence.is_finite() {
            return Err(ParamError::new(
                "penalties",
                "presence",
                presence,
                "a finite value (0 = off)",
            ));
        }
        Ok(Penalties {
            repetition,
            frequency,
            presence,
            window: None,
            repetition_scope: PenaltyScope::PromptAndGenerated,
            frequency_presence_scope: PenaltyScope::Generated,
        })
    }

    /// Looks only at the last `n` tokens of each scope (`None`: all).
    pub fn with_window(mut self, n: Option<usize>) -> Self {
        self.window = n;
        self
    }

    /// Sets what the repetition penalty and what the frequency/presence penalties count.
    pub fn with_scopes(
        mut self,
        repetition: PenaltyScope,
        frequency_presence: PenaltyScope,
    ) -> Self {
        self.repetition_scope = repetition;
        self.frequency_presence_scope = frequency_presence;
        self
    }

    /// `(repetition, frequency, presence)`.
    pub fn value(&self) -> (f32, f32, f32) {
        (self.repetition, self.frequency, self.presence)
    }

    fn counts(
        &self,
        ctx: &Ctx<'_>,
        scope: PenaltyScope,
        vocab: usize,
    ) -> Result<HashMap<u32, u32>, crate::SampleError> {
        let tokens = ctx
            .history
            .window(scope == PenaltyScope::PromptAndGenerated, self.window);
        check_ids(&tokens, vocab, "penalties")?;
        let mut counts = HashMap::new();
        for t in tokens {
            *counts.entry(t).or_insert(0u32) += 1;
        }
        Ok(counts)
    }
}

impl KnobImpl for Penalties {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::Penalties,
        summary: "Lowers the logits of tokens already seen: repetition divides, frequency and presence subtract.",
        fields: &[
            Field::number(
                "repetition_penalty",
                Range::above(0.0, 100.0),
                "a number in (0, 100]",
                "Repetition penalty on seen tokens, CTRL-style (1 = off).",
            )
            .aliases(&["repeat_penalty"])
            .default(1.0)
            .off(1.0)
            .slider(0.5, 2.0, 0.01),
            Field::number(
                "frequency_penalty",
                Range::closed(-2.0, 2.0),
                "a number in [-2, 2]",
                "Subtract count × this from a generated token's logit (0 = off).",
            )
            .default(0.0)
            .off(0.0),
            Field::number(
                "presence_penalty",
                Range::closed(-2.0, 2.0),
                "a number in [-2, 2]",
                "Subtract this from the logit of any generated token (0 = off).",
            )
            .default(0.0)
            .off(0.0),
            Field::integer(
                "penalty_last_n",
                Range::closed(-1.0, 1_048_576.0),
                "an integer in [-1, 1048576] (-1 = all)",
                "Penalties look at the last N tokens only (-1 = all, 0 = none).",
            )
            .aliases(&["repeat_last_n", "penalty_window"])
            .default(-1.0)
            .slider(-1.0, 512.0, 1.0),
            Field::other(
                "penalize_prompt",
                FieldKind::Bool,
                "true or false",
                "Frequency and presence penalties also count prompt tokens.",
            ),
        ],
        phase: Phase::Edit(4),
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let repetition = params.number("repetition_penalty");
        let frequency = params.number("frequency_penalty");
        let presence = params.number("presence_penalty");
        if repetition.is_none() && frequency.is_none() && presence.is_none() {
            for extra in ["penalty_last_n", "penalize_prompt"] {
                if let Some(v) = params.get(extra) {
                    return Err(ParamError::new(
                        "penalties",
                        if extra == "penalty_last_n" {
                            "penalty_last_n"
                        } else {
                            "penalize_prompt"
                        },
                        v,
                        "to come with a repetition, frequency or presence penalty",
                    ));
                }
            }
            return Ok(None);
        }
        let window = params
            .integer("penalty_last_n")
            .and_then(|n| usize::try_from(n).ok());
        let fp_scope = if params.flag("penalize_prompt").unwrap_or(false) {
            PenaltyScope::PromptAndGenerated
        } else {
            PenaltyScope::Generated
        };
        let p = Penalties::new(
            repetition.unwrap_or(1.0) as f32,
            frequency.unwrap_or(0.0) as f32,
            presence.unwrap_or(0.0) as f32,
        )?;
        Ok(Some(
            p.with_window(window)
                .with_scopes(PenaltyScope::PromptAndGenerated, fp_scope),
        ))
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        let rep = self.repetition != 1.0;
        let freq = self.frequency != 0.0 || self.presence != 0.0;
        if !rep && !freq {
            return Ok(Applied::default());
        }
        let rep_counts = if rep {
            self.counts(ctx, self.repetition_scope, w.vocab)?
        } else {
            HashMap::new()
        };
        let fp_counts = if freq {
            self.counts(ctx, self.frequency_presence_scope, w.vocab)?
        } else {
            HashMap::new()
        };
        if rep_counts.is_empty() && fp_counts.is_empty() {
            return Ok(Applied::default());
        }
        w.make_editable(input);
        let r = self.repetition;
        for &t in rep_counts.keys() {
            w.edit(t, |x| if x <= 0.0 { x * r } else { x / r });
        }
        for (&t, &c) in &fp_counts {
            let delta = c as f32 * self.frequency + self.presence;
            w.edit(t, |x| x - delta);
        }
        w.rescan_edited("penalties")?;
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        let (r, f, p) = self.value();
        format!("repetition {r}, frequency {f}, presence {p}")
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "its logit fell to −inf".into()
    }
}
