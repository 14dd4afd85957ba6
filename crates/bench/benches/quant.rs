//! dial's quantized matmul (`dial-quant`) against candle's `QMatMul` on the default
//! model's shapes and formats, for 1, 8 and 32 activation rows, same weights, same run.
//! dial's time includes quantizing the activations.
//!
//! `cargo bench -p dial-bench --features candle --bench quant`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput};
use dial_bench::{GEMMA3_SHAPES, ggml_type, spread};
use dial_quant::QuantMatrix;
use std::hint::black_box;
use std::time::Duration;

fn benches(c: &mut Criterion) {
    for &(name, format, k, n) in GEMMA3_SHAPES {
        let w = Tensor::from_vec(spread(n * k, 0.05, 1), (n, k), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, ggml_type(format)).unwrap();
        let dial = QuantMatrix::new(format, n, k, q.data().unwrap().into_owned()).unwrap();
        let candle = QMatMul::from_qtensor(q).unwrap();
        let mut group = c.benchmark_group(format!("quant/{name}_{}_{k}x{n}", format.name()));
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
        for rows in [1usize, 8, 32] {
            let x = spread(rows * k, 1.0, 2);
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
