//! A SentencePiece-style BPE tokenizer built from GGUF metadata alone, as llama.cpp's
//! `llama` (SPM) vocabulary type does it:
//!
//! 1. special tokens (control and user-defined: `<start_of_turn>`, `\n\n`, runs of spaces,
//!    HTML tags) are cut out of the raw text first, longest token first;
//! 2. in every other piece, spaces become `▁` (no prefix space unless the model asks);
//! 3. the piece starts as one symbol per character, and the adjacent pair whose merge is
//!    a vocabulary entry with the highest score is merged, repeatedly. Gemma's scores are
//!    `−rank`, so this rebuilds its BPE merges from the vocabulary and scores;
//! 4. a symbol that is not in the vocabulary falls back to its bytes, `<0x00>`…`<0xFF>`.
//!
//! Byte-level BPE vocabularies (`gpt2`: Qwen 2/3, Llama 3) take the same first step, then
//! split each piece with the model's pre-tokenizer pattern, map its bytes to GPT-2's
//! printable characters, and merge pairs in the order of `tokenizer.ggml.merges`.

use crate::error::ModelError;
use dial_gguf::{Gguf, Value};
use std::collections::BTreeMap;
use std::collections::{BinaryHeap, HashMap};

/// Token texts that end generation wherever they are in a vocabulary, as llama.cpp's
/// vocabulary lists them (`llama-vocab.cpp`), besides the file's eos, eot and eom ids.
const END_OF_GENERATION: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// The fill-in-the-middle pad, repository and file-separator tokens, by their names in
/// llama.cpp; the first present of each ends generation there too.
const FILL_IN_THE_MIDDLE_ENDS: &[&[&str]] = &[
    &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
    &[
        "<|fim_repo|>",
        "<|repo_name|>",
        "<fim-repo>",
        "<REPO>",
        "<reponame>",
    ],
    &["<|file_sep|>"],
];

/// llama.cpp's token types.
const TYPE_UNKNOWN: i32 = 2;
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;
const TYPE_BYTE: i32 = 6;

/// A tokenizer read from a GGUF file.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    tokens: Vec<String>,
    scores: Vec<f32>,
    types: Vec<i32>,
    index: HashMap<String, u32>,
    /// Control, user-defined and unknown tokens, longest first: matched on raw text.
    specials: Vec<(String, u32)>,
    /// Specials that swallow the whitespace after them (llama.cpp's `RSTRIP`).
    rstrip: Vec<u32>,
    bytes: [Option<u32>; 256],
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_space_prefix: bool,
    /// Token ids that end a generation (EOS and end-of-turn markers).
    stops: Vec<u32>,
    /// Set for byte-level BPE vocabularies.
    bpe: Option<Bpe>,
}

/// What a byte-level BPE vocabulary adds.
#[derive(Debug, Clone)]
struct Bpe {
    /// `"left right"` → merge rank (lower merges first).
    ranks: HashMap<String, u32>,
    /// The pre-tokenizer, by `tokenizer.ggml.pre`.
    splitter: crate::pre_tokenizer::Splitter,
    /// GPT-2's printable character for each byte, and back.
    byte_char: [char; 256],
    char_byte: HashMap<char, u8>,
}

/// GPT-2's map from bytes to printable characters, and its inverse.
fn byte_chars() -> ([char; 256], HashMap<char, u8>) {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
        table[b as usize] = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(next).unwrap_or('\u{FFFD}');
            next += 1;
            c
        };
    }
    let inverse = table
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect();
    (table, inverse)
}

fn strings(md: &BTreeMap<String, Value>, key: &str) -> Result<Vec<String>, ModelError> {
    let v = md
        .get(key)
        .ok_or_else(|| ModelError::MissingMetadata(key.into()))?;
    let items = v.as_array().ok_or_else(|| not_a(key, "an array", v))?;
    items
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_owned)
                .ok_or_else(|| not_a(key, "an array of strings", v))
        })
        .collect()
}

fn number_list<T>(
    md: &BTreeMap<String, Value>,
    key: &str,
    n: usize,
    default: T,
    get: impl Fn(&Value) -> Option<T>,
) -> Result<Vec<T>, ModelError>
where
    T: Clone,
{
    match md.get(key) {
        None => Ok(vec![default; n]),
        Some(v) => {
            let items = v.as_array().ok_or_else(|| not_a(key, "an array", v))?;
            if items.len() != n {
                return Err(ModelError::BadMetadata(
                    key.into(),
                    format!("{} entries for {n} tokens", items.len()),
                ));
            }
            items
                .iter()
                .map(|x| {
                    get(x).ok_or_else(|| ModelError::BadMetadata(key.into(), "not a number".into()))
                })
                .collect()
        }
    }
}

