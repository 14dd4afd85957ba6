//! Byte-level BPE pre-tokenizers, by the names GGUF files give them in
//! `tokenizer.ggml.pre`, as llama.cpp splits with them: each pattern in turn splits every
//! piece the one before left, and the text between matches stays a piece of its own.
//! A name llama.cpp does not know is an error, never a guess; the few that llama.cpp
//! splits with code of its own rather than patterns are named and refused.

use crate::error::ModelError;

/// GPT-2's pattern, and the default's second.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's (case-insensitive contractions, numbers in threes).
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's: Llama 3's with single digits.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const BLOOM: &str = r" ?[^(\s|.,!?…。，、।۔،)]+";
const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GRANITE_EMB_MULTI: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const CASED_WORDS: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const HUNYUAN_DENSE: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##;
const SPARK2_5: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+"##;
const CJK_KANA: &str = r"[一-龥぀-ゟ゠-ヿ]+";
const YOUTU: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const DEEPSEEK_LLM_LETTERS: &str = "\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+";
const EXAONE_MOE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+";
const MINICPM5: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const JAIS2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}";
const BAILINGMOE: &str = r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";
const SEED_CODER: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+";
const UFAKZEKA: &str =
    r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A pre-tokenizer: its patterns, applied in turn, and whether a piece that is a whole
/// vocabulary entry skips the merges (llama.cpp's `ignore_merges`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PreTokenizer {
    pub patterns: &'static [&'static str],
    pub ignore_merges: bool,
}

const fn split(patterns: &'static [&'static str]) -> PreTokenizer {
    PreTokenizer {
        patterns,
        ignore_merges: false,
    }
}

const fn whole_words(patterns: &'static [&'static str]) -> PreTokenizer {
    PreTokenizer {
        patterns,
        ignore_merges: true,
    }
}

