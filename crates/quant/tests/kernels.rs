//! dial's quantized kernels: decoding against ggml's own dequantization (recorded by
//! `scripts/ggml-dequantized`), the matmul against the dequantized f32 matmul, and the
//! same bits across batch shapes, thread counts and ISA paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_quant::{
    HalfFormat, HalfMatrix, Isa, QuantError, QuantFormat, QuantMatrix, QuantizedActivations,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Uniform in [-scale, scale), with a few larger values, as real weights have.
fn values(rng: &mut ChaCha8Rng, len: usize, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let u = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
            let v = (2.0 * u - 1.0) * scale;
            if i % 97 == 0 { 4.0 * v } else { v }
        })
        .collect()
}

/// An `n × k` matrix of `format` made of random bytes, each block with its own finite
/// f16 scales, and its dequantized values.
fn matrix(format: QuantFormat, n: usize, k: usize, seed: u64) -> (QuantMatrix, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let blocks = n * k / format.block_values();
    let mut bytes = vec![0u8; blocks * format.block_bytes()];
    rng.fill_bytes(&mut bytes);
    for block in bytes.chunks_exact_mut(format.block_bytes()) {
        let u = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
        set_block_scales(format, block, 0.0005 + 0.005 * u);
    }
    let m = QuantMatrix::new(format, n, k, bytes).unwrap();
    let dequantized = (0..n).flat_map(|i| m.dequantize_row(i)).collect();
    (m, dequantized)
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn dequantization_matches_ggml_bit_for_bit() {
    let recorded = include_str!("data/ggml-dequantized.txt");
    let mut checked = Vec::new();
    for line in recorded.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.split(' ');
        let (name, blocks, values) = (
            parts.next().unwrap(),
            unhex(parts.next().unwrap()),
            unhex(parts.next().unwrap()),
        );
        let format = QuantFormat::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .unwrap();
        let k = blocks.len() / format.block_bytes() * format.block_values();
        let m = QuantMatrix::new(format, 1, k, blocks).unwrap();
        let expected: Vec<u32> = values
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let got: Vec<u32> = m.dequantize_row(0).iter().map(|v| v.to_bits()).collect();
        assert_eq!(got.len(), expected.len(), "{name}");
        for (j, (a, b)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(
                a,
                b,
                "{name} value {j}: {} vs ggml's {}",
                f32::from_bits(*a),
                f32::from_bits(*b)
            );
        }
        checked.push(name);
    }
    let every: Vec<&str> = QuantFormat::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(checked, every, "every format is recorded");
}

#[test]
fn matmul_is_within_the_activation_rounding_bound_of_f32() {
    for format in QuantFormat::ALL {
        let (n, k, rows) = (24, 1024, 5);
        let (m, w) = matrix(format, n, k, 2);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x = values(&mut rng, rows * k, 1.0);
        let y = m.matmul_f32(&x).unwrap();
        for r in 0..rows {
            let xr = &x[r * k..(r + 1) * k];
            for i in 0..n {
                let wr = &w[i * k..(i + 1) * k];
                let exact: f64 = wr
                    .iter()
                    .zip(xr)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                // Rounding each activation to its block's grid moves it by at most d / 2,
                // d = max|x_block| / 127; f32 sums add a little more.
                let block = format.activation_block();
                let bound: f64 = xr
                    .chunks(block)
                    .zip(wr.chunks(block))
                    .map(|(xb, wb)| {
                        let d = xb.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
                        wb.iter().map(|v| f64::from(v.abs())).sum::<f64>() * f64::from(d) / 2.0
                    })
                    .sum::<f64>()
                    * 1.001
                    + 1e-4;
                let got = f64::from(y[r * n + i]);
                assert!(
                    (got - exact).abs() <= bound,
                    "{} row {r} out {i}: {got} vs {exact} (bound {bound})",
                    format.name()
                );
            }
        }
    }
}

#[test]
fn an_output_is_the_same_bits_in_any_batch_at_any_position_with_any_threads() {
    for format in QuantFormat::ALL {
        let (n, k) = (40, 512);
        let (m, _) = matrix(format, n, k, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let pool = values(&mut rng, 32 * k, 1.0);
        let alone: Vec<Vec<f32>> = (0..32)
            .map(|r| m.matmul_f32(&pool[r * k..(r + 1) * k]).unwrap())
            .collect();
        for rows in [1, 2, 7, 32] {
            // Rows taken from the end of the pool, so each sits elsewhere than alone.
            let start = 32 - rows;
            for threads in [1, 2] {
                let out = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| m.matmul_f32(&pool[start * k..32 * k]).unwrap());
                for r in 0..rows {
                    let a: Vec<u32> = out[r * n..(r + 1) * n]
                        .iter()
                        .map(|v| v.to_bits())
                        .collect();
                    let b: Vec<u32> = alone[start + r].iter().map(|v| v.to_bits()).collect();
                    assert_eq!(
                        a,
                        b,
                        "{} rows {rows} threads {threads} row {r}",
                        format.name()
                    );
                }
            }
        }
    }
}

