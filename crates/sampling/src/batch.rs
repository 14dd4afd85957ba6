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
    let template = Sampler::with_order(knobs.clone(), order.clone(), 0)?;
    let threads = threads.clamp(1, rows.len().max(1));
    let chunk = rows.len().div_ceil(threads).max(1);
    let run = |rows: &[BatchRow<'_>]| -> Vec<Result<Draw, SampleError>> {
        let mut sampler =
            Sampler::with_order(template.knobs().clone(), template.order().clone(), 0);
        rows.iter()
            .map(|row| match sampler.as_mut() {
                Ok(s) => {
                    s.reset(row.seed);
                    s.set_prompt(row.prompt);
                    s.sample(row.logits)
                }
                Err(_) => Err(SampleError::EmptyLogits),
            })
            .collect()
    };
    if threads == 1 {
        return Ok(run(rows));
    }
    let mut out = Vec::with_capacity(rows.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(chunk)
            .map(|part| scope.spawn(move || run(part)))
            .collect();
        for h in handles {
            match h.join() {
                Ok(results) => out.extend(results),
                Err(_) => out.push(Err(SampleError::EmptyLogits)),
            }
        }
    });
    Ok(out)
}
