//! One step of continuous batching over many generations: one forward pass for all of
//! them, then every draw, in parallel.

use crate::error::{ModelError, panic_message};
use crate::generate::{Generation, Step};
use crate::model::{Model, PREFILL_CHUNK};
use rayon::prelude::*;
use std::panic::AssertUnwindSafe;

/// What one [`step_batch`] did for one generation.
#[derive(Debug, Default)]
pub struct StepOutcome {
    /// This step put the last of its prompt in the cache.
    pub prefilled: bool,
    /// The steps that became final: usually the token it drew; none while its text
    /// might still become a banned phrase, or after a rewind; several when held tokens
    /// turn out safe.
    pub steps: Vec<Step>,
    /// It rolled back for `banned_strings` instead of drawing ahead.
    pub rewound: bool,
    /// Why it failed; it goes no further.
    pub error: Option<ModelError>,
}

/// What one [`step_batch`] did.
#[derive(Debug, Default)]
pub struct BatchStep {
    /// One per generation, in order.
    pub outcomes: Vec<StepOutcome>,
    /// Token rows the forward pass ran.
    pub rows: usize,
}

/// Token rows each generation runs in a step of `step_tokens`: one for every decoding
/// generation, then prefill chunks (at most [`PREFILL_CHUNK`] each) in slice order while
/// what is left lasts. Decode rows always run, so a crowd of decoders can hold prefill
/// back until some finish, never the other way round.
pub(crate) fn grants(generations: &[&mut Generation], step_tokens: usize) -> Vec<usize> {
    let decoding = generations.iter().filter(|g| g.is_prefilled()).count();
    let mut left = step_tokens.saturating_sub(decoding);
    generations
        .iter()
        .map(|g| {
            if g.is_prefilled() {
                1
            } else {
                let chunk = left.min(g.prompt_left()).min(PREFILL_CHUNK);
                left -= chunk;
                chunk
            }
        })
        .collect()
}

/// One step over `generations`: a single [`Model::step`] that runs each one's
/// [`grants`] (prefill chunks and the tokens just drawn), then a draw for every one with
/// fresh logits, in parallel. Each generation draws with its own sampler, and dial's
/// kernels give a row the same bits whatever else is in the pass, so a generation's
/// tokens and logprobs do not depend on the others in the slice, or on their order.
///
/// A panic while drawing fails that generation alone; one inside the shared pass fails
/// every generation in it. Both come back as [`ModelError::Panicked`].
pub fn step_batch(
    model: &Model,
    generations: &mut [&mut Generation],
    step_tokens: usize,
) -> BatchStep {
    let grants = grants(generations, step_tokens);
    let mut outcomes: Vec<StepOutcome> =
        generations.iter().map(|_| StepOutcome::default()).collect();
    let was_prefilled: Vec<bool> = generations.iter().map(|g| g.has_seen_prompt()).collect();
    let mut inputs = Vec::new();
    let mut who = Vec::new();
    for (i, (g, &grant)) in generations.iter_mut().zip(&grants).enumerate() {
        let theirs = g.step_inputs(grant);
        if !theirs.is_empty() {
            who.push((i, theirs.len()));
            inputs.extend(theirs);
        }
    }
    let rows = inputs.iter().map(|i| i.tokens.len()).sum();
    if !inputs.is_empty() {
        let results = std::panic::catch_unwind(AssertUnwindSafe(|| model.step(&mut inputs)))
            .map_err(|panic| panic_message(panic.as_ref()));
        drop(inputs);
        match results {
            Ok(results) => {
                let mut results = results.into_iter();
                for (i, n) in who {
                    let theirs: Vec<_> = results.by_ref().take(n).collect();
                    if let Err(e) = generations[i].ran(theirs) {
                        outcomes[i].error = Some(e);
                    }
                }
            }
            Err(what) => {
                for (i, _) in who {
                    let _ = generations[i].ran(vec![Err(ModelError::Panicked(what.clone()))]);
                    outcomes[i].error = Some(ModelError::Panicked(what.clone()));
                }
            }
        }
    }
    generations
        .par_iter_mut()
        .zip(outcomes.par_iter_mut())
        .zip(was_prefilled.par_iter())
        .for_each(|((g, outcome), &was_prefilled)| {
            if outcome.error.is_some() {
                return;
            }
            outcome.prefilled = !was_prefilled && g.has_seen_prompt();
            if !g.can_draw() {
                return;
            }
            let rewinds = g.rewinds();
            match std::panic::catch_unwind(AssertUnwindSafe(|| g.draw())) {
                Ok(Ok(steps)) => {
                    outcome.steps = steps;
                    outcome.rewound = g.rewinds() > rewinds;
                }
                Ok(Err(e)) => outcome.error = Some(e),
                Err(panic) => {
                    outcome.error = Some(ModelError::Panicked(panic_message(panic.as_ref())));
                }
            }
        });
    BatchStep { outcomes, rows }
}