/// A metadata value that is not what its key holds.
fn not_a(key: &str, expected: &str, v: &Value) -> ModelError {
    ModelError::BadMetadata(key.into(), format!("a {}, not {expected}", v.type_name()))
}

fn id_of(md: &BTreeMap<String, Value>, key: &str) -> Option<u32> {
    md.get(key).and_then(Value::as_u32)
}

fn flag(md: &BTreeMap<String, Value>, key: &str, default: bool) -> bool {
    md.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// One symbol of the merge loop: a byte range of the piece, linked to its neighbours.
#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of symbols `left` and `right`; higher scores merge first, then the
/// leftmost pair.
#[derive(Debug, PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl dial_sampling::Vocabulary for Tokenizer {
    fn encode(&self, text: &str) -> Vec<u32> {
        Tokenizer::encode(self, text, false)
    }

    fn end_of_generation(&self) -> &[u32] {
        self.stop_tokens()
    }
}

impl Tokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.*` metadata. Only the SentencePiece
    /// (`llama`) model is supported.
    pub fn from_gguf(content: &Gguf) -> Result<Self, ModelError> {
        let md = content.metadata();
        let model = md
            .get("tokenizer.ggml.model")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if model != "llama" && model != "gpt2" {
            return Err(ModelError::UnsupportedTokenizer(format!("model {model:?}")));
        }
        let tokens = strings(md, "tokenizer.ggml.tokens")?;
        let n = tokens.len();
        let scores = number_list(md, "tokenizer.ggml.scores", n, 0.0, Value::as_f32)?;
        let types = number_list(md, "tokenizer.ggml.token_type", n, 1, |v| {
            v.as_i64().and_then(|t| i32::try_from(t).ok())
        })?;
        let mut index = HashMap::with_capacity(n);
        let mut specials = Vec::new();
        let mut bytes = [None; 256];
        for (id, (text, &ty)) in tokens.iter().zip(&types).enumerate() {
            let id = id as u32;
            index.entry(text.clone()).or_insert(id);
            if matches!(ty, TYPE_CONTROL | TYPE_USER_DEFINED | TYPE_UNKNOWN) && !text.is_empty() {
                specials.push((text.clone(), id));
            }
            if ty == TYPE_BYTE
                && let Some(b) = text
                    .strip_prefix("<0x")
                    .and_then(|h| h.strip_suffix('>'))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                bytes[b as usize] = Some(id);
            }
        }
        // Longest first, as llama.cpp partitions; ties by id for determinism.
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        // llama.cpp gives Phi-3's specials, known by the model's name, `RSTRIP`, all but
        // these three.
        let name = md
            .get("general.name")
            .and_then(Value::as_str)
            .map(|n| n.to_lowercase())
            .unwrap_or_default();
        let rstrip = if name.contains("phi-3") || name.contains("phi3") {
            specials
                .iter()
                .filter(|(t, _)| !matches!(t.as_str(), "<unk>" | "<s>" | "<|endoftext|>"))
                .map(|&(_, id)| id)
                .collect()
        } else {
            Vec::new()
        };
        let bos = id_of(md, "tokenizer.ggml.bos_token_id");
        let eos = id_of(md, "tokenizer.ggml.eos_token_id");
        let mut stops: Vec<u32> = Vec::new();
        let mut stop_at = |id: u32| {
            if !stops.contains(&id) {
                stops.push(id);
            }
        };
        eos.into_iter().for_each(&mut stop_at);
        for key in ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            id_of(md, key).into_iter().for_each(&mut stop_at);
        }
        // As llama.cpp's vocabulary decides: by the token's text, and for each
        // fill-in-the-middle role the first of its names in byte order.
        for marker in END_OF_GENERATION {
            index
                .get(*marker)
                .copied()
                .into_iter()
                .for_each(&mut stop_at);
        }
        for role in FILL_IN_THE_MIDDLE_ENDS {
            let mut present: Vec<&&str> = role.iter().filter(|n| index.contains_key(**n)).collect();
            present.sort();
            if let Some(first) = present.first() {
                index
                    .get(**first)
                    .copied()
                    .into_iter()
                    .for_each(&mut stop_at);
            }
        }
        let bpe = if model == "gpt2" {
            let pre = md
                .get("tokenizer.ggml.pre")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let splitter = crate::pre_tokenizer::Splitter::new(crate::pre_tokenizer::named(&pre)?)?;
            let merges = strings(md, "tokenizer.ggml.merges")?;
            let ranks = merges
                .into_iter()
                .enumerate()
                .map(|(rank, m)| (m, rank as u32))
                .collect();
            let (byte_char, char_byte) = byte_chars();
            Some(Bpe {
                ranks,
                splitter,
                byte_char,
                char_byte,
            })
        } else {
            None
        };
        // Byte-level vocabularies never add a prefix space and, by default, no BOS.
        let default_bos = bpe.is_none() && bos.is_some();
        Ok(Tokenizer {
            add_bos: flag(md, "tokenizer.ggml.add_bos_token", default_bos),
            add_space_prefix: bpe.is_none() && flag(md, "tokenizer.ggml.add_space_prefix", true),
            bpe,
            tokens,
            scores,
            types,
            index,
            specials,
            rstrip,
            bytes,
            bos,
            eos,
            stops,
        })
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The beginning-of-sequence token.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// Whether encoding puts BOS first (`tokenizer.ggml.add_bos_token`, or the vocabulary
    /// type's default).
    pub fn adds_bos(&self) -> bool {
        self.add_bos && self.bos.is_some()
    }

    /// The end-of-sequence token.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Tokens that end a generation: EOS and end-of-turn markers.
    pub fn stop_tokens(&self) -> &[u32] {
        &self.stops
    }

    /// A token's text as stored in the vocabulary (`▁` for spaces, `<0x0A>` for bytes).
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Whether `id` is a control token (BOS, EOS, turn markers), which decodes to nothing.
    pub fn is_control(&self, id: u32) -> bool {
        self.types.get(id as usize) == Some(&TYPE_CONTROL)
    }

    /// Token ids for `text`, with BOS first when the model asks for it and `add_special`.
    /// Special tokens written in the text (`<start_of_turn>`) are recognised.
    pub fn encode(&self, text: &str, add_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if add_special
            && self.add_bos
            && let Some(bos) = self.bos
        {
            out.push(bos);
        }
        // SentencePiece's prefix space goes before the first text and, as llama.cpp does
        // it, before every text that follows a special token.
        let mut after_special = true;
        for piece in self.partition(text) {
            match piece {
                Piece::Special(id) => {
                    out.push(id);
                    after_special = true;
                }
                Piece::Text(s) => {
                    match &self.bpe {
                        Some(bpe) => self.encode_bpe(bpe, s, &mut out),
                        None => {
                            let prefix = self.add_space_prefix && after_special;
                            self.encode_piece(s, prefix, &mut out);
                        }
                    }
                    after_special = false;
                }
            }
        }
        out
    }

    /// Splits raw text around special tokens, longest token first (llama.cpp's order).
    fn partition<'a>(&self, text: &'a str) -> Vec<Piece<'a>> {
        // No text, no piece: not even SentencePiece's prefix space.
        let mut pieces = if text.is_empty() {
            Vec::new()
        } else {
            vec![Piece::Text(text)]
        };
        for (special, id) in &self.specials {
            if !text.contains(special.as_str()) {
                continue;
            }
            let mut next = Vec::with_capacity(pieces.len());
            for piece in pieces {
                let Piece::Text(mut s) = piece else {
                    next.push(piece);
                    continue;
                };
                while let Some(at) = s.find(special.as_str()) {
                    if at > 0 {
                        next.push(Piece::Text(&s[..at]));
                    }
                    next.push(Piece::Special(*id));
                    s = &s[at + special.len()..];
                    if self.rstrip.contains(id) {
                        // C's isspace: space, \t, \n, \v, \f, \r.
                        s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
                    }
                }
                if !s.is_empty() {
                    next.push(Piece::Text(s));
                }
            }
            pieces = next;
        }
        pieces
    }

    /// The merge loop on one piece of ordinary text.
    fn encode_piece(&self, text: &str, space_prefix: bool, out: &mut Vec<u32>) {
        let mut piece = String::with_capacity(text.len() + 3);
        if space_prefix {
            piece.push('▁');
        }
        for c in text.chars() {
            if c == ' ' {
                piece.push('▁');
            } else {
                piece.push(c);
            }
        }
        let mut symbols: Vec<Symbol> = Vec::with_capacity(piece.len());
        for (start, c) in piece.char_indices() {
            let i = symbols.len();
            symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                symbols[i - 1].next = Some(i);
            }
        }
        let mut queue = BinaryHeap::new();
        let try_pair = |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: usize| {
            let Some(right) = symbols[left].next else {
                return;
            };
            let (l, r) = (symbols[left], symbols[right]);
            let merged = &piece[l.start..r.start + r.len];
            if let Some(&id) = self.index.get(merged) {
                queue.push(Bigram {
                    score: self.scores[id as usize],
                    left,
                    right,
                    len: merged.len(),
                });
            }
        };
        for i in 0..symbols.len() {
            try_pair(&mut queue, &symbols, i);
        }
        while let Some(b) = queue.pop() {
            let (l, r) = (symbols[b.left], symbols[b.right]);
            // Stale: one side already merged elsewhere.
            if l.len == 0 || r.len == 0 || l.len + r.len != b.len || l.next != Some(b.right) {
                continue;
            }
            symbols[b.left].len += r.len;
            symbols[b.left].next = r.next;
            symbols[b.right].len = 0;
            if let Some(n) = r.next {
                symbols[n].prev = Some(b.left);
            }
            if let Some(p) = l.prev {
                try_pair(&mut queue, &symbols, p);
            }
            try_pair(&mut queue, &symbols, b.left);
        }
        let mut at = if symbols.is_empty() { None } else { Some(0) };
        while let Some(i) = at {
            let s = symbols[i];
            let text = &piece[s.start..s.start + s.len];
            match self.index.get(text) {
                Some(&id) => out.push(id),
                None => {
                    for b in text.bytes() {
                        if let Some(id) = self.bytes[b as usize] {
                            out.push(id);
                        }
                    }
                }
            }
            at = s.next;
        }
    }

    /// Byte-level BPE on one piece of ordinary text.
    fn encode_bpe(&self, bpe: &Bpe, text: &str, out: &mut Vec<u32>) {
        for word_text in bpe.splitter.split(text) {
            let word: String = word_text
                .bytes()
                .map(|b| bpe.byte_char[b as usize])
                .collect();
            if bpe.splitter.ignore_merges
                && let Some(&id) = self.index.get(&word)
            {
                out.push(id);
                continue;
            }
            self.merge_word(bpe, &word, out);
        }
    }

    /// Merges one byte-mapped word by merge rank (lowest first, then leftmost).
    fn merge_word(&self, bpe: &Bpe, word: &str, out: &mut Vec<u32>) {
        let mut symbols: Vec<String> = word.chars().map(String::from).collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| {
                    bpe.ranks
                        .get(&format!("{} {}", w[0], w[1]))
                        .map(|&r| (r, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let right = symbols.remove(i + 1);
            symbols[i].push_str(&right);
        }
        for s in symbols {
            match self.index.get(&s) {
                Some(&id) => out.push(id),
                // Not in the vocabulary: its characters one by one (each is a byte).
                None => out.extend(
                    s.chars()
                        .filter_map(|c| self.index.get(&c.to_string()).copied()),
                ),
            }
        }
    }

    /// The bytes token `id` stands for: `▁` as a space, `<0xNN>` as that byte, control
    /// tokens as nothing.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(text) = self.tokens.get(id as usize) else {
            return Vec::new();
        };
        match self.types.get(id as usize).copied() {
            Some(TYPE_CONTROL) => Vec::new(),
            Some(TYPE_BYTE) => text
                .strip_prefix("<0x")
                .and_then(|h| h.strip_suffix('>'))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .map(|b| vec![b])
                .unwrap_or_default(),
            Some(TYPE_USER_DEFINED) if self.bpe.is_some() => text.clone().into_bytes(),
            _ if let Some(bpe) = &self.bpe => text
                .chars()
                .map(|c| bpe.char_byte.get(&c).copied().unwrap_or(b'?'))
                .collect(),
            _ => text.replace('▁', " ").into_bytes(),
        }
    }

    /// Text of a token sequence (invalid UTF-8 from split characters is replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

enum Piece<'a> {
    Text(&'a str),
    Special(u32),
}

/// Turns a stream of tokens into text that is always valid UTF-8: bytes of a character
/// split across tokens wait until the character is complete.
#[derive(Debug, Default, Clone)]
pub struct TextStream {
    pending: Vec<u8>,
}

impl TextStream {
    /// Adds a token's bytes; returns the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // An invalid sequence (not just an unfinished one) will never complete.
            Err(_) => {
                let text = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                return text;
            }
        };
        let rest = self.pending.split_off(valid);
        let done = std::mem::replace(&mut self.pending, rest);
        String::from_utf8(done).unwrap_or_default()
    }

    /// What is left at the end (an unfinished character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

#[cfg(test)]
mod tests {
    use super::TextStream;

    #[test]
    fn text_stream_waits_for_whole_characters() {
        let mut s = TextStream::default();
        let rocket = "🚀".as_bytes();
        assert_eq!(s.push(b"go "), "go ");
        assert_eq!(s.push(&rocket[..2]), "");
        assert_eq!(s.push(&rocket[2..]), "🚀");
        assert_eq!(s.push(&[0xE6]), "");
        assert_eq!(s.finish(), "\u{FFFD}");
        assert_eq!(s.push(&[0xFF, b'a']), "\u{FFFD}a");
    }
}
