//! Times dial-quant's matmul on the default model's shapes, for 1, 8 and 32 rows, with
//! the weight bytes read per second (a quick look while tuning; `benches/quant.rs` has
//! the figures). `cargo run --release -p dial-bench --example matmul_times [ISA]`.
#![allow(clippy::unwrap_used, missing_docs)]
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use dial_quant::{Isa, QuantFormat, QuantMatrix, QuantizedActivations};
use std::hint::black_box;

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

fn main() {
    let isa = match std::env::args().nth(1).as_deref() {
        Some("scalar") => Isa::Scalar,
        Some("avx2") => Isa::Avx2,
        _ => dial_quant::default_isa(),
    };
    let shapes = [
        ("ffn_up", QuantFormat::Q5_0, GgmlDType::Q5_0, 640, 2048),
        ("attn_q", QuantFormat::Q5_0, GgmlDType::Q5_0, 640, 1024),
        ("attn_output", QuantFormat::Q4K, GgmlDType::Q4K, 1024, 640),
        ("ffn_down", QuantFormat::Q6K, GgmlDType::Q6K, 2048, 640),
        ("ffn_down4", QuantFormat::Q4K, GgmlDType::Q4K, 2048, 640),
        ("attn_v", QuantFormat::Q8_0, GgmlDType::Q8_0, 640, 256),
        (
            "token_embd",
            QuantFormat::Q8_0,
            GgmlDType::Q8_0,
            640,
            262_144,
        ),
    ];
    let only = std::env::var("SHAPE").ok();
    for (name, format, dtype, k, n) in shapes {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let w = Tensor::from_vec(values(n * k, 0.05, 1), (n, k), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, dtype).unwrap();
        let bytes = q.data().unwrap().len();
        let m = QuantMatrix::new(format, n, k, q.data().unwrap().into_owned()).unwrap();
        for rows in [1usize, 8, 32] {
            let x = values(rows * k, 1.0, 2);
            let a = QuantizedActivations::new(&x, k).unwrap();
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
