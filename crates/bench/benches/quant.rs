//! dial's quantized matmul (`dial-quant`) against candle's `QMatMul` on the default
//! model's shapes and formats, for 1, 8 and 32 activation rows, same weights, same run.
//! dial's time includes quantizing the activations.
//!
//! `cargo bench -p dial-bench --bench quant`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput};
use dial_quant::{QuantFormat, QuantMatrix};
use std::hint::black_box;
use std::time::Duration;

/// (tensor, format, k, n) as Gemma 3 270M's file has them.
const SHAPES: &[(&str, QuantFormat, GgmlDType, usize, usize)] = &[
    ("attn_q", QuantFormat::Q5_0, GgmlDType::Q5_0, 640, 1024),
    ("attn_k", QuantFormat::Q5_0, GgmlDType::Q5_0, 640, 256),
    ("ffn_up", QuantFormat::Q5_0, GgmlDType::Q5_0, 640, 2048),
    ("attn_output", QuantFormat::Q4K, GgmlDType::Q4K, 1024, 640),
    ("ffn_down", QuantFormat::Q6K, GgmlDType::Q6K, 2048, 640),
    ("ffn_down", QuantFormat::Q4K, GgmlDType::Q4K, 2048, 640),
    ("attn_v", QuantFormat::Q8_0, GgmlDType::Q8_0, 640, 256),
    (
        "token_embd",
        QuantFormat::Q8_0,
        GgmlDType::Q8_0,
        640,
        262_144,
    ),
];

/// A deterministic spread of values in [-scale, scale).
fn values(len: usize, scale: f32, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    for &(name, format, dtype, k, n) in SHAPES {
        let w = Tensor::from_vec(values(n * k, 0.05, 1), (n, k), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, dtype).unwrap();
        let dial = QuantMatrix::new(format, n, k, q.data().unwrap().into_owned()).unwrap();
        let candle = QMatMul::from_qtensor(q).unwrap();
        let mut group = c.benchmark_group(format!("quant/{name}_{}_{k}x{n}", format.name()));
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
        for rows in [1usize, 8, 32] {
            let x = values(rows * k, 1.0, 2);
            let xt = Tensor::from_vec(x.clone(), (rows, k), &Device::Cpu).unwrap();
            group.throughput(Throughput::Elements((rows * n * k) as u64));
            group.bench_with_input(BenchmarkId::new("dial", rows), &rows, |b, _| {
                b.iter(|| black_box(dial.matmul_f32(black_box(&x)).unwrap()))
            });
            group.bench_with_input(BenchmarkId::new("candle", rows), &rows, |b, _| {
                b.iter(|| black_box(candle.forward(black_box(&xt)).unwrap()))
            });
        }
        group.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
