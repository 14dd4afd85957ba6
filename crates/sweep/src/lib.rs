//! # dial-sweep
//!
//! The text-level measures of Holtzman et al., "The Curious Case of Neural Text
//! Degeneration" (ICLR 2020, Table 1), over generated token-id sequences, each in its
//! own file and defined in its rustdoc:
//!
//! - [`self_bleu4`]: how alike a setting's generations are (diversity's inverse);
//! - [`zipf_coefficient`]: the slope of the rank–frequency law of the generated tokens;
//! - [`is_repetitive`] and [`repetition_share`]: generations that end in a loop;
//! - [`distinct_n`]: the share of unique n-grams;
//! - [`Metrics`]: all of them, with perplexity from the model's per-token NLLs.
//!
//! And what a sweep needs besides: the default settings and prompts, and
//! [`generation_seed`], each generation's seed. `dial sweep` (in the CLI) drives the model.

mod bleu;
mod distinct;
mod metrics;
mod repetition;
mod seed;
mod settings;
mod zipf;

pub use bleu::{SELF_BLEU_EPSILON, bleu4, self_bleu4};
pub use distinct::distinct_n;
pub use metrics::{Metrics, SELF_BLEU_SAMPLE, Scored};
pub use repetition::{is_repetitive, repetition_share};
pub use seed::generation_seed;
pub use settings::{
    DEFAULT_MAX_TOKENS, DEFAULT_PROMPTS, DEFAULT_SETTINGS, default_prompts, split_setting,
};
pub use zipf::{ZIPF_RANKS, zipf_coefficient};
