//! Piper's phoneme → id mapping.
//!
//! espeak-ng's IPA for a sentence is normalised to NFD and split into codepoints, one
//! phoneme each (`ç` becomes `c` + U+0327). The ids are then
//!
//! ```text
//! BOS, PAD, id(p₁), PAD, id(p₂), PAD, …, id(pₙ), PAD, EOS
//! ```
//!
//! with `^` as BOS, `_` as PAD and `$` as EOS, each looked up in the voice's own map.
//! A phoneme the map lacks is skipped and reported, never sent as id 0.

use std::collections::BTreeMap;
use unicode_normalization::UnicodeNormalization;

const PAD: &str = "_";
const BOS: &str = "^";
const EOS: &str = "$";

/// A phoneme the voice does not know, skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    /// The codepoint.
    pub phoneme: char,
    /// How many times it was skipped.
    pub count: usize,
}

/// One sentence's ids, with where each phoneme sits in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The model's input ids.
    pub ids: Vec<i64>,
    /// Each mapped phoneme (after NFD) and the range of `ids` it became.
    pub phonemes: Vec<(char, std::ops::Range<usize>)>,
    /// The phonemes the voice does not know.
    pub skipped: Vec<Unmapped>,
}

/// A voice's phoneme map, with its three special symbols checked present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhonemeIds {
    map: BTreeMap<String, Vec<i64>>,
}

impl PhonemeIds {
    /// Checks that `map` has `_`, `^` and `$`, no empty entries and no negative ids.
    pub fn new(map: BTreeMap<String, Vec<i64>>) -> Result<Self, String> {
        for special in [PAD, BOS, EOS] {
            if map.get(special).is_none_or(Vec::is_empty) {
                return Err(format!("it has no `{special}`"));
            }
        }
        if let Some((p, _)) = map
            .iter()
            .find(|(_, ids)| ids.is_empty() || ids.iter().any(|&i| i < 0))
        {
            return Err(format!("`{p}` has no ids or a negative id"));
        }
        Ok(PhonemeIds { map })
    }

    fn ids(&self, key: &str) -> &[i64] {
        self.map.get(key).map_or(&[], Vec::as_slice)
    }

    /// The model's input ids for one sentence of IPA, and the phonemes it had to skip.
    pub fn encode(&self, ipa: &str) -> (Vec<i64>, Vec<Unmapped>) {
        let encoded = self.encode_aligned(ipa);
        (encoded.ids, encoded.skipped)
    }

    /// As [`PhonemeIds::encode`], with the ids each phoneme became (its own and the pad
    /// after it), so that the model's per-id durations give each phoneme's time.
    pub fn encode_aligned(&self, ipa: &str) -> Encoded {
        let pad = self.ids(PAD);
        let mut ids: Vec<i64> = self.ids(BOS).to_vec();
        ids.extend_from_slice(pad);
        let mut phonemes = Vec::new();
        let mut skipped: BTreeMap<char, usize> = BTreeMap::new();
        let mut buf = [0u8; 4];
        for phoneme in ipa.nfd() {
            match self.map.get(phoneme.encode_utf8(&mut buf) as &str) {
                Some(own) => {
                    let start = ids.len();
                    ids.extend_from_slice(own);
                    ids.extend_from_slice(pad);
                    phonemes.push((phoneme, start..ids.len()));
                }
                None => *skipped.entry(phoneme).or_default() += 1,
            }
        }
        ids.extend_from_slice(self.ids(EOS));
        let skipped = skipped
            .into_iter()
            .map(|(phoneme, count)| Unmapped { phoneme, count })
            .collect();
        Encoded {
            ids,
            phonemes,
            skipped,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The entries of Piper's default espeak map that the cases below use.
    fn map() -> PhonemeIds {
        let pairs: [(&str, i64); 11] = [
            ("_", 0),
            ("^", 1),
            ("$", 2),
            (" ", 3),
            ("!", 4),
            ("c", 16),
            ("l", 24),
            ("t", 32),
            ("ɪ", 74),
            ("ˈ", 120),
            ("\u{0327}", 140),
        ];
        PhonemeIds::new(
            pairs
                .iter()
                .map(|(p, i)| (p.to_string(), vec![*i]))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn piper_phonemize_s_own_case_gives_its_ids() {
        // piper-phonemize's test: "licht!" in German is "lˈɪçt!", ç decomposed by NFD.
        let (ids, skipped) = map().encode("lˈɪçt!");
        assert_eq!(
            ids,
            [1, 0, 24, 0, 120, 0, 74, 0, 16, 0, 140, 0, 32, 0, 4, 0, 2]
        );
        assert!(skipped.is_empty());
        let aligned = map().encode_aligned("lˈɪçt!");
        let spans: Vec<(char, usize, usize)> = aligned
            .phonemes
            .iter()
            .map(|(c, r)| (*c, r.start, r.end))
            .collect();
        assert_eq!(spans[0], ('l', 2, 4));
        assert_eq!(spans[4], ('\u{0327}', 10, 12));
        assert_eq!(spans.len(), 7);
    }

    #[test]
    fn unknown_phonemes_are_skipped_and_counted_never_sent_as_zero() {
        let (ids, skipped) = map().encode("tʃt ʃ");
        assert_eq!(ids, [1, 0, 32, 0, 32, 0, 3, 0, 2]);
        assert_eq!(
            skipped,
            [Unmapped {
                phoneme: 'ʃ',
                count: 2
            }]
        );
        let (empty, _) = map().encode("");
        assert_eq!(empty, [1, 0, 2]);
    }
}
