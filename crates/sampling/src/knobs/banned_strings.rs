use super::banned_tokens::{ban, live_outside};
use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase, check_ids};
use crate::error::ParamError;
use crate::params::{Field, FieldKind, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Most phrases one request may ban.
pub const MAX_BANNED_STRINGS: usize = 64;
/// Longest phrase, in bytes: a rewind never reaches further back than a sliding-window
/// layer's KV ring keeps.
pub const MAX_BANNED_STRING_BYTES: usize = 200;

/// Banned strings with rewind (koboldcpp's phrase bans, exllamav2's and TabbyAPI's
/// `banned_strings`): the output never contains one of the phrases, whatever tokens spell
/// it.
///
/// A generation drives it. It holds back the text that could still grow into a phrase;
/// when a phrase completes, it rolls the sequence back to token `j`, the one where the
/// phrase began (its KV cache, the sampler's state and the text), bans that token at
/// position `j` with [`BannedStrings::forbid`], and draws again. This stage applies the
/// bans of the position it draws at; the bans of a position last as long as the sequence
/// up to it does.
///
/// Matching is over the generated text only, case-sensitive unless
/// `banned_strings_case_insensitive` (which exllamav2 always is): then both sides are
/// compared after Unicode lowercasing, character by character.
///
/// Where the bans would leave no token (a grammar allows only the phrase), it yields: the
/// phrase stays, and the response says so.
///
/// # Example
/// ```
/// use dial_sampling::BannedStrings;
/// let bans = BannedStrings::new(vec!["shivers down".into()], true)?;
/// assert_eq!(bans.find("It sent Shivers down"), Some(8));
/// assert_eq!(bans.open_from("It sent shiv"), Some(8)); // may still become one
/// assert_eq!(bans.open_from("It sent"), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BannedStrings {
    phrases: Vec<String>,
    case_insensitive: bool,
    /// Each phrase as compared: its characters, lowercased when case-insensitive.
    #[cfg_attr(feature = "serde", serde(skip))]
    folded: Vec<Vec<char>>,
    /// `(position, token)`: `token` may not be drawn as generated token `position`.
    #[cfg_attr(feature = "serde", serde(skip))]
    bans: Vec<(usize, u32)>,
    #[cfg_attr(feature = "serde", serde(skip))]
    yields: usize,
}

impl BannedStrings {
    /// Bans `phrases` (each non-empty, at most [`MAX_BANNED_STRING_BYTES`] bytes; at most
    /// [`MAX_BANNED_STRINGS`]), compared case-insensitively when `case_insensitive`.
    pub fn new(phrases: Vec<String>, case_insensitive: bool) -> Result<Self, ParamError> {
        let expect = "at most 64 non-empty strings of at most 200 bytes";
        if phrases.len() > MAX_BANNED_STRINGS {
            return Err(ParamError::new(
                "banned_strings",
                "banned_strings",
                format!("{} strings", phrases.len()),
                expect,
            ));
        }
        if let Some(bad) = phrases
            .iter()
            .find(|p| p.is_empty() || p.len() > MAX_BANNED_STRING_BYTES)
        {
            return Err(ParamError::new(
                "banned_strings",
                "banned_strings",
                format!("{bad:?}"),
                expect,
            ));
        }
        let folded = phrases
            .iter()
            .map(|p| fold(p, case_insensitive).into_iter().map(|(c, _)| c).collect())
            .collect();
        Ok(BannedStrings {
            phrases,
            case_insensitive,
            folded,
            bans: Vec::new(),
            yields: 0,
        })
    }

    /// The phrases.
    pub fn phrases(&self) -> &[String] {
        &self.phrases
    }

    /// Whether matching ignores case.
    pub fn is_case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// The byte offset in `text` where the earliest phrase starts, if one is in it.
    pub fn find(&self, text: &str) -> Option<usize> {
        let chars = fold(text, self.case_insensitive);
        (0..chars.len())
            .find(|&i| {
                self.folded.iter().any(|p| {
                    chars.len() - i >= p.len() && chars[i..i + p.len()].iter().map(|c| c.0).eq(p.iter().copied())
                })
            })
            .map(|i| chars[i].1)
    }

    /// The byte offset of the earliest tail of `text` that a phrase starts with but is not
    /// yet complete: the text from there must be held back, as it may still become one.
    pub fn open_from(&self, text: &str) -> Option<usize> {
        let chars = fold(text, self.case_insensitive);
        (0..chars.len())
            .find(|&i| {
                let tail = &chars[i..];
                self.folded.iter().any(|p| {
                    tail.len() < p.len() && tail.iter().map(|c| c.0).eq(p[..tail.len()].iter().copied())
                })
            })
            .map(|i| chars[i].1)
    }