/// The pre-tokenizer `tokenizer.ggml.pre` names (absent: llama.cpp's default).
pub(crate) fn named(name: &str) -> Result<PreTokenizer, ModelError> {
    let unsupported = |why: &str| {
        Err(ModelError::UnsupportedTokenizer(format!(
            "byte-level BPE with pre-tokenizer {name:?}: {why}"
        )))
    };
    Ok(match name {
        "" | "default" => split(&[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"]),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => whole_words(&[LLAMA3]),
        "dbrx" | "smaug-bpe" => split(&[LLAMA3]),
        "chatglm-bpe" => split(&[LLAMA3]),
        "glm4" | "glm5" => whole_words(&[LLAMA3]),
        "jais-2" => split(&[JAIS2]),
        "minicpm5" => whole_words(&[r"\p{N}{1,3}", MINICPM5]),
        "deepseek-llm" => split(&[
            r"[\r\n]",
            DEEPSEEK_LLM_LETTERS,
            r"\s?[!-/:-~！-／：-～‘-‟　-。]+",
            r"\s+$",
            r"[一-龥ࠀ-一가-퟿]+",
            r"\p{N}+",
        ]),
        "deepseek-v3" | "hunyuan-dense" | "hy_v4" | "joyai-llm" => {
            split(&[r"\p{N}{1,3}", CJK_KANA, HUNYUAN_DENSE])
        }
        "spark2_5" => split(&[r"\p{N}{1,3}", CJK_KANA, SPARK2_5, r"\p{N}"]),
        "youtu" => whole_words(&[
            r"[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
            YOUTU,
        ]),
        "deepseek-coder" => split(&[
            r"[\r\n]",
            r"\s?\p{L}+",
            r"\s?\p{P}+",
            r"[一-龥ࠀ-一가-퟿]+",
            r"\p{N}",
        ]),
        "falcon" => split(&[r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"]),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b"
        | "mellum2" => split(&[r"\p{N}", GPT2]),
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de"
        | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe"
        | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" | "exaone4" => split(&[GPT2]),
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "stablelm2" | "megrez" | "hunyuan"
        | "solar-open" | "grok-2" => split(&[QWEN2]),
        "qwen35" => split(&[QWEN35]),
        "poro-chat" | "bloom" | "gpt3-finnish" => split(&[BLOOM]),
        "viking" => split(&[BLOOM, r"\p{N}"]),
        "tekken" => whole_words(&[TEKKEN]),
        "chameleon" => split(&[
            r"<sentinel:[0-9]+>",
            r"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
            r"([\t\n]|    |  )",
            r"\p{N}",
            r"[\p{P}!-/:-@\[-`{-~]",
            GPT2,
        ]),
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => split(&[GPT4O]),
        "granite-embed-multi-97m" => whole_words(&[GRANITE_EMB_MULTI]),
        "tiny_aya" | "cohere2moe" => split(&[r"\d{1,3}(?=(?:\d{3})*\b)", CASED_WORDS]),
        "superbpe" => split(&[r"\p{N}+", r"(?=(\d{3})+(?!\d))"]),
        "bailingmoe" | "bailingmoe2" | "llada-moe" => split(&[BAILINGMOE]),
        "seed-coder" => split(&[SEED_CODER]),
        "ufakzeka" => split(&[UFAKZEKA]),
        "laguna" => split(&[r"[^\n]+|[\n]+", QWEN2]),
        "exaone-moe" => split(&[EXAONE_MOE]),
        "gemma4" | "granite-embed-multi-311m" | "sarvam-moe" | "whitespace" => {
            return unsupported("its pieces are raw UTF-8, not byte-level");
        }
        "kimi-k2" | "afmoe" => {
            return unsupported("llama.cpp splits it with code of its own, not patterns");
        }
        _ => return unsupported("llama.cpp knows no such name"),
    })
}

/// A pre-tokenizer's compiled patterns.
#[derive(Debug, Clone)]
pub(crate) struct Splitter {
    patterns: Vec<fancy_regex::Regex>,
    pub ignore_merges: bool,
}

impl Splitter {
    pub(crate) fn new(pre: PreTokenizer) -> Result<Self, ModelError> {
        let patterns = pre
            .patterns
            .iter()
            .map(|p| {
                fancy_regex::Regex::new(p).map_err(|e| {
                    ModelError::BadMetadata("tokenizer.ggml.pre".into(), e.to_string())
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Splitter {
            patterns,
            ignore_merges: pre.ignore_merges,
        })
    }

    /// `text` in pieces: each pattern splits every piece so far into its matches and the
    /// stretches between them. A pattern that gives up on a piece (its backtrack limit)
    /// leaves that piece whole.
    pub(crate) fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut pieces = vec![text];
        for pattern in &self.patterns {
            let mut next = Vec::with_capacity(pieces.len());
            for piece in pieces {
                let mut at = 0;
                let mut cuts = Vec::new();
                for m in pattern.find_iter(piece) {
                    match m {
                        Ok(m) => cuts.push((m.start(), m.end())),
                        Err(_) => {
                            cuts.clear();
                            break;
                        }
                    }
                }
                for (start, end) in cuts {
                    if start > at {
                        next.push(&piece[at..start]);
                    }
                    if end > start {
                        next.push(&piece[start..end]);
                    }
                    at = end;
                }
                if at < piece.len() {
                    next.push(&piece[at..]);
                }
            }
            pieces = next;
        }
        pieces
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn pieces(name: &str, text: &str) -> Vec<String> {
        let s = Splitter::new(named(name).unwrap()).unwrap();
        s.split(text).into_iter().map(String::from).collect()
    }

    #[test]
    fn every_named_pattern_compiles() {
        for name in [
            "",
            "llama3",
            "dbrx",
            "glm4",
            "jais-2",
            "minicpm5",
            "deepseek-llm",
            "deepseek-v3",
            "spark2_5",
            "youtu",
            "deepseek-coder",
            "falcon",
            "smollm",
            "gpt-2",
            "qwen2",
            "qwen35",
            "bloom",
            "viking",
            "tekken",
            "chameleon",
            "gpt-4o",
            "granite-embed-multi-97m",
            "tiny_aya",
            "superbpe",
            "bailingmoe",
            "seed-coder",
            "ufakzeka",
            "laguna",
            "exaone-moe",
        ] {
            let s = Splitter::new(named(name).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let text = "Hello, world! It's 12345 cafés\n\n  東京 x";
            assert_eq!(s.split(text).concat(), text, "{name:?} loses text");
        }
    }

    #[test]
    fn smollm_splits_digits_first_then_like_gpt2() {
        assert_eq!(
            pieces("smollm", "It's 2024, ok"),
            ["It", "'s", " ", "2", "0", "2", "4", ",", " ok"]
        );
        assert_eq!(pieces("gpt-2", "It's 2024"), ["It", "'s", " 2024"]);
        assert_eq!(pieces("llama3", "12345"), ["123", "45"]);
    }

    #[test]
    fn a_zero_width_pattern_only_cuts() {
        assert_eq!(pieces("superbpe", "1234567"), ["1", "234", "567"]);
    }

    #[test]
    fn unknown_and_unsplittable_names_are_errors() {
        for name in ["gpt2", "no-such-thing", "gemma4", "kimi-k2"] {
            assert!(
                matches!(named(name), Err(ModelError::UnsupportedTokenizer(_))),
                "{name}"
            );
        }
    }
}
