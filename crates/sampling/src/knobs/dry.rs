use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase, check_ids};
use crate::error::ParamError;
use crate::params::{Field, FieldKind, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;
use std::collections::HashMap;

/// DRY ("don't repeat yourself"): penalises the token that would extend a repeat of an
/// earlier sequence. If the last `L` tokens also occurred earlier followed by token `t`,
/// with `L ≥ allowed_length`, then `logit_t ← logit_t - multiplier · base^(L - allowed_length)`,
/// taking the longest such `L` for each `t`.
///
/// Follows llama.cpp's `dry` (p-e-w's design) over the last `window` tokens of prompt +
/// generated text. Sequence breakers are token ids: a match never extends across one, no
/// breaker is ever penalised, and nothing is penalised right after one. llama.cpp takes
/// breakers as strings and tokenizes them; dial's model layer maps strings to ids.
/// Edges:
/// - `multiplier = 0` is off; `base ≥ 1`; `allowed_length ≥ 1`.
/// - The penalty is capped at `1e30` so it stays finite.
///
/// # Example
/// ```
/// use dial_sampling::{Dry, Knobs, Sampler};
/// // After "0 1 2 0 1", token 2 would repeat "0 1 2": it is penalised by 1.0.
/// let knobs = Knobs { dry: Some(Dry::new(1.0, 1.1, 2, Some(5), [])?), ..Knobs::default() };
/// let mut sampler = Sampler::new(knobs, 0)?;
/// sampler.set_prompt(&[0, 1, 2, 0, 1]);
/// let explained = sampler.explain(&[0.0; 4])?;
/// let expected = (-1f64).exp() / (3.0 + (-1f64).exp());
/// assert!((explained.probability(2) - expected).abs() < 1e-6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Dry {
    multiplier: f32,
    base: f32,
    allowed_length: usize,
    window: Option<usize>,
    breakers: Vec<u32>,
}

impl Dry {
    /// `multiplier ≥ 0`, `base ≥ 1`, `allowed_length ≥ 1`, over the last `window` tokens
    /// (`None`: all), with single-token sequence breakers.
    pub fn new(
        multiplier: f32,
        base: f32,
        allowed_length: usize,
        window: Option<usize>,
        breakers: impl IntoIterator<Item = u32>,
    ) -> Result<Self, ParamError> {
        if !(multiplier.is_finite() && multiplier >= 0.0) {
            return Err(ParamError::new(
                "dry",
                "multiplier",
                multiplier,
                "a finite value ≥ 0",
            ));
        }
        if !(base.is_finite() && base >= 1.0) {
            return Err(ParamError::new("dry", "base", base, "a finite value ≥ 1"));
        }
        if allowed_length == 0 {
            return Err(ParamError::new(
                "dry",
                "allowed_length",
                allowed_length,
                "an integer ≥ 1",
            ));
        }
        let mut breakers: Vec<u32> = breakers.into_iter().collect();
        breakers.sort_unstable();
        breakers.dedup();
        Ok(Dry {
            multiplier,
            base,
            allowed_length,
            window,
            breakers,
        })
    }

