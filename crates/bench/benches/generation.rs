//! The default model end to end, 2 threads: prompt processing, generation at T = 0.8 and
//! top_p = 0.9 with dial, and candle's example loop (candle-transformers'
//! `quantized_gemma3` with its `LogitsProcessor`) with the same knobs, in the same run;
//! plus both samplers alone on one real step's logits.
//!
//! `cargo bench -p dial-bench --features candle --bench generation` (fetches the model on
//! first use; without `--features candle`, dial alone).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use dial_fetch::{self as fetch, FetchOptions};
use dial_model::{GenerateOptions, Model};
use dial_sampling::{Knobs, Sampler, Temperature, TopP};
use std::hint::black_box;
use std::time::{Duration, Instant};

const GEN_TOKENS: usize = 64;

/// About 100 tokens of the note, as the prompt.
const PROMPT: &str = "When you interact with a language or voice model, you never receive the one \
correct answer. Instead, the model samples a response from a probability distribution of possible \
outputs. Controls such as temperature, top_p, and stability let you reshape that distribution: if \
output feels too repetitive or robotic, raise temperature or widen top_p to encourage the model to \
explore novel options. If output feels too random or incoherent, lower temperature or shrink top_p \
so the model focuses on its most confident";

fn knobs() -> Knobs {
    Knobs {
        temperature: Some(Temperature::new(0.8).unwrap()),
        top_p: Some(TopP::new(0.9).unwrap()),
        ..Knobs::default()
    }
}

fn benches(c: &mut Criterion) {
    let options = FetchOptions {
        progress: false,
        ..FetchOptions::default()
    };
    let path = fetch::ensure(&fetch::GEMMA3_270M, &options).unwrap();
    let model = Model::load(&path, |_, _| {}).unwrap();
    let prompt = model.tokenizer().encode(PROMPT, true);
    let mut g = c.benchmark_group("gemma3-270m");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(12));

    g.throughput(Throughput::Elements(prompt.len() as u64));
    let mut session = model.session().unwrap();
    g.bench_function(BenchmarkId::new("prompt", "dial"), |b| {
        b.iter(|| {
            session.reset().unwrap();
            black_box(session.next_logits(&prompt).unwrap())
        })
    });

    g.throughput(Throughput::Elements(GEN_TOKENS as u64));
    let mut seed = 0;
    g.bench_function(BenchmarkId::new("generate", "dial"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                seed += 1;
                let opts = GenerateOptions {
                    knobs: knobs(),
                    seed,
                    max_tokens: GEN_TOKENS,
                    ..GenerateOptions::default()
                };
                // Prefill first, untimed: time the decode only.
                let mut run = model.generate_from(&prompt, opts).unwrap();
                run.ready().unwrap();
                let start = Instant::now();
                let n = run.by_ref().map_while(Result::ok).count();
                total += start.elapsed() * GEN_TOKENS as u32 / n.max(1) as u32;
            }
            total
        })
    });

    #[cfg(feature = "candle")]
    candle_baseline::generate(&mut g, &path, &prompt);

    // The samplers alone, on the logits of one real step (262,144 tokens).
    session.reset().unwrap();
    let logits = session.next_logits(&prompt).unwrap();
    g.throughput(Throughput::Elements(1));
    let mut dial = Sampler::new(knobs(), 1).unwrap();
    g.bench_function(BenchmarkId::new("sample one step", "dial"), |b| {
        b.iter(|| dial.sample_token(black_box(&logits)).unwrap())
    });
    #[cfg(feature = "candle")]
    candle_baseline::sample(&mut g, &logits);
    g.finish();
}

/// candle's example loop (its `quantized_gemma3` and `LogitsProcessor`), the baseline.
#[cfg(feature = "candle")]
mod candle_baseline {
    use super::GEN_TOKENS;
    use candle_core::quantized::gguf_file;
    use candle_core::{Device, Tensor};
    use candle_transformers::generation::{LogitsProcessor, Sampling};
    use candle_transformers::models::quantized_gemma3::ModelWeights;
    use criterion::{BenchmarkGroup, BenchmarkId, measurement::WallTime};
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    pub fn generate(g: &mut BenchmarkGroup<'_, WallTime>, path: &std::path::Path, prompt: &[u32]) {
        let mut file = std::fs::File::open(path).unwrap();
        let content = gguf_file::Content::read(&mut file).unwrap();
        let mut candle = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
        g.bench_function(BenchmarkId::new("generate", "candle example loop"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let mut sampler = LogitsProcessor::from_sampling(
                        i,
                        Sampling::TopP {
                            p: 0.9,
                            temperature: 0.8,
                        },
                    );
                    let input = Tensor::new(prompt, &Device::Cpu)
                        .unwrap()
                        .unsqueeze(0)
                        .unwrap();
                    let logits = candle.forward(&input, 0).unwrap().squeeze(0).unwrap();
                    let mut next = sampler.sample(&logits).unwrap();
                    let start = Instant::now();
                    for step in 0..GEN_TOKENS {
                        let input = Tensor::new(&[next], &Device::Cpu)
                            .unwrap()
                            .unsqueeze(0)
                            .unwrap();
                        let logits = candle
                            .forward(&input, prompt.len() + step)
                            .unwrap()
                            .squeeze(0)
                            .unwrap();
                        next = sampler.sample(&logits).unwrap();
                    }
                    total += start.elapsed();
                }
                total
            })
        });
        drop(candle);
    }

    pub fn sample(g: &mut BenchmarkGroup<'_, WallTime>, logits: &[f32]) {
        let tensor = Tensor::from_slice(logits, logits.len(), &Device::Cpu).unwrap();
        let mut lp = LogitsProcessor::from_sampling(
            1,
            Sampling::TopP {
                p: 0.9,
                temperature: 0.8,
            },
        );
        g.bench_function(
            BenchmarkId::new("sample one step", "candle LogitsProcessor"),
            |b| b.iter(|| lp.sample(black_box(&tensor)).unwrap()),
        );
    }
}

criterion::criterion_group!(generation, benches);
criterion::criterion_main!(generation);