#[test]
fn every_isa_gives_the_reference_bits_for_any_rows_and_threads() {
    let isas = Isa::available();
    eprintln!("ISAs on this CPU: {isas:?}");
    // k = 1280: 5 Q4_K/Q6_K super-blocks; k = 224 and 96: 7 and 3 blocks, an odd one at
    // the end; n = 37 leaves a ragged panel (and tile), n = 5 a matrix of one.
    let shapes = QuantFormat::ALL
        .into_iter()
        .flat_map(|f| [(f, 1280, 37), (f, 256, 5)])
        .chain(
            [QuantFormat::Q4_0, QuantFormat::Q5_0, QuantFormat::Q8_0]
                .into_iter()
                .flat_map(|f| [(f, 224, 37), (f, 96, 37)]),
        );
    for (format, k, n) in shapes {
        let (m, _) = matrix(format, n, k, 9);
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        for rows in [1, 2, 3, 4, 5, 7, 8, 9, 32] {
            let x = m.quantize(&values(&mut rng, rows * k, 1.0)).unwrap();
            let mut reference = vec![0f32; rows * n];
            m.matmul_reference(&x, &mut reference).unwrap();
            for &isa in &isas {
                for threads in [1, 2] {
                    let mut out = vec![0f32; rows * n];
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap()
                        .install(|| m.matmul_with(isa, &x, &mut out))
                        .unwrap();
                    let same = out
                        .iter()
                        .zip(&reference)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{} k = {k} n = {n} on {isa:?}, {rows} rows, {threads} threads",
                        format.name()
                    );
                }
            }
        }
    }
}

#[test]
fn extreme_weights_and_activations_stay_exact() {
    // Every weight at its format's extreme (all bytes 0x00 or 0xFF: Q8_0's −128 or −1,
    // the nibble formats' 0 or 15, Q6_K's −32 or 31, the largest scales and mins) and
    // activations at ±127: the 16-bit partial sums of the x86 kernels must not saturate.
    for format in QuantFormat::ALL {
        for fill in [0x00u8, 0xFF, 0x80, 0x7F] {
            let (n, k) = (9, 512);
            let blocks = n * k / format.block_values();
            let mut bytes = vec![fill; blocks * format.block_bytes()];
            set_scales(format, &mut bytes, 0.5);
            let m = QuantMatrix::new(format, n, k, bytes).unwrap();
            for sign in [1.0f32, -1.0] {
                let x: Vec<f32> = (0..2 * k)
                    .map(|i| if i % 3 == 0 { -sign } else { sign })
                    .collect();
                let x = m.quantize(&x).unwrap();
                let mut reference = vec![0f32; 2 * n];
                m.matmul_reference(&x, &mut reference).unwrap();
                for isa in Isa::available() {
                    let mut out = vec![0f32; 2 * n];
                    m.matmul_with(isa, &x, &mut out).unwrap();
                    assert_eq!(
                        out,
                        reference,
                        "{} fill {fill:#x} on {isa:?}",
                        format.name()
                    );
                }
            }
        }
    }
}

#[test]
fn activation_quantization_is_per_block_and_exact_at_the_grid() {
    let mut x = vec![0f32; 64];
    x[0] = 1.27;
    x[1] = -0.635;
    x[40] = 2.0;
    let q = QuantizedActivations::new(&x, 64).unwrap();
    // A 32-value block keeps its scale in f16, as ggml's Q8_0 does.
    assert_eq!(q.scales(0)[0], half::f16::from_f32(1.27 / 127.0).to_f32());
    assert_ne!(q.scales(0)[0], 1.27 / 127.0);
    let k_block = QuantizedActivations::with_block(&[1.27; 256], 256, 256).unwrap();
    assert_eq!(k_block.scales(0)[0], 1.27 / 127.0);
    assert_eq!(&q.quants(0)[..2], &[127, -64]);
    assert_eq!(q.quants(0)[40], 127);
    // An all-zero block has scale 0 and zero quants, not NaN.
    let zero = QuantizedActivations::new(&[0.0; 32], 32).unwrap();
    assert_eq!(zero.scales(0), &[0.0]);
}

