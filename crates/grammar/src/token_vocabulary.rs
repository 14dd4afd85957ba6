use crate::GrammarError;
use dial_model::Tokenizer;
use toktrie::{TokRxInfo, TokTrie};

/// A model's vocabulary as llguidance sees it: each token id's bytes in a [`TokTrie`],
/// and the ids that end a generation.
///
/// - An ordinary token is the bytes it decodes to (`▁` as a space, a byte-fallback token
///   `<0xNN>` as its one byte, a byte-level BPE symbol as the byte it stands for).
/// - A control token (BOS, EOS, turn markers) or an end-of-generation token is
///   llguidance's special-token form: the byte `0xFF`, then its text (`\xFF<end_of_turn>`).
///   No text can spell it, so a grammar reaches it only by name.
/// - A token whose bytes begin with `0xFF` (the byte-fallback `<0xFF>`) has no bytes in
///   the trie: `0xFF` marks special tokens there, and UTF-8 text never holds it.
/// - Every end-of-generation id is one of the trie's EOS tokens (Gemma has `<eos>` and
///   `<end_of_turn>`), so a complete output may end with any of them.
pub struct TokenVocabulary {
    trie: TokTrie,
    end_of_generation: Vec<u32>,
}

impl TokenVocabulary {
    /// The vocabulary of `tokenizer`.
    ///
    /// # Errors
    /// [`GrammarError::Vocabulary`] when the model has no end-of-generation token, or a
    /// token is longer than the trie can hold.
    pub fn new(tokenizer: &Tokenizer) -> Result<Self, GrammarError> {
        let size = tokenizer.vocab_size();
        let vocab_size = u32::try_from(size)
            .map_err(|_| GrammarError::Vocabulary(format!("{size} tokens do not fit in u32")))?;
        let end_of_generation = tokenizer.stop_tokens().to_vec();
        let eos = tokenizer
            .eos()
            .or_else(|| end_of_generation.first().copied())
            .ok_or_else(|| GrammarError::Vocabulary("it has no end-of-generation token".into()))?;
        let words: Vec<Vec<u8>> = (0..vocab_size)
            .map(|id| Self::expected_bytes(tokenizer, id))
            .collect();
        // The trie stores lengths in u32 and walks bytes as a tree: bound every token.
        if let Some((id, word)) = words.iter().enumerate().find(|(_, w)| w.len() > 1024) {
            return Err(GrammarError::Vocabulary(format!(
                "token {id} is {} bytes long",
                word.len()
            )));
        }
        let info = TokRxInfo {
            vocab_size,
            tok_eos: eos,
            tok_bos: tokenizer.bos(),
            tok_pad: None,
            tok_unk: None,
            tok_end_of_turn: end_of_generation.iter().copied().find(|&t| t != eos),
        };
        let mut end_of_generation = end_of_generation;
        if end_of_generation.is_empty() {
            end_of_generation.push(eos);
        }
        // Every end-of-generation id is an EOS of the trie: a complete output allows all.
        let trie = TokTrie::from(&info, &words).with_eos_tokens(&end_of_generation);
        Ok(TokenVocabulary {
            trie,
            end_of_generation,
        })
    }

    /// The bytes token `id` has in the trie: its decoded bytes, or `0xFF` and its text
    /// for a control token; none for a token whose bytes begin with `0xFF`.
    pub fn expected_bytes(tokenizer: &Tokenizer, id: u32) -> Vec<u8> {
        if Self::is_special(tokenizer, id) {
            let mut bytes = vec![TokTrie::SPECIAL_TOKEN_MARKER];
            bytes.extend_from_slice(tokenizer.token(id).unwrap_or_default().as_bytes());
            bytes
        } else {
            let bytes = tokenizer.token_bytes(id);
            if bytes.first() == Some(&TokTrie::SPECIAL_TOKEN_MARKER) {
                // Byte 0xFF begins special tokens in the trie, and no UTF-8 text holds it:
                // the byte-fallback token for it (SentencePiece's `<0xFF>`) is never allowed.
                Vec::new()
            } else {
                bytes
            }
        }
    }

    /// Whether token `id` is special in the trie: a control token, or one that ends a
    /// generation whatever its type (Gemma's `<end_of_turn>` is user-defined), so that no
    /// text a grammar allows can spell it and end the output early.
    pub fn is_special(tokenizer: &Tokenizer, id: u32) -> bool {
        tokenizer.is_control(id) || tokenizer.stop_tokens().contains(&id)
    }

    /// The token trie.
    pub fn trie(&self) -> &TokTrie {
        &self.trie
    }

    /// Every id that ends a generation.
    pub fn end_of_generation(&self) -> &[u32] {
        &self.end_of_generation
    }

    /// The number of token ids.
    pub fn len(&self) -> usize {
        self.trie.vocab_size()
    }

    /// Whether the vocabulary has no tokens (never, for a loaded model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for TokenVocabulary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVocabulary")
            .field("tokens", &self.len())
            .field("end_of_generation", &self.end_of_generation)
            .finish_non_exhaustive()
    }
}
