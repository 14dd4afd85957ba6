//! One draw per iteration, every contender on the same rows.
//!
//! `cargo bench -p dial-bench --features candle --bench sampling`, then `scripts/bench-table`
//! for the table (without `--features candle`, candle's column is left out).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

#[cfg(feature = "candle")]
use candle_core::{Device, Tensor};
#[cfg(feature = "candle")]
use candle_transformers::generation::{LogitsProcessor, Sampling};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, measurement::WallTime};
use dial_bench::{Naive, Shape, VOCABS, cephes_log_sum_exp, naive_sample, read_max, row};
use dial_sampling::{Isa, Knobs, MinP, Sampler, Temperature, TopK, TopP, kernels};

const T: f32 = 0.8;

struct Setting {
    name: &'static str,
    top_k: usize,
    top_p: f32,
    min_p: f32,
}

const SETTINGS: [Setting; 5] = [
    Setting {
        name: "temperature",
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
    },
    Setting {
        name: "top_p",
        top_k: 0,
        top_p: 0.9,
        min_p: 0.0,
    },
    Setting {
        name: "top_k",
        top_k: 40,
        top_p: 1.0,
        min_p: 0.0,
    },
    Setting {
        name: "top_k+top_p",
        top_k: 40,
        top_p: 0.9,
        min_p: 0.0,
    },
    Setting {
        name: "min_p",
        top_k: 0,
        top_p: 1.0,
        min_p: 0.05,
    },
];

fn knobs(s: &Setting) -> Knobs {
    Knobs {
        temperature: Some(Temperature::new(T).unwrap()),
        top_k: (s.top_k > 0).then(|| TopK::new(s.top_k)),
        top_p: (s.top_p < 1.0).then(|| TopP::new(s.top_p).unwrap()),
        min_p: (s.min_p > 0.0).then(|| MinP::new(s.min_p).unwrap()),
        ..Knobs::default()
    }
}

/// candle's equivalent, where it has one (it has no min_p).
#[cfg(feature = "candle")]
fn candle_sampling(s: &Setting) -> Option<Sampling> {
    let temperature = f64::from(T);
    match (s.top_k, s.top_p < 1.0, s.min_p > 0.0) {
        (_, _, true) => None,
        (0, false, _) => Some(Sampling::All { temperature }),
        (0, true, _) => Some(Sampling::TopP {
            p: f64::from(s.top_p),
            temperature,
        }),
        (k, false, _) => Some(Sampling::TopK { k, temperature }),
        (k, true, _) => Some(Sampling::TopKThenTopP {
            k,
            p: f64::from(s.top_p),
            temperature,
        }),
    }
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .nresamples(2000);
}

fn rows() -> Vec<(Shape, usize, Vec<f32>)> {
    let mut out = Vec::new();
    for shape in [Shape::Peaked, Shape::Flat] {
        for v in VOCABS {
            out.push((shape, v, row(shape, v, v as u64)));
        }
    }
    out
}

fn benches(c: &mut Criterion) {
    let rows = rows();
    let isa = Isa::chosen();
    let mut g = c.benchmark_group("baseline");
    configure(&mut g);
    for (shape, v, r) in &rows {
        let id = format!("{}-{v}", shape.name());
        g.bench_with_input(BenchmarkId::new("read", &id), r, |b, r| {
            b.iter(|| read_max(black_box(r)))
        });
        g.bench_with_input(BenchmarkId::new("max-simd", &id), r, |b, r| {
            b.iter(|| kernels::max(black_box(r), isa))
        });
        g.bench_with_input(BenchmarkId::new("floor", &id), r, |b, r| {
            b.iter(|| kernels::log_sum_exp(black_box(r), 1.0 / T, isa))
        });
        g.bench_with_input(BenchmarkId::new("cephes-avx2", &id), r, |b, r| {
            b.iter(|| cephes_log_sum_exp(black_box(r), 1.0 / T))
        });
    }
    g.finish();

    for s in &SETTINGS {
        let mut g = c.benchmark_group(s.name);
        configure(&mut g);
        for (shape, v, r) in &rows {
            let id = format!("{}-{v}", shape.name());
            let mut dial = Sampler::new(knobs(s), 1).unwrap();
            g.bench_with_input(BenchmarkId::new("dial", &id), r, |b, r| {
                b.iter(|| dial.sample_token(black_box(r)).unwrap())
            });
            if s.name == "top_p" {
                let mut full = Sampler::new(knobs(s), 1).unwrap();
                g.bench_with_input(BenchmarkId::new("dial-full-report", &id), r, |b, r| {
                    b.iter(|| full.sample(black_box(r)).unwrap())
                });
                let mut scalar = Sampler::new(knobs(s), 1).unwrap();
                scalar.set_isa(Isa::Scalar);
                g.bench_with_input(BenchmarkId::new("dial-scalar", &id), r, |b, r| {
                    b.iter(|| scalar.sample_token(black_box(r)).unwrap())
                });
            }
            #[cfg(feature = "candle")]
            if let Some(sampling) = candle_sampling(s) {
                let mut candle = LogitsProcessor::from_sampling(1, sampling);
                let tensor = Tensor::from_slice(r, *v, &Device::Cpu).unwrap();
                g.bench_with_input(BenchmarkId::new("candle", &id), &tensor, |b, t| {
                    b.iter(|| candle.sample(black_box(t)).unwrap())
                });
            }
            let naive = Naive {
                temperature: T,
                top_k: s.top_k,
                top_p: s.top_p,
                min_p: s.min_p,
            };
            let mut u = 0.0f64;
            g.bench_with_input(BenchmarkId::new("naive-sort", &id), r, |b, r| {
                b.iter(|| {
                    u = (u + 0.618_033_988_749_895) % 1.0;
                    naive_sample(black_box(r), naive, u)
                })
            });
        }
        g.finish();
    }
}

criterion::criterion_group!(sampling, benches);
criterion::criterion_main!(sampling);
