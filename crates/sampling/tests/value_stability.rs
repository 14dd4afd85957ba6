//! Pinned outputs: a seed must mean the same tokens across platforms and versions.
//! Changing any of these values is a breaking change of dial's reproducibility promise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dial_sampling::*;

fn row(v: usize, seed: u64, sigma: f32) -> Vec<f32> {
    let mut rng = DialRng::new(seed);
    (0..v)
        .map(|_| ((rng.uniform() as f32) - 0.5) * 2.0 * sigma)
        .collect()
}

fn case(i: usize) -> (u64, Vec<f32>, Knobs, Order) {
    let t = |x| Some(Temperature::new(x).unwrap());
    let note = NOTE_EXAMPLE_LOGITS.to_vec();
    let k = Knobs::default;
    let (logits, knobs, order) = match i {
        0 => (note, k(), Order::TemperatureFirst),
        1 => (
            note,
            Knobs {
                temperature: t(0.8),
                top_p: Some(TopP::new(0.9).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        2 => (
            note,
            Knobs {
                temperature: t(1.5),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        3 => (
            note,
            Knobs {
                top_k: Some(TopK::new(3)),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        4 => (
            note,
            Knobs {
                min_p: Some(MinP::new(0.2).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        5 => (
            row(1000, 5, 4.0),
            Knobs {
                temperature: t(0.7),
                top_k: Some(TopK::new(40)),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        6 => (
            row(1000, 6, 4.0),
            Knobs {
                temperature: t(0.7),
                top_p: Some(TopP::new(0.95).unwrap()),
                ..k()
            },
            Order::TemperatureLast,
        ),
        7 => (
            row(50_000, 7, 6.0),
            Knobs {
                temperature: t(0.8),
                top_p: Some(TopP::new(0.9).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        8 => (
            row(50_000, 8, 3.0),
            Knobs {
                temperature: t(1.0),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        9 => (
            row(512, 9, 5.0),
            Knobs {
                typical_p: Some(TypicalP::new(0.7).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        10 => (
            row(512, 10, 5.0),
            Knobs {
                top_n_sigma: Some(TopNSigma::new(1.5).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        11 => (
            row(512, 11, 5.0),
            Knobs {
                xtc: Some(Xtc::new(0.5, 0.1).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        12 => (
            row(2000, 12, 5.0),
            Knobs {
                mirostat: Some(Mirostat::new(5.0, 0.1).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        13 => (
            row(2000, 13, 5.0),
            Knobs {
                mirostat_v2: Some(MirostatV2::new(5.0, 0.1).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        14 => (
            row(64, 14, 2.0),
            Knobs {
                penalties: Some(Penalties::new(1.3, 0.5, 0.5).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        15 => (
            row(64, 15, 2.0),
            Knobs {
                dry: Some(Dry::new(0.8, 1.75, 2, None, [0]).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        16 => (
            row(256, 16, 3.0),
            Knobs {
                dynamic_temperature: Some(DynamicTemperature::new(1.0, 0.5, 1.0).unwrap()),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        17 => (
            row(256, 17, 3.0),
            Knobs {
                logit_bias: Some(LogitBias::new([(3, 5.0), (7, -5.0)]).unwrap()),
                banned_tokens: Some(BannedTokens::new([1, 2])),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        18 => (
            row(256, 18, 3.0),
            Knobs {
                allowed_tokens: Some(AllowedTokens::new([5, 9, 11, 200])),
                temperature: t(2.0),
                ..k()
            },
            Order::TemperatureFirst,
        ),
        19 => (
            row(131_072, 19, 5.0),
            Knobs {
                temperature: t(0.9),
                min_p: Some(MinP::new(0.05).unwrap()),
                top_k: Some(TopK::new(100)),
                ..k()
            },
            Order::TemperatureLast,
        ),
        _ => unreachable!(),
    };
    (i as u64 * 1000 + 1, logits, knobs, order)
}

/// Eight tokens drawn in sequence (each accepted, so stateful knobs evolve).
pub fn sequence(i: usize, isa: Isa) -> Vec<u32> {
    let (seed, logits, knobs, order) = case(i);
    let mut s = Sampler::with_order(knobs, order, seed).unwrap();
    s.set_isa(isa);
    (0..8).map(|_| s.sample(&logits).unwrap().token).collect()
}

const PINNED: [[u32; 8]; 20] = include!("value_stability.pinned");

#[test]
fn value_stability() {
    for (i, want) in PINNED.iter().enumerate() {
        assert_eq!(&sequence(i, Isa::detect())[..], &want[..], "case {i}");
    }
}

#[test]
fn every_isa_draws_the_same_tokens() {
    for i in 0..PINNED.len() {
        let scalar = sequence(i, Isa::Scalar);
        for isa in [Isa::Avx2, Isa::Avx512] {
            if isa.is_supported() {
                assert_eq!(sequence(i, isa), scalar, "case {i} on {isa:?}");
            }
        }
    }
}

#[test]
fn lean_and_full_paths_draw_the_same_tokens() {
    for i in 0..PINNED.len() {
        let (seed, logits, knobs, order) = case(i);
        let mut a = Sampler::with_order(knobs.clone(), order.clone(), seed).unwrap();
        let mut b = Sampler::with_order(knobs, order, seed).unwrap();
        for _ in 0..8 {
            assert_eq!(
                a.sample(&logits).unwrap().token,
                b.sample_token(&logits).unwrap().id,
                "case {i}"
            );
        }
    }
}

#[test]
fn batch_rows_are_independent_of_size_position_and_threads() {
    let rows: Vec<Vec<f32>> = (0..24).map(|i| row(3000, 100 + i, 4.0)).collect();
    let knobs = Knobs {
        temperature: Some(Temperature::new(0.9).unwrap()),
        top_p: Some(TopP::new(0.9).unwrap()),
        ..Knobs::default()
    };
    let batch: Vec<BatchRow<'_>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| BatchRow {
            logits: r,
            seed: 7 + i as u64,
            prompt: &[],
        })
        .collect();
    let tokens = |rows: &[BatchRow<'_>], threads| -> Vec<u32> {
        sample_batch(&knobs, &Order::TemperatureFirst, rows, threads)
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap().token)
            .collect()
    };
    let one = tokens(&batch, 1);
    assert_eq!(tokens(&batch, 2), one);
    assert_eq!(tokens(&batch, 7), one);
    // Alone, each row draws what it drew in the batch.
    for (i, r) in batch.iter().enumerate() {
        assert_eq!(tokens(std::slice::from_ref(r), 1), vec![one[i]]);
    }
    // Reversed order: same tokens per row.
    let reversed: Vec<BatchRow<'_>> = batch.iter().rev().copied().collect();
    let mut back = tokens(&reversed, 2);
    back.reverse();
    assert_eq!(back, one);
}
