//! Batch invariance on the real default model: 16 seeded generations with different
//! prompts, lengths and knobs give the same tokens and the same logprob bits alone and
//! together, in three arrival orders, under two step budgets, on 1 and 2 threads.
//! Release only: `cargo test --release -p dial-model --test batch_invariance`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod invariance;

use dial_fetch::{self as fetch, FetchOptions};
use dial_model::Model;

fn model() -> Model {
    let options = FetchOptions {
        progress: false,
        ..FetchOptions::default()
    };
    let path = fetch::ensure(&fetch::GEMMA3_270M, &options).unwrap();
    Model::load(&path, |_, _| {}).unwrap()
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn sixteen_seeded_generations_give_the_same_bits_alone_and_together() {
    invariance::sixteen_seeded_generations_alone_and_together(&model());
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn a_prompts_logits_do_not_depend_on_the_rest_of_the_batch() {
    invariance::a_prompts_logits_alone_and_in_a_batch(&model());
}
