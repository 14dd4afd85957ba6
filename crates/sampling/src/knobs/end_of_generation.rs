use super::banned_tokens::{ban, live_outside};
use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase, check_ids};
use crate::error::ParamError;
use crate::params::{Field, FieldKind, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// When generation may end: `min_tokens`, `ignore_eos` and `stop_token_ids`.
///
/// - Until `min_tokens` tokens are generated, the model's end-of-generation ids and the
///   `stop_token_ids` are masked (vLLM's `min_tokens`, HF's `min_new_tokens`); stop strings
///   do not match yet either (the generation loop reads [`EndOfGeneration::min_tokens`]).
/// - `ignore_eos` masks the end-of-generation ids for the whole request (vLLM, llama.cpp).
/// - Drawing one of `stop_token_ids` ends the choice with `stop`
///   ([`EndOfGeneration::ends_on`]).
///
/// It yields to a grammar: when masking would leave no token (a complete value allows only
/// end-of-generation), it masks nothing and counts a yield, which the response reports.
///
/// # Example
/// ```
/// use dial_sampling::{EndOfGeneration, Knobs, Sampler};
/// let eos = 3;
/// let knobs = Knobs {
///     end_of_generation: Some(EndOfGeneration::new(2, false, vec![], vec![eos])),
///     ..Knobs::default()
/// };
/// let mut sampler = Sampler::new(knobs, 0)?;
/// let logits = [0.0f32, 0.0, 0.0, 5.0];
/// assert_eq!(sampler.explain(&logits)?.probability(eos), 0.0); // 0 of 2 generated
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndOfGeneration {
    min_tokens: usize,
    ignore_eos: bool,
    stop_token_ids: Vec<u32>,
    end_of_generation: Vec<u32>,
    yields: usize,
}

impl EndOfGeneration {
    /// At least `min_tokens` before any end; `ignore_eos` masks the model's
    /// `end_of_generation` ids throughout; `stop_token_ids` also end the choice.
    pub fn new(
        min_tokens: usize,
        ignore_eos: bool,
        mut stop_token_ids: Vec<u32>,
        mut end_of_generation: Vec<u32>,
    ) -> Self {
        stop_token_ids.sort_unstable();
        stop_token_ids.dedup();
        end_of_generation.sort_unstable();
        end_of_generation.dedup();
        EndOfGeneration {
            min_tokens,
            ignore_eos,
            stop_token_ids,
            end_of_generation,
            yields: 0,
        }
    }

    /// Tokens to generate before an end may be drawn or a stop string may match.
    pub fn min_tokens(&self) -> usize {
        self.min_tokens
    }

    /// Whether drawing `token` ends the choice: a `stop_token_ids` entry, or an
    /// end-of-generation id (drawn only when `ignore_eos` yielded to a grammar).
    pub fn ends_on(&self, token: u32) -> bool {
        self.stop_token_ids.binary_search(&token).is_ok()
            || self.end_of_generation.binary_search(&token).is_ok()
    }

    /// The ids masked after `generated` tokens, sorted.
    fn masked(&self, generated: usize) -> Vec<u32> {
        let early = generated < self.min_tokens;
        let mut ids = Vec::new();
        if early || self.ignore_eos {
            ids.extend_from_slice(&self.end_of_generation);
        }
        if early {
            ids.extend_from_slice(&self.stop_token_ids);
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

impl KnobImpl for EndOfGeneration {
    const SPEC: &'static KnobSpec = &KnobSpec {
        needs_tokenizer: true,
        ..KnobSpec::new(
            KnobKind::EndOfGeneration,
            "When generation may end: masks end-of-generation until min_tokens (or always, with ignore_eos); stop_token_ids also end it.",
            Phase::Edit(6),
            &[
                Field::integer(
                    "min_tokens",
                    Range::closed(0.0, 1_048_576.0),
                    "an integer in [0, 1048576]",
                    "Generate at least this many tokens before an end or a stop string (0 = off).",
                )
                .aliases(&["min_new_tokens"])
                .off(0.0)
                .slider(0.0, 256.0, 1.0),
                Field::other(
                    "ignore_eos",
                    FieldKind::Bool,
                    "true or false",
                    "Never end at the model's end-of-generation tokens (max_tokens or a stop ends it).",
                ),
                Field::other(
                    "stop_token_ids",
                    FieldKind::TokenIds,
                    "a list of token ids",
                    "Token ids that end the choice with `stop`, as end-of-generation does.",
                ),
            ],
        )
    };

    fn from_params(
        params: &SamplingParams,
        tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let min_tokens = params.integer("min_tokens").unwrap_or(0);
        let ignore_eos = params.flag("ignore_eos") == Some(true);
        let stop_token_ids = params.token_ids("stop_token_ids").unwrap_or_default();
        if min_tokens == 0 && !ignore_eos && stop_token_ids.is_empty() {
            return Ok(None);
        }
        let end_of_generation = match tokenize {
            Some(vocabulary) => vocabulary.end_of_generation().to_vec(),
            None if min_tokens > 0 || ignore_eos => {
                let param = if ignore_eos { "ignore_eos" } else { "min_tokens" };
                return Err(ParamError::new(
                    "end_of_generation",
                    param,
                    min_tokens,
                    "a model: it masks the model's end-of-generation tokens",
                ));
            }
            None => Vec::new(),
        };
        Ok(Some(EndOfGeneration::new(
            usize::try_from(min_tokens).unwrap_or(0),
            ignore_eos,
            stop_token_ids.to_vec(),
            end_of_generation,
        )))
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        let masked = self.masked(ctx.history.generated().len());
        if masked.is_empty() {
            return Ok(Applied::default());
        }
        check_ids(&masked, w.vocab, "end_of_generation")?;
        if live_outside(w, input, &masked) == 0 {
            // A grammar (or a mask) allows only an end here: it wins.
            self.yields += 1;
            return Ok(Applied::default());
        }
        ban(w, input, ctx, &masked, "end_of_generation")
    }

    fn yields(&self) -> usize {
        self.yields
    }

    fn setting(&self) -> String {
        let mut parts = Vec::new();
        if self.min_tokens > 0 {
            parts.push(format!("min_tokens = {}", self.min_tokens));
        }
        if self.ignore_eos {
            parts.push("ignore_eos".to_string());
        }
        if !self.stop_token_ids.is_empty() {
            parts.push(format!("stop_token_ids = {:?}", self.stop_token_ids));
        }
        parts.join(", ")
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        if self.ignore_eos {
            "an end, and ignore_eos is set".into()
        } else {
            format!("an end before min_tokens = {}", self.min_tokens)
        }
    }
}
