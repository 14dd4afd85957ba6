//! A set of token ids as a bitset: what a constraint allows.

/// A set of token ids below a vocabulary size, one bit per id in 32-bit words (bit
/// `id % 32` of word `id / 32`), the layout llguidance's masks use, so a mask copies in
/// one pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenSet {
    words: Vec<u32>,
    vocab: usize,
}

impl TokenSet {
    /// The empty set over `vocab` ids.
    pub fn new(vocab: usize) -> Self {
        TokenSet {
            words: vec![0; vocab.div_ceil(32)],
            vocab,
        }
    }

    /// Empties the set and makes it one over `vocab` ids, reusing its storage.
    pub fn clear(&mut self, vocab: usize) {
        self.words.clear();
        self.words.resize(vocab.div_ceil(32), 0);
        self.vocab = vocab;
    }

    /// How many ids it can hold.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Adds `id`; ids at or past the vocabulary are ignored (a set over V holds none).
    pub fn insert(&mut self, id: u32) {
        if (id as usize) < self.vocab {
            self.words[id as usize / 32] |= 1 << (id % 32);
        }
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: u32) -> bool {
        (id as usize) < self.vocab && self.words[id as usize / 32] & (1 << (id % 32)) != 0
    }

    /// The words, to fill from another bitset of the same layout. Bits past the
    /// vocabulary must stay clear.
    pub fn words_mut(&mut self) -> &mut [u32] {
        &mut self.words
    }

    /// The words.
    pub fn words(&self) -> &[u32] {
        &self.words
    }

    /// How many ids it holds.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether it holds no id.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Its ids, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros();
                    bits &= bits - 1;
                    (i as u32) * 32 + b
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_inserted() {
        let mut set = TokenSet::new(70);
        for id in [0, 31, 32, 69, 70, 1000] {
            set.insert(id);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 31, 32, 69]);
        assert_eq!(set.len(), 4);
        assert!(set.contains(69) && !set.contains(70) && !set.contains(33));
        set.clear(3);
        assert!(set.is_empty());
        assert_eq!(set.words().len(), 1);
    }
}