#[test]
fn bad_shapes_and_values_are_typed_errors() {
    let (m, _) = matrix(QuantFormat::Q8_0, 4, 64, 6);
    assert!(matches!(
        m.matmul_f32(&[0.0; 32]),
        Err(QuantError::Shape {
            expected: 64,
            got: 32
        })
    ));
    let mut x = vec![0.5f32; 64];
    x[33] = f32::NAN;
    assert!(matches!(
        m.matmul_f32(&x),
        Err(QuantError::NonFinite {
            row: 0,
            col: 33,
            ..
        })
    ));
    x[33] = f32::INFINITY;
    assert!(matches!(
        m.matmul_f32(&x),
        Err(QuantError::NonFinite { .. })
    ));
    assert!(matches!(
        QuantMatrix::new(QuantFormat::Q4K, 1, 128, vec![0; 72]),
        Err(QuantError::RaggedRow { block: 256, .. })
    ));
    assert!(matches!(
        QuantMatrix::new(QuantFormat::Q4_0, 2, 64, vec![0; 10]),
        Err(QuantError::WrongSize {
            expected: 72,
            got: 10,
            ..
        })
    ));
    let k_quant = raw_matrix(QuantFormat::Q4K, 2, 256, 1);
    let per_32 = QuantizedActivations::new(&[0.0; 256], 256).unwrap();
    let mut two = vec![0f32; 2];
    assert!(matches!(
        k_quant.matmul(&per_32, &mut two),
        Err(QuantError::ActivationBlock {
            expected: 256,
            got: 32
        })
    ));
    assert!(matches!(
        QuantizedActivations::with_block(&[0.0; 64], 64, 64),
        Err(QuantError::ActivationBlock { got: 64, .. })
    ));
    let q = QuantizedActivations::new(&[0.0; 64], 64).unwrap();
    let mut out = vec![0f32; 3];
    assert!(matches!(
        m.matmul(&q, &mut out),
        Err(QuantError::Output {
            expected: 4,
            got: 3
        })
    ));
    // No rows in: no rows out, on every ISA (a batch where no sequence wants logits).
    let empty = QuantizedActivations::new(&[], 64).unwrap();
    for isa in dial_quant::Isa::available() {
        let mut none: Vec<f32> = Vec::new();
        m.matmul_with(isa, &empty, &mut none).unwrap();
    }
    assert_eq!(QuantFormat::from_ggml(12), Some(QuantFormat::Q4K));
    assert_eq!(QuantFormat::from_ggml(1), None);
}

/// Weights made of random bytes with fixed, finite f16 scales, so the test needs no
/// quantizer whose output could change between versions.
fn raw_matrix(format: QuantFormat, n: usize, k: usize, seed: u64) -> QuantMatrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let blocks = n * k / format.block_values();
    let mut bytes = vec![0u8; blocks * format.block_bytes()];
    rng.fill_bytes(&mut bytes);
    set_scales(format, &mut bytes, 0.01);
    QuantMatrix::new(format, n, k, bytes).unwrap()
}

/// Sets every block's f16 scales (Q4_K's `d` and `dmin`, Q4_1's and Q5_1's minimum) to
/// `scale`, finite.
fn set_scales(format: QuantFormat, bytes: &mut [u8], scale: f32) {
    for block in bytes.chunks_exact_mut(format.block_bytes()) {
        set_block_scales(format, block, scale);
    }
}

/// Sets one block's f16 scales to `scale`.
fn set_block_scales(format: QuantFormat, block: &mut [u8], scale: f32) {
    let scale = half::f16::from_f32(scale).to_le_bytes();
    {
        match format {
            QuantFormat::Q6K => block[208..210].copy_from_slice(&scale),
            QuantFormat::Q3K => block[108..110].copy_from_slice(&scale),
            QuantFormat::Q2K => {
                block[80..82].copy_from_slice(&scale);
                block[82..84].copy_from_slice(&scale);
            }
            QuantFormat::Q4K | QuantFormat::Q5K | QuantFormat::Q4_1 | QuantFormat::Q5_1 => {
                block[0..2].copy_from_slice(&scale);
                block[2..4].copy_from_slice(&scale);
            }
            _ => block[0..2].copy_from_slice(&scale),
        }
    }
}

