//! The per-token cost of each stage at V = 262,144, one draw per iteration, beside the
//! max + Σ exp floor measured in the same run.
//!
//! `cargo bench -p dial-bench --bench stages`; BENCHMARKS.md "The newer stages" has the
//! table.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, measurement::WallTime};
use dial_bench::{Shape, row};
use dial_sampling::*;

const V: usize = 262_144;
const T: f32 = 0.8;

/// Each stage alone after temperature 0.8, and min_p and top_p for scale.
fn stages() -> Vec<(&'static str, Knobs)> {
    let with = |f: fn(&mut Knobs)| {
        let mut k = Knobs {
            temperature: Some(Temperature::new(T).unwrap()),
            ..Knobs::default()
        };
        f(&mut k);
        k
    };
    vec![
        ("temperature", with(|_| {})),
        (
            "top_p 0.9",
            with(|k| k.top_p = Some(TopP::new(0.9).unwrap())),
        ),
        (
            "min_p 0.05",
            with(|k| k.min_p = Some(MinP::new(0.05).unwrap())),
        ),
        (
            "epsilon_cutoff 3e-4",
            with(|k| k.epsilon_cutoff = Some(EpsilonCutoff::new(3e-4).unwrap())),
        ),
        (
            "eta_cutoff 2e-3",
            with(|k| k.eta_cutoff = Some(EtaCutoff::new(2e-3).unwrap())),
        ),
        (
            "top_a 0.2",
            with(|k| k.top_a = Some(TopA::new(0.2).unwrap())),
        ),
        (
            "tfs 0.95",
            with(|k| k.tfs = Some(TailFree::new(0.95).unwrap())),
        ),
        (
            "top_h 0.4",
            with(|k| k.top_h = Some(TopH::new(0.4).unwrap())),
        ),
        ("p_less", with(|k| k.p_less = Some(PLess::new()))),
        (
            "p_less_norm",
            with(|k| k.p_less_norm = Some(PLessNorm::new())),
        ),
        (
            "smoothing 0.3",
            with(|k| k.smoothing = Some(Smoothing::new(0.3, 1.0).unwrap())),
        ),
        (
            "min_tokens (masking 2 ends)",
            with(|k| {
                k.end_of_generation = Some(EndOfGeneration::new(
                    usize::MAX,
                    false,
                    vec![],
                    vec![1, 106],
                ))
            }),
        ),
        (
            "no_repeat_ngram 3 (512-token context)",
            with(|k| k.no_repeat_ngram = Some(NoRepeatNgram::new(3))),
        ),
        (
            "guidance 1.5 (against a second row)",
            with(|k| k.guidance = Some(Guidance::new(1.5, None).unwrap())),
        ),
        (
            "min_p 0.05 + adaptive_p 0.4",
            with(|k| {
                k.min_p = Some(MinP::new(0.05).unwrap());
                k.adaptive_p = Some(AdaptiveP::new(0.4, 0.9).unwrap());
            }),
        ),
    ]
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .nresamples(2000);
}

fn benches(c: &mut Criterion) {
    let isa = Isa::chosen();
    for shape in [Shape::Peaked, Shape::Flat] {
        let r = row(shape, V, V as u64);
        let mut g = c.benchmark_group(format!("stages-{}", shape.name()));
        configure(&mut g);
        g.bench_with_input(BenchmarkId::new("floor", V), &r, |b, r| {
            b.iter(|| kernels::log_sum_exp(black_box(r), 1.0 / T, isa))
        });
        for (name, knobs) in stages() {
            let mut sampler = Sampler::new(knobs, 1).unwrap();
            // A context for the knobs that look back (a repeating 512-token prompt).
            let context: Vec<u32> = (0..512u32).map(|i| (i * 7919) % 977).collect();
            sampler.set_prompt(&context);
            // Guidance's unconditional row: another row of the same shape.
            sampler.set_unconditional(&row(shape, V, V as u64 + 1));
            g.bench_with_input(BenchmarkId::new(name, V), &r, |b, r| {
                b.iter(|| sampler.sample_token(black_box(r)).unwrap())
            });
        }
        g.finish();
    }
}

criterion::criterion_group!(stage_costs, benches);
criterion::criterion_main!(stage_costs);
