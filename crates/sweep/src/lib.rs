//! # dial-sweep
//!
//! The text-level measures of Holtzman et al., "The Curious Case of Neural Text
//! Degeneration" (ICLR 2020, Table 1), over generated token-id sequences, each in its
//! own file and defined in its rustdoc:
//!
//! - [`self_bleu4`]: how alike a setting's generations are (diversity's inverse);
//! - [`zipf_coefficient`]: the slope of the rank–frequency law of the generated tokens;
//! - [`is_repetitive`] and [`repetition_share`]: generations that end in a loop;
//! - [`distinct_n`]: the share of unique n-grams.
//!
//! Perplexity needs the model and lives with it (`dial_model::Perplexity`).
//!
//! Status (issue 12): these metrics, tested on hand-made texts. The `dial sweep` command,
//! its settings, prompts, plot and real-model test are not written yet.

mod bleu;
mod distinct;
mod repetition;
mod zipf;

pub use bleu::{SELF_BLEU_EPSILON, bleu4, self_bleu4};
pub use distinct::distinct_n;
pub use repetition::{is_repetitive, repetition_share};
pub use zipf::zipf_coefficient;
