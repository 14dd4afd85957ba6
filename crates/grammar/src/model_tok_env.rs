//! llguidance's view of a model's tokenizer: the trie, and a way to tokenize bytes.

use crate::TokenVocabulary;
use dial_model::Tokenizer;
use toktrie::{TokTrie, TokenId, TokenizerEnv};

/// The model's trie, tokenizing text with the model's own tokenizer (so forced text gets
/// the tokens the model would use) and anything else greedily through the trie.
pub(crate) struct ModelTokEnv {
    vocabulary: TokenVocabulary,
    tokenizer: Tokenizer,
}

impl ModelTokEnv {
    pub(crate) fn new(vocabulary: TokenVocabulary, tokenizer: Tokenizer) -> Self {
        ModelTokEnv {
            vocabulary,
            tokenizer,
        }
    }

    pub(crate) fn vocabulary(&self) -> &TokenVocabulary {
        &self.vocabulary
    }
}

impl TokenizerEnv for ModelTokEnv {
    fn tok_trie(&self) -> &TokTrie {
        self.vocabulary.trie()
    }

    fn tokenize_bytes(&self, bytes: &[u8]) -> Vec<TokenId> {
        let trie = self.vocabulary.trie();
        if let Ok(text) = std::str::from_utf8(bytes) {
            let ids = self.tokenizer.encode(text, false);
            // Only a tokenization that spells exactly these bytes will do.
            if trie.decode_raw(&ids) == bytes {
                return ids;
            }
        }
        trie.greedy_tokenize(bytes)
    }
}
