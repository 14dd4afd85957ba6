//! Aggregate decode of N generations stepped together with `step_batch` (the engine's
//! step, without the server): tokens/s for each N, after their prompts.
//! `cargo run --release -p dial-bench --example batch_decode -- MODEL [N]...`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
use dial_model::{GenerateOptions, Generation, Model, step_batch};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("the model's path");
    let counts: Vec<usize> = args.map(|a| a.parse().unwrap()).collect();
    let model = Model::load(std::path::Path::new(&path), |_, _| {}).unwrap();
    for n in counts {
        let mut gens: Vec<Generation> = (0..n)
            .map(|i| {
                let prompt = model
                    .tokenizer()
                    .encode(&format!("Here is story number {i}. Once upon a time"), true);
                let options = GenerateOptions {
                    seed: i as u64,
                    max_tokens: 48,
                    ..GenerateOptions::default()
                };
                Generation::new(model.session().unwrap(), &prompt, options).unwrap()
            })
            .collect();
        // Prefill (and the first draw) untimed.
        let mut refs: Vec<&mut Generation> = gens.iter_mut().collect();
        while refs
            .iter()
            .any(|g| !g.is_prefilled() || g.generated_tokens() == 0)
        {
            step_batch(&model, &mut refs, 256);
        }
        let start = Instant::now();
        let (mut tokens, mut steps) = (0, 0);
        while refs.iter().any(|g| g.finish_reason().is_none()) {
            let batch = step_batch(&model, &mut refs, 256);
            tokens += batch.outcomes.iter().map(|o| o.steps.len()).sum::<usize>();
            steps += 1;
        }
        let s = start.elapsed().as_secs_f64();
        println!(
            "{n:>3} sequences: {tokens} tokens in {steps} steps, {:.1} ms/step, {:.1} tok/s",
            s * 1e3 / steps as f64,
            tokens as f64 / s
        );
    }
}
