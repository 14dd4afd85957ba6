use super::banned_tokens::ban;
use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase, check_ids};
use crate::error::ParamError;
use crate::params::{Field, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// No repeated n-grams: ban every token that would complete an n-gram already present in
/// the context (prompt and generated tokens).
///
/// Follows HF's `NoRepeatNGramLogitsProcessor`: with `n` the size, the last `n − 1` tokens
/// are the prefix, and every token that followed that prefix earlier is banned. Edges:
/// - `n = 0` is off; `n = 1` bans every token seen before.
/// - Shorter contexts than `n` ban nothing.
/// - Banning every live token is an error ([`crate::SampleError::AllMasked`]).
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, NoRepeatNgram, Sampler};
/// let knobs = Knobs { no_repeat_ngram: Some(NoRepeatNgram::new(2)), ..Knobs::default() };
/// let mut sampler = Sampler::new(knobs, 0)?;
/// sampler.set_prompt(&[1, 2, 3, 1]); // "1 2" was seen; the prefix is now "1"
/// let explained = sampler.explain(&[0.0; 4])?;
/// assert_eq!(explained.kept_ids(), vec![0, 1, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NoRepeatNgram {
    n: usize,
}

impl NoRepeatNgram {
    /// N-gram size `n` (0 = off).
    pub fn new(n: usize) -> Self {
        NoRepeatNgram { n }
    }

    /// `n`.
    pub fn value(&self) -> usize {
        self.n
    }

    /// The tokens that would complete an n-gram already in `context`, sorted.
    pub fn banned(&self, context: &[u32]) -> Vec<u32> {
        let n = self.n;
        if n == 0 || context.len() + 1 < n {
            return Vec::new();
        }
        let prefix = &context[context.len() + 1 - n..];
        let mut out: Vec<u32> = context
            .windows(n)
            .filter(|w| &w[..n - 1] == prefix)
            .map(|w| w[n - 1])
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl KnobImpl for NoRepeatNgram {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::NoRepeatNgram,
        "Bans every token that would complete an n-gram already in the context (HF's no_repeat_ngram_size).",
        Phase::Edit(7),
        &[Field::integer(
            "no_repeat_ngram_size",
            Range::closed(0.0, 1024.0),
            "an integer in [0, 1024]",
            "Ban tokens that would repeat an n-gram of this size (0 = off).",
        )
        .off(0.0)
        .slider(0.0, 8.0, 1.0)],
    );

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        Ok(params
            .integer("no_repeat_ngram_size")
            .and_then(|n| usize::try_from(n).ok())
            .map(NoRepeatNgram::new))
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.n == 0 {
            return Ok(Applied::default());
        }
        let banned = self.banned(&ctx.history.window(true, None));
        if banned.is_empty() {
            return Ok(Applied::default());
        }
        check_ids(&banned, w.vocab, "no_repeat_ngram")?;
        ban(w, input, ctx, &banned, "no_repeat_ngram")
    }

    fn setting(&self) -> String {
        format!("n = {}", self.n)
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        format!("it would repeat a {}-gram already in the context", self.n)
    }
}