    /// llama.cpp's default sequence breakers: newline, colon, double quote and asterisk.
    pub const DEFAULT_SEQUENCE_BREAKERS: [&'static str; 4] = ["\n", ":", "\"", "*"];

    /// The same DRY with more sequence breakers (token ids).
    pub fn with_breakers(mut self, ids: impl IntoIterator<Item = u32>) -> Self {
        self.breakers.extend(ids);
        self.breakers.sort_unstable();
        self.breakers.dedup();
        self
    }

    /// The sequence breakers, ascending.
    pub fn breakers(&self) -> &[u32] {
        &self.breakers
    }

    /// `(multiplier, base, allowed_length)`.
    pub fn value(&self) -> (f32, f32, usize) {
        (self.multiplier, self.base, self.allowed_length)
    }

    fn is_breaker(&self, t: u32) -> bool {
        self.breakers.binary_search(&t).is_ok()
    }

    /// For each token that would extend a repeat, the longest repeat length.
    pub(crate) fn repeat_lengths(&self, context: &[u32]) -> HashMap<u32, usize> {
        let mut lengths = HashMap::new();
        let Some((&last, _)) = context.split_last() else {
            return lengths;
        };
        if self.is_breaker(last) {
            return lengths;
        }
        let n = context.len();
        for i in 0..n - 1 {
            let next = context[i + 1];
            if context[i] != last || self.is_breaker(next) {
                continue;
            }
            let mut len = 1;
            while len <= i {
                let a = context[i - len];
                if self.is_breaker(a) || a != context[n - 1 - len] {
                    break;
                }
                len += 1;
            }
            let entry = lengths.entry(next).or_insert(0);
            *entry = (*entry).max(len);
        }
        lengths
    }
}

impl KnobImpl for Dry {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::Dry,
        summary: "Don't Repeat Yourself: penalises the token that would extend a repeat of earlier text, growing with its length.",
        fields: &[
            Field::number(
                "dry_multiplier",
                Range::closed(0.0, 100.0),
                "a number in [0, 100]",
                "DRY multiplier (0 = off).",
            )
            .off(0.0)
            .slider(0.0, 3.0, 0.05),
            Field::number(
                "dry_base",
                Range::closed(1.0, 100.0),
                "a number in [1, 100]",
                "DRY base: the penalty grows as base^(length - allowed).",
            )
            .default(1.75)
            .slider(1.0, 4.0, 0.05),
            Field::integer(
                "dry_allowed_length",
                Range::closed(1.0, 65_536.0),
                "an integer in [1, 65536]",
                "DRY: repeats up to this length go unpenalised.",
            )
            .default(2.0)
            .slider(1.0, 10.0, 1.0),
            Field::integer(
                "dry_penalty_last_n",
                Range::closed(-1.0, 1_048_576.0),
                "an integer in [-1, 1048576] (-1 = all)",
                "DRY looks at the last N tokens only (-1 = all).",
            )
            .default(-1.0)
            .slider(-1.0, 512.0, 1.0),
            Field::other(
                "dry_sequence_breakers",
                FieldKind::Strings,
                "a list of strings",
                "DRY: strings whose tokens end a repeat (default: newline, colon, quote, asterisk).",
            ),
        ],
        phase: Phase::Edit(5),
        conflicts: &[],
        needs_tokenizer: true,
    };

    fn from_params(
        params: &SamplingParams,
        tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let Some(multiplier) = params.number("dry_multiplier") else {
            for extra in [
                "dry_base",
                "dry_allowed_length",
                "dry_penalty_last_n",
                "dry_sequence_breakers",
            ] {
                if let Some(v) = params.get(extra) {
                    let name = SamplingParams::field(extra).map_or("dry", |f| f.name);
                    return Err(ParamError::new(
                        "dry",
                        name,
                        v,
                        "to come with dry_multiplier",
                    ));
                }
            }
            return Ok(None);
        };
        let window = params
            .integer("dry_penalty_last_n")
            .and_then(|n| usize::try_from(n).ok());
        let allowed = params.integer("dry_allowed_length").unwrap_or(2);
        let dry = Dry::new(
            multiplier as f32,
            params.number("dry_base").unwrap_or(1.75) as f32,
            usize::try_from(allowed).unwrap_or(0),
            window,
            [],
        )?;
        // Every token of each breaker's encoding ends a repeat; without a tokenizer there
        // are none (a set `dry_sequence_breakers` was refused before this).
        let breakers: Vec<&str> = match params.strings("dry_sequence_breakers") {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => Dry::DEFAULT_SEQUENCE_BREAKERS.to_vec(),
        };
        let ids: Vec<u32> = tokenize.map_or_else(Vec::new, |encode| {
            breakers.iter().flat_map(|s| encode.encode(s)).collect()
        });
        Ok(Some(dry.with_breakers(ids)))
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.multiplier == 0.0 || self.window == Some(0) {
            return Ok(Applied::default());
        }
        let context = ctx.history.window(true, self.window);
        check_ids(&context, w.vocab, "dry")?;
        let lengths = self.repeat_lengths(&context);
        let penalties: Vec<(u32, f32)> = lengths
            .into_iter()
            .filter(|&(_, len)| len >= self.allowed_length)
            .map(|(t, len)| {
                let exponent = (len - self.allowed_length) as f64;
                let p = f64::from(self.multiplier) * f64::from(self.base).powf(exponent);
                (t, p.min(1e30) as f32)
            })
            .collect();
        if penalties.is_empty() {
            return Ok(Applied::default());
        }
        w.make_editable(input);
        for (t, p) in penalties {
            w.edit(t, |x| x - p);
        }
        w.rescan_edited("dry")?;
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        let (m, b, allowed) = self.value();
        format!("multiplier {m}, base {b}, allowed length {allowed}")
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "its logit fell to −inf".into()
    }
}
