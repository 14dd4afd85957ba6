//! Times dial-quant's matmul on the default model's shapes, for 1, 8 and 32 rows, with
//! the weight bytes read per second (a quick look while tuning; `benches/quant.rs` has
//! the figures). `cargo run --release -p dial-bench --features candle --example matmul_times [ISA]`, ISA as `DIAL_ISA` names it.
#![allow(clippy::unwrap_used, missing_docs)]
use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};
use dial_bench::{GEMMA3_SHAPES, ggml_type, spread};
use dial_quant::{Isa, QuantMatrix};

use std::hint::black_box;

fn main() {
    let isa = std::env::args()
        .nth(1)
        .as_deref()
        .and_then(Isa::from_name)
        .unwrap_or_else(dial_quant::default_isa);
    let only = std::env::var("SHAPE").ok();
    for &(name, format, k, n) in GEMMA3_SHAPES {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let w = Tensor::from_vec(spread(n * k, 0.05, 1), (n, k), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, ggml_type(format)).unwrap();
        let bytes = q.data().unwrap().len();
        let m = QuantMatrix::new(format, n, k, q.data().unwrap().into_owned()).unwrap();
        for rows in [1usize, 8, 32] {
            let x = spread(rows * k, 1.0, 2);
            let a = m.quantize(&x).unwrap();
            let mut out = vec![0f32; rows * n];
            let reps = (200_000_000 / (n * k * rows)).clamp(3, 2000);
            for _ in 0..reps.min(20) {
                m.matmul_with(isa, &a, &mut out).unwrap();
            }
            let t = std::time::Instant::now();
            for _ in 0..reps {
                m.matmul_with(isa, black_box(&a), &mut out).unwrap();
            }
            let s = t.elapsed().as_secs_f64() / reps as f64;
            println!(
                "{name:>12} {:>5} {k:>5}x{n:<6} rows {rows:>2}: {:>9.1} µs  {:>6.1} GB/s  {:>6.1} GMAC/s",
                format.name(),
                s * 1e6,
                bytes as f64 / s / 1e9,
                (rows * n * k) as f64 / s / 1e9
            );
        }
    }
}
