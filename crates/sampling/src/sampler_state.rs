//! What a sampler carries from one draw to the next, to return to.

use crate::knobs::Knob;
use crate::rng::DialRng;
use crate::token_constraint::TokenConstraint;

/// A [`crate::Sampler`]'s state between two draws: the random stream, the stateful knobs
/// (mirostat's `μ`, adaptive-p's averages, the bans of `banned_strings`), the constraints'
/// parser states and how many tokens were generated. [`crate::Sampler::restore`] returns
/// to it, as if nothing after it had been drawn: a rewind.
#[derive(Debug, Clone)]
pub struct SamplerState {
    pub(crate) rng: DialRng,
    pub(crate) chain: Vec<Knob>,
    pub(crate) constraints: Vec<Box<dyn TokenConstraint>>,
    pub(crate) generated: usize,
    pub(crate) last_prob: Option<(u32, f64)>,
}
