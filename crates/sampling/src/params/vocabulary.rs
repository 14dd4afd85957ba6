//! What knobs that read text or special tokens need from a model's tokenizer.

/// A model's tokenizer as the knobs see it: text to ids, and the ids that end generation.
///
/// A closure `Fn(&str) -> Vec<u32>` is a vocabulary with no end-of-generation ids.
pub trait Vocabulary {
    /// `text`'s token ids, without BOS.
    fn encode(&self, text: &str) -> Vec<u32>;

    /// The ids whose draw ends a generation (end of sequence, end of turn).
    fn end_of_generation(&self) -> &[u32] {
        &[]
    }
}

impl<F: Fn(&str) -> Vec<u32>> Vocabulary for F {
    fn encode(&self, text: &str) -> Vec<u32> {
        self(text)
    }
}

/// A model's vocabulary, when there is one at hand.
pub type Tokenize<'a> = &'a dyn Vocabulary;
