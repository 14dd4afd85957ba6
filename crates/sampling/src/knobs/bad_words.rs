use super::banned_tokens::ban;
use super::sequence_bias::prefix_matches;
use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase, check_ids};
use crate::error::ParamError;
use crate::params::{Field, FieldKind, SamplingParams, Tokenize, Vocabulary};
use crate::work::{Snapshot, Work};

/// Bad words: strings the output must not contain as tokenized. Each word's last token is
/// banned whenever the generated tokens end with the rest of it.
///
/// Follows vLLM's `bad_words`: each word is tokenized as written (leading spaces stripped)
/// and with one leading space, and the spaced form is kept when its first token differs
/// and its length is the same; one-token forms are banned at every step; the prefix is
/// matched against the generated tokens only, not the prompt. Other spellings (other
/// splits into tokens, other cases) are not covered: `banned_strings` matches the text.
///
/// # Example
/// ```
/// use dial_sampling::{BadWords, Knobs, Sampler};
/// let knobs = Knobs { bad_words: Some(BadWords::new(vec![vec![2], vec![0, 1]])?), ..Knobs::default() };
/// let mut sampler = Sampler::new(knobs, 0)?;
/// assert_eq!(sampler.explain(&[0.0; 3])?.kept_ids(), vec![0, 1]); // [2] always banned
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BadWords {
    sequences: Vec<Vec<u32>>,
}

impl BadWords {
    /// Token sequences to keep out of the output, each non-empty.
    pub fn new(sequences: Vec<Vec<u32>>) -> Result<Self, ParamError> {
        if sequences.iter().any(Vec::is_empty) {
            return Err(ParamError::new(
                "bad_words",
                "bad_words",
                "an empty sequence",
                "words that tokenize to at least one token",
            ));
        }
        Ok(BadWords { sequences })
    }

    /// The words, tokenized as vLLM does: as written and with a leading space.
    pub fn from_words(words: &[String], vocabulary: &dyn Vocabulary) -> Result<Self, ParamError> {
        let mut sequences: Vec<Vec<u32>> = Vec::new();
        for word in words {
            let bare = vocabulary.encode(word.trim_start());
            if bare.is_empty() {
                return Err(ParamError::new(
                    "bad_words",
                    "bad_words",
                    format!("{word:?}"),
                    "words that tokenize to at least one token",
                ));
            }
            let spaced = vocabulary.encode(&format!(" {}", word.trim_start()));
            let new_word = spaced.first() != bare.first() && spaced.len() == bare.len();
            sequences.push(bare);
            if new_word {
                sequences.push(spaced);
            }
        }
        BadWords::new(sequences)
    }

    /// The token sequences.
    pub fn sequences(&self) -> &[Vec<u32>] {
        &self.sequences
    }

    /// The tokens banned after `generated`, sorted.
    pub fn banned(&self, generated: &[u32]) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .sequences
            .iter()
            .filter(|s| s.len() == 1 || prefix_matches(generated, s))
            .filter_map(|s| s.last().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl KnobImpl for BadWords {
    const SPEC: &'static KnobSpec = &KnobSpec {
        needs_tokenizer: true,
        ..KnobSpec::new(
            KnobKind::BadWords,
            "Bans a word's last token wherever the output ends with the rest of it, as tokenized (vLLM's bad_words).",
            Phase::Edit(9),
            &[Field::other(
                "bad_words",
                FieldKind::Strings,
                "a list of strings",
                "Words to keep out of the output, as tokenized with and without a leading space.",
            )],
        )
    };

    fn from_params(
        params: &SamplingParams,
        tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        match (params.strings("bad_words"), tokenize) {
            (Some(words), Some(vocabulary)) if !words.is_empty() => {
                BadWords::from_words(words, vocabulary).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        let banned = self.banned(ctx.history.generated());
        if banned.is_empty() {
            return Ok(Applied::default());
        }
        check_ids(&banned, w.vocab, "bad_words")?;
        ban(w, input, ctx, &banned, "bad_words")
    }

    fn setting(&self) -> String {
        format!("{} token sequences", self.sequences.len())
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "it would complete a bad word".into()
    }
}
