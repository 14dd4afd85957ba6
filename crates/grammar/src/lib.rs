//! dial's structured outputs, built on llguidance's token trie (`toktrie`).
//!
//! A constraint (JSON Schema, regex, choice, grammar) becomes a mask over the vocabulary:
//! the tokens whose bytes keep the output inside the language. Everything starts from the
//! model's vocabulary as bytes, one entry per token id: [`TokenVocabulary`].

mod error;
mod token_vocabulary;

pub use error::GrammarError;
pub use token_vocabulary::TokenVocabulary;
