//! # dial-sampling
//!
//! Every knob that shapes what a language model says, exact, reproducible, fast and
//! visible: temperature, top_k, top_p, min_p, typical_p, top-nσ, dynamic temperature, XTC,
//! mirostat v1/v2, repetition/frequency/presence penalties, DRY, logit bias and token masks;
//! epsilon, eta, top-a, tail-free, top-H and p-less truncation, quadratic smoothing,
//! adaptive-p; `min_tokens`/`ignore_eos`/`stop_token_ids`, n-gram bans, sequence biases,
//! bad words, classifier-free guidance against an unconditional row, and the bans of
//! `banned_strings` (whose rewinds a generation drives through
//! [`Sampler::state`] and [`Sampler::restore`]).
//!
//! ```
//! use dial_sampling::{Knobs, Sampler, Temperature, TopP};
//! // The six-token example: "The cat sat on mat ."
//! let logits = [1.3f32, 2.5, 0.7, 3.2, 0.2, 1.0];
//! let knobs = Knobs {
//!     temperature: Some(Temperature::new(0.8)?),
//!     top_p: Some(TopP::new(0.9)?),
//!     ..Knobs::default()
//! };
//! let mut sampler = Sampler::new(knobs, 42)?;
//! let draw = sampler.sample(&logits)?;
//! assert!(draw.kept <= 6 && draw.logprob <= 0.0);
//! for stage in &draw.trace {
//!     println!("{}: removed {}, kept mass {:.3}", stage.stage, stage.removed, stage.mass_kept);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Design:
//! - A [`Sampler`] runs a chain of knobs in an [`Order`]: `temperature-first` (HF, vLLM,
//!   OpenAI; the default) or `temperature-last` (llama.cpp), or any custom list.
//! - [`Sampler::sample`] returns a [`Draw`]: the token, its processed and raw
//!   log-probabilities, alternatives, kept-set size and mass, entropies and a per-stage
//!   [`StageTrace`]. [`Sampler::explain`] returns the same distribution without drawing.
//! - Seeds drive [`DialRng`] (ChaCha8, SplitMix64 seed expansion, pinned uniform mapping);
//!   the draw is an inverse-CDF walk over kept tokens in id order.
//! - No full sort of the vocabulary: one vectorised pass finds the max, another computes
//!   `Σ exp` while collecting candidates; truncations then work on candidates only.

mod batch;
mod error;
mod explain;
mod g_test;
mod history;
pub mod kernels;
mod knobs;
#[doc(hidden)]
pub mod mutants;
mod params;
mod rng;
mod sampler;
mod sampler_state;
mod stage_id;
mod token_constraint;
mod token_set;
mod work;

pub use batch::{BatchRow, sample_batch};
pub use error::{ConfigError, ParamError, SampleError};
pub use explain::{ChainStage, Cut, ExplainReport, ExplainRow, RestSummary, StageSummary};
pub use g_test::{GTest, g_test};
pub use history::History;
pub use kernels::Isa;
pub use knobs::*;
pub use params::{
    BiasKey, Field, FieldKind, ParamsError, Range, SamplingParams, Slider, Tokenize, Value,
    Vocabulary, nearest,
};
pub use rng::{DialRng, clock_bits};
pub use sampler::{
    Alternative, Draw, Explanation, NamedLogprob, Order, OrderDifference, RawAlternative, Sampler,
    StageTrace, Token, TokenProb,
};
pub use sampler_state::SamplerState;
pub use stage_id::StageId;
pub use token_constraint::TokenConstraint;
pub use token_set::TokenSet;

/// The note's six-token example: tokens and logits.
pub const NOTE_EXAMPLE_TOKENS: [&str; 6] = ["The", "cat", "sat", "on", "mat", "."];
/// Logits of the note's six-token example.
pub const NOTE_EXAMPLE_LOGITS: [f32; 6] = [1.3, 2.5, 0.7, 3.2, 0.2, 1.0];