    /// Bans `token` as generated token `position`: a rewind to the token where a phrase
    /// began.
    pub fn forbid(&mut self, position: usize, token: u32) {
        self.bans.push((position, token));
    }

    /// The tokens banned at `position`, sorted.
    pub fn banned_at(&self, position: usize) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .bans
            .iter()
            .filter(|(p, _)| *p == position)
            .map(|(_, t)| *t)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// `text`'s characters as compared (lowercased when `case_insensitive`), each with the byte
/// offset of the character it came from.
fn fold(text: &str, case_insensitive: bool) -> Vec<(char, usize)> {
    let mut out = Vec::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        if case_insensitive {
            out.extend(c.to_lowercase().map(|l| (l, at)));
        } else {
            out.push((c, at));
        }
    }
    out
}

impl KnobImpl for BannedStrings {
    const SPEC: &'static KnobSpec = &KnobSpec {
        needs_tokenizer: true,
        ..KnobSpec::new(
            KnobKind::BannedStrings,
            "Keeps phrases out of the output, however they are tokenized: when one completes, generation rewinds to where it began and draws again without that token.",
            Phase::Edit(10),
            &[
                Field::other(
                    "banned_strings",
                    FieldKind::Strings,
                    "a list of at most 64 non-empty strings of at most 200 bytes",
                    "Phrases the output never contains (anti-slop): a completed phrase rewinds the generation to its first token, which is then banned there.",
                ),
                Field::other(
                    "banned_strings_case_insensitive",
                    FieldKind::Bool,
                    "true or false",
                    "Match banned_strings ignoring case (exllamav2 and TabbyAPI always do).",
                ),
            ],
        )
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        match params.strings("banned_strings") {
            Some(phrases) if !phrases.is_empty() => BannedStrings::new(
                phrases.to_vec(),
                params.flag("banned_strings_case_insensitive") == Some(true),
            )
            .map(Some),
            // The option alone would change nothing: say so rather than drop it.
            _ if params.flag("banned_strings_case_insensitive") == Some(true) => {
                Err(ParamError::new(
                    "banned_strings",
                    "banned_strings_case_insensitive",
                    true,
                    "to come with banned_strings",
                ))
            }
            _ => Ok(None),
        }
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        let banned = self.banned_at(ctx.history.generated().len());
        if banned.is_empty() {
            return Ok(Applied::default());
        }
        check_ids(&banned, w.vocab, "banned_strings")?;
        if live_outside(w, input, &banned) == 0 {
            // Nothing else may follow here (a grammar): the phrase stays.
            self.yields += 1;
            return Ok(Applied::default());
        }
        ban(w, input, ctx, &banned, "banned_strings")
    }

    fn yields(&self) -> usize {
        self.yields
    }

    fn setting(&self) -> String {
        let case = if self.case_insensitive {
            ", ignoring case"
        } else {
            ""
        };
        format!("{} phrases{case}", self.phrases.len())
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "a banned phrase began with it here (rewound)".into()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_phrases_and_the_tails_that_may_become_one() {
        let b = BannedStrings::new(vec!["a tapestry".into(), "İx".into()], false).unwrap();
        assert_eq!(b.find("weaving a tapestry of"), Some(8));
        assert_eq!(b.find("weaving A tapestry"), None);
        assert_eq!(b.open_from("weaving a tap"), Some(8));
        assert_eq!(b.open_from("weaving a"), Some(8));
        assert_eq!(b.open_from("weaving "), None);
        // A complete phrase is found, not open.
        assert_eq!(b.open_from("a tapestry"), None);
        let i = BannedStrings::new(vec!["A Tapestry".into(), "İx".into()], true).unwrap();
        assert_eq!(i.find("weaving a TAPESTRY"), Some(8));
        // İ lowercases to two characters; offsets stay those of the source text.
        assert_eq!(i.find("ÿ İX"), Some(3));
        assert_eq!(i.open_from("ÿ İ"), Some(3));
    }

    #[test]
    fn the_case_option_without_phrases_is_an_error_not_a_no_op() {
        let mut params = SamplingParams::default();
        params
            .set("banned_strings_case_insensitive", crate::Value::Bool(true))
            .unwrap();
        assert!(BannedStrings::from_params(&params, None).is_err());
        params
            .set("banned_strings_case_insensitive", crate::Value::Bool(false))
            .unwrap();
        assert_eq!(BannedStrings::from_params(&params, None).unwrap(), None);
    }

    #[test]
    fn new_refuses_empty_long_and_too_many_phrases() {
        assert!(BannedStrings::new(vec![String::new()], false).is_err());
        assert!(BannedStrings::new(vec!["x".repeat(201)], false).is_err());
        assert!(BannedStrings::new(vec!["x".into(); 65], false).is_err());
        assert!(BannedStrings::new(vec!["x".repeat(200)], false).is_ok());
    }
}
