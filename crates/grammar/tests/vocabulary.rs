//! The token trie holds every id's bytes exactly, on both real models, fetched by dial's
//! own fetch code. Release only: `cargo test --release -p dial-grammar`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_fetch::{self as fetch, Artifact, FetchOptions};
use dial_grammar::TokenVocabulary;
use dial_model::{Model, Tokenizer};
use toktrie::TokTrie;

fn model(artifact: &Artifact) -> Model {
    let options = FetchOptions {
        progress: false,
        ..FetchOptions::default()
    };
    let path = fetch::ensure(artifact, &options).unwrap();
    Model::load(&path, |_, _| {}).unwrap()
}

/// Every id round-trips: the trie gives back its bytes, and those bytes lead back to an id
/// with the same bytes; control and end-of-generation tokens, and only they, are special.
fn check_round_trip(tokenizer: &Tokenizer, vocabulary: &TokenVocabulary) -> (usize, usize) {
    let trie = vocabulary.trie();
    assert_eq!(vocabulary.len(), tokenizer.vocab_size());
    let (mut special, mut empty) = (0, 0);
    for id in 0..tokenizer.vocab_size() as u32 {
        let bytes = trie.token(id);
        assert_eq!(
            bytes,
            TokenVocabulary::expected_bytes(tokenizer, id),
            "token {id}"
        );
        if TokenVocabulary::is_special(tokenizer, id) {
            special += 1;
            assert!(trie.is_special_token(id), "token {id}");
            assert_eq!(bytes[0], TokTrie::SPECIAL_TOKEN_MARKER);
            assert_eq!(&bytes[1..], tokenizer.token(id).unwrap().as_bytes());
        } else {
            assert!(!trie.is_special_token(id), "token {id}");
            let decoded = tokenizer.token_bytes(id);
            if decoded == [TokTrie::SPECIAL_TOKEN_MARKER] {
                assert!(bytes.is_empty(), "token {id}");
            } else {
                assert_eq!(bytes, decoded, "token {id}");
            }
        }
        if bytes.is_empty() {
            empty += 1;
            continue;
        }
        let found = trie.token_id(bytes).unwrap_or_else(|| panic!("token {id}"));
        assert_eq!(trie.token(found), bytes, "token {id}");
    }
    (special, empty)
}

/// A text's tokens decode through the trie to the tokenizer's own bytes.
fn check_decoding(tokenizer: &Tokenizer, vocabulary: &TokenVocabulary) {
    let text = "Paris, 1889: the tower's \"iron lady\" — 330 m.\n\t{\"ok\": [1, 2.5e-3, null]} ünïcödé 日本語 🙂";
    let ids = tokenizer.encode(text, false);
    assert_eq!(
        vocabulary.trie().decode(&ids),
        tokenizer.decode(&ids).into_bytes()
    );
    assert_eq!(tokenizer.decode(&ids), text);
}

/// The model's vocabulary, checked through and through: every id round-trips, `empty`
/// tokens have no bytes, a text decodes, and every end-of-generation id is special.
/// Returns the model, its vocabulary and the names of its end-of-generation tokens.
fn checked(artifact: &Artifact, empty_expected: usize) -> (Model, TokenVocabulary, Vec<String>) {
    let m = model(artifact);
    let tokenizer = m.tokenizer();
    let vocabulary = TokenVocabulary::new(tokenizer).unwrap();
    let (special, empty) = check_round_trip(tokenizer, &vocabulary);
    eprintln!(
        "{}: {} tokens, {special} special, {empty} empty",
        artifact.file_name,
        vocabulary.len()
    );
    assert!(special >= 2 && empty == empty_expected, "{special} {empty}");
    check_decoding(tokenizer, &vocabulary);
    for &id in vocabulary.end_of_generation() {
        assert!(vocabulary.trie().is_special_token(id));
    }
    let names = vocabulary
        .end_of_generation()
        .iter()
        .map(|&id| tokenizer.token(id).unwrap().to_owned())
        .collect();
    (m, vocabulary, names)
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn gemma_s_vocabulary_round_trips_with_both_end_of_generation_ids() {
    // The one empty token is the byte-fallback `<0xFF>`.
    let (m, vocabulary, names) = checked(&fetch::GEMMA3_270M, 1);
    assert!(
        names.iter().any(|n| n == "<eos>") && names.iter().any(|n| n == "<end_of_turn>"),
        "{names:?}"
    );
    assert_eq!(Some(vocabulary.trie().info().tok_eos), m.tokenizer().eos());
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn smollm2_s_byte_level_vocabulary_round_trips() {
    let (_, vocabulary, names) = checked(&fetch::SMOLLM2_135M_INSTRUCT, 0);
    // ChatML's end of turn ends a generation.
    assert!(names.iter().any(|n| n == "<|im_end|>"), "{names:?}");
    // Every printable ASCII byte, newline and tab can be spelled. SmolLM2's byte symbols
    // lack 21 of the 256 (control bytes 4, 6, 19, 20, 22, 29 and lead bytes that valid
    // UTF-8 never or seldom uses): a mask leaves those out, it never spells them wrong.
    let trie = vocabulary.trie();
    let unreachable: Vec<u8> = (0..=255u8)
        .filter(|&b| trie.greedy_tokenize(&[b]).is_empty())
        .collect();
    assert_eq!(
        unreachable,
        [
            4, 6, 19, 20, 22, 29, 192, 193, 241, 242, 245, 246, 247, 248, 249, 250, 251, 252, 253,
            254, 255
        ]
    );
    assert!(
        unreachable
            .iter()
            .all(|&b| !(b' '..=b'~').contains(&b) && b != b'\n' && b != b'\t')
    );
}