#[test]
fn value_stability_outputs_are_pinned_bit_for_bit() {
    // FNV-1a over the output bits of a 16 × 512 matmul with 3 rows; any change to the
    // activation quantization, a format's decoding or the reduction order moves these.
    let pinned = [
        (QuantFormat::Q4_0, PIN_Q4_0),
        (QuantFormat::Q4_1, PIN_Q4_1),
        (QuantFormat::Q5_0, PIN_Q5_0),
        (QuantFormat::Q5_1, PIN_Q5_1),
        (QuantFormat::Q8_0, PIN_Q8_0),
        (QuantFormat::IQ4NL, PIN_IQ4NL),
        (QuantFormat::IQ4XS, PIN_IQ4XS),
        (QuantFormat::Q2K, PIN_Q2K),
        (QuantFormat::Q3K, PIN_Q3K),
        (QuantFormat::Q4K, PIN_Q4K),
        (QuantFormat::Q5K, PIN_Q5K),
        (QuantFormat::Q6K, PIN_Q6K),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x = values(&mut rng, 3 * 512, 1.0);
    let got: Vec<(&str, u64)> = pinned
        .iter()
        .map(|(format, _)| {
            let y = raw_matrix(*format, 16, 512, 8).matmul_f32(&x).unwrap();
            assert!(
                y.iter().all(|v| v.is_finite() && *v != 0.0),
                "{}",
                format.name()
            );
            let hash = y.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
                (h ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3)
            });
            (format.name(), hash)
        })
        .collect();
    let expected: Vec<(&str, u64)> = pinned.iter().map(|(f, h)| (f.name(), *h)).collect();
    assert_eq!(got, expected);
}
const PIN_Q4_0: u64 = 0x0c21dcb05bc5a082;
const PIN_Q5_0: u64 = 0x2a1e9349dccb72d8;
const PIN_Q4_1: u64 = 0x82b7105cf0399370;
const PIN_Q5_1: u64 = 0x0f88c3323ed32c76;
const PIN_Q8_0: u64 = 0x8907339b4b9fb718;
const PIN_IQ4NL: u64 = 0x60ee3a87aa0819bb;
const PIN_IQ4XS: u64 = 0x946b336948e8f14d;
const PIN_Q2K: u64 = 0x16ca573e9e2f23fc;
const PIN_Q3K: u64 = 0x92a29c6b6e851264;
const PIN_Q4K: u64 = 0xbb79c33cb545ab4e;
const PIN_Q5K: u64 = 0x762c731a8bbe289e;
const PIN_Q6K: u64 = 0x0735b39078f10bcb;

/// F16 and BF16: `n × k` weights drawn like activations, kept in 16 bits.
fn half_matrix(format: HalfFormat, n: usize, k: usize, seed: u64) -> (HalfMatrix, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = values(&mut rng, n * k, 0.5);
    let bits: Vec<u8> = w
        .iter()
        .flat_map(|&v| match format {
            HalfFormat::F16 => half::f16::from_f32(v).to_le_bytes(),
            HalfFormat::Bf16 => half::bf16::from_f32(v).to_le_bytes(),
        })
        .collect();
    let widened = bits
        .chunks_exact(2)
        .map(|b| {
            let b = u16::from_le_bytes([b[0], b[1]]);
            match format {
                HalfFormat::F16 => half::f16::from_bits(b).to_f32(),
                HalfFormat::Bf16 => half::bf16::from_bits(b).to_f32(),
            }
        })
        .collect();
    (HalfMatrix::new(format, n, k, bits).unwrap(), widened)
}

#[test]
fn half_precision_weights_give_the_definition_s_bits_on_every_isa_batch_and_thread_count() {
    // k = 67: whole groups of 8 and a tail.
    let (n, k) = (13, 67);
    for format in [HalfFormat::F16, HalfFormat::Bf16] {
        let (m, w) = half_matrix(format, n, k, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let x = values(&mut rng, 5 * k, 2.0);
        // The definition (half_matrix.rs), written out: activations rounded to the format,
        // 8 lanes in order, a fixed tree.
        let round = |v: f32| match format {
            HalfFormat::F16 => half::f16::from_f32(v).to_f32(),
            HalfFormat::Bf16 => half::bf16::from_f32(v).to_f32(),
        };
        let mut want = vec![0f32; 5 * n];
        for r in 0..5 {
            for j in 0..n {
                let mut a = [0f32; 8];
                for i in 0..k {
                    a[i % 8] += w[j * k + i] * round(x[r * k + i]);
                }
                want[r * n + j] = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
                let exact: f64 = (0..k)
                    .map(|i| f64::from(w[j * k + i]) * f64::from(x[r * k + i]))
                    .sum();
                let scale: f64 = (0..k)
                    .map(|i| (f64::from(w[j * k + i]) * f64::from(x[r * k + i])).abs())
                    .sum();
                let bound = if format == HalfFormat::F16 {
                    2e-3
                } else {
                    1e-2
                };
                assert!((f64::from(want[r * n + j]) - exact).abs() <= bound * scale);
            }
        }
        for isa in Isa::available() {
            for threads in [1, 2] {
                let got = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| m.matmul_f32_on(isa, &x).unwrap());
                assert_eq!(got, want, "{} on {isa:?}, {threads} threads", format.name());
                // Any one row alone gives its row of the batch.
                let alone = m.matmul_f32_on(isa, &x[3 * k..4 * k]).unwrap();
                assert_eq!(alone, want[3 * n..4 * n]);
            }
        }
        assert_eq!(m.row(2), w[2 * k..3 * k]);
    }
}
