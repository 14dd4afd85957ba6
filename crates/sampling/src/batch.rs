//! Sampling many rows at once, optionally across threads.

use crate::error::{ConfigError, SampleError};
use crate::knobs::Knobs;
use crate::sampler::{Draw, Order, Sampler};

/// One row of a batch: its logits, its own seed and the prompt its penalties see.
#[derive(Debug, Clone, Copy)]
pub struct BatchRow<'a> {
    /// The logits.
    pub logits: &'a [f32],
    /// The row's seed.
    pub seed: u64,
    /// Tokens penalties and DRY count as prompt.
    pub prompt: &'a [u32],
}

/// Samples every row with the same knobs and order. Each row is drawn by a sampler reset to
/// its own seed and prompt, so its result depends only on `(logits, seed, prompt, knobs,
/// order)`: not on the batch size, its position or `threads`.
pub fn sample_batch(
    knobs: &Knobs,
    order: &Order,
    rows: &[BatchRow<'_>],
    threads: usize,
) -> Result<Vec<Result<Draw, SampleError>>, ConfigError> {
    let threads = threads.clamp(1, rows.len().max(1));
    let chunk = rows.len().div_ceil(threads).max(1);
    // Every sampler is built before any thread starts, so a bad config is one error for
    // the call, never a per-row one.
    let mut samplers = Vec::with_capacity(threads);
    for _ in 0..rows.len().div_ceil(chunk).max(1) {
        samplers.push(Sampler::with_order(knobs.clone(), order.clone(), 0)?);
    }
    let run = |sampler: &mut Sampler, rows: &[BatchRow<'_>]| -> Vec<Result<Draw, SampleError>> {
        rows.iter()
            .map(|row| {
                sampler.reset(row.seed);
                sampler.set_prompt(row.prompt);
                sampler.sample(row.logits)
            })
            .collect()
    };
    if threads == 1 {
        let mut sampler = samplers.swap_remove(0);
        return Ok(run(&mut sampler, rows));
    }
    let mut out = Vec::with_capacity(rows.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(chunk)
            .zip(samplers)
            .enumerate()
            .map(|(i, (part, mut sampler))| {
                (
                    i * chunk,
                    part.len(),
                    scope.spawn(move || run(&mut sampler, part)),
                )
            })
            .collect();
        for (first, len, h) in handles {
            match h.join() {
                Ok(results) => out.extend(results),
                // A fault of dial's, not of the input: each row of the chunk says so.
                Err(_) => {
                    out.extend((first..first + len).map(|row| Err(SampleError::Panicked { row })))
                }
            }
        }
    });
    Ok(out)
}
