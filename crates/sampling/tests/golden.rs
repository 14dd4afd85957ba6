//! Golden vectors: the hand-computed cases of llama.cpp's `tests/test-sampling.cpp` and HF's
//! `tests/generation/test_logits_process.py`, recomputed here from their definitions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dial_sampling::*;

fn logits_of(probs: &[f32]) -> Vec<f32> {
    probs.iter().map(|p| p.ln()).collect()
}

/// Processed probabilities indexed by token id (0 when cut).
fn processed(knobs: Knobs, logits: &[f32], history: &[u32]) -> Vec<f64> {
    let mut s = Sampler::new(knobs, 0).unwrap();
    s.set_prompt(history);
    let e = s.explain(logits).unwrap();
    (0..logits.len() as u32).map(|i| e.probability(i)).collect()
}

/// Kept probabilities, renormalised, sorted descending (llama.cpp's expected lists).
fn kept_desc(knobs: Knobs, probs: &[f32]) -> Vec<f64> {
    let mut p: Vec<f64> = processed(knobs, &logits_of(probs), &[])
        .into_iter()
        .filter(|&p| p > 0.0)
        .collect();
    p.sort_by(|a, b| b.total_cmp(a));
    p
}

fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "got {got:?}, want {want:?}");
    }
}

const P4: [f32; 4] = [0.1, 0.2, 0.3, 0.4];

#[test]
fn llama_cpp_temperature() {
    let k = |t| Knobs {
        temperature: Some(Temperature::new(t).unwrap()),
        ..Knobs::default()
    };
    close(&kept_desc(k(1.0), &P4), &[0.4, 0.3, 0.2, 0.1]);
    close(&kept_desc(k(0.0), &P4), &[1.0]);
    let dt = |t| Knobs {
        dynamic_temperature: Some(DynamicTemperature::new(t, 0.0, 1.0).unwrap()),
        ..Knobs::default()
    };
    close(&kept_desc(dt(1.0), &P4), &[0.4, 0.3, 0.2, 0.1]);
    close(&kept_desc(dt(0.0), &P4), &[1.0]);
}

#[test]
fn llama_cpp_top_k() {
    let k = |k| Knobs {
        top_k: Some(TopK::new(k)),
        ..Knobs::default()
    };
    close(&kept_desc(k(1), &P4), &[1.0]);
    close(&kept_desc(k(3), &P4), &[4.0 / 9.0, 3.0 / 9.0, 2.0 / 9.0]);
    close(&kept_desc(k(4), &P4), &[0.4, 0.3, 0.2, 0.1]);
    close(&kept_desc(k(0), &P4), &[0.4, 0.3, 0.2, 0.1]);
}

#[test]
fn llama_cpp_top_p_including_exact_boundaries() {
    let k = |p| Knobs {
        top_p: Some(TopP::new(p).unwrap()),
        ..Knobs::default()
    };
    close(&kept_desc(k(0.0), &P4), &[1.0]);
    // 0.4 + 0.3 = 0.7 exactly: the crossing token is kept and nothing more.
    close(&kept_desc(k(0.7), &P4), &[4.0 / 7.0, 3.0 / 7.0]);
    close(&kept_desc(k(0.8), &P4), &[4.0 / 9.0, 3.0 / 9.0, 2.0 / 9.0]);
    close(&kept_desc(k(1.0), &P4), &[0.4, 0.3, 0.2, 0.1]);
}

#[test]
fn llama_cpp_min_p() {
    let k = |p| Knobs {
        min_p: Some(MinP::new(p).unwrap()),
        ..Knobs::default()
    };
    let all = [0.4, 0.3, 0.2, 0.1];
    close(&kept_desc(k(0.0), &P4), &all);
    close(&kept_desc(k(0.24), &P4), &all);
    close(&kept_desc(k(0.26), &P4), &[0.4 / 0.9, 0.3 / 0.9, 0.2 / 0.9]);
    close(&kept_desc(k(0.49), &P4), &[0.4 / 0.9, 0.3 / 0.9, 0.2 / 0.9]);
    close(&kept_desc(k(0.51), &P4), &[0.4 / 0.7, 0.3 / 0.7]);
    close(&kept_desc(k(0.74), &P4), &[0.4 / 0.7, 0.3 / 0.7]);
    close(&kept_desc(k(0.76), &P4), &[1.0]);
    close(&kept_desc(k(1.00), &P4), &[1.0]);
    close(&kept_desc(k(1.05), &P4), &[1.0]);
}

#[test]
fn llama_cpp_xtc() {
    let k = |t| Knobs {
        xtc: Some(Xtc::new(0.99, t).unwrap()),
        ..Knobs::default()
    };
    let probs = [0.4f32, 0.3, 0.2, 0.1];
    // Seed 0's first uniform is below 0.99, so XTC triggers.
    assert!(DialRng::new(0).uniform() <= 0.99);
    close(&kept_desc(k(0.09), &probs), &[1.0]);
    close(&kept_desc(k(0.19), &probs), &[2.0 / 3.0, 1.0 / 3.0]);
    close(&kept_desc(k(0.29), &probs), &[0.5, 2.0 / 6.0, 1.0 / 6.0]);
    close(&kept_desc(k(0.39), &probs), &[0.4, 0.3, 0.2, 0.1]);
}

#[test]
fn llama_cpp_typical() {
    let k = |p| Knobs {
        typical_p: Some(TypicalP::new(p).unwrap()),
        ..Knobs::default()
    };
    close(&kept_desc(k(0.5), &[0.97, 0.01, 0.01, 0.01]), &[1.0]);
    close(
        &kept_desc(k(0.5), &[0.4, 0.2, 0.2, 0.2]),
        &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
    );
}

#[test]
fn llama_cpp_penalties() {
    let probs = [0.2f32; 5];
    let run = |rep, freq, pres, hist: &[u32]| {
        let penalties = Penalties::new(rep, freq, pres).unwrap().with_scopes(
            PenaltyScope::PromptAndGenerated,
            PenaltyScope::PromptAndGenerated,
        );
        processed(
            Knobs {
                penalties: Some(penalties),
                ..Knobs::default()
            },
            &logits_of(&probs),
            hist,
        )
    };
    close(&run(50.0, 0.0, 0.0, &[0]), &[0.0, 0.25, 0.25, 0.25, 0.25]);
    close(&run(50.0, 0.0, 0.0, &[0, 1, 2]), &[0.0, 0.0, 0.0, 0.5, 0.5]);
    close(
        &run(50.0, 0.0, 0.0, &[0, 1, 2, 0, 0]),
        &[0.0, 0.0, 0.0, 0.5, 0.5],
    );
    // Frequency and presence: logit - c·5 - 5.
    let e10 = (-10f64).exp();
    close(
        &run(1.0, 5.0, 5.0, &[0]),
        &[
            e10 / (4.0 + e10),
            1.0 / (4.0 + e10),
            1.0 / (4.0 + e10),
            1.0 / (4.0 + e10),
            1.0 / (4.0 + e10),
        ],
    );
    let z = 2.0 + 3.0 * e10;
    close(
        &run(1.0, 5.0, 5.0, &[0, 1, 2]),
        &[e10 / z, e10 / z, e10 / z, 1.0 / z, 1.0 / z],
    );
    let e20 = (-20f64).exp();
    let z = 2.0 + 2.0 * e10 + e20;
    close(
        &run(1.0, 5.0, 5.0, &[0, 1, 2, 0, 0]),
        &[e20 / z, e10 / z, e10 / z, 1.0 / z, 1.0 / z],
    );
}

#[test]
fn llama_cpp_dry() {
    let run = |probs: &[f32], hist: &[u32], mult, base, allowed, window, breakers: &[u32]| {
        let dry = Dry::new(mult, base, allowed, Some(window), breakers.iter().copied()).unwrap();
        processed(
            Knobs {
                dry: Some(dry),
                ..Knobs::default()
            },
            &logits_of(probs),
            hist,
        )
    };
    let q = [0.25f32; 4];
    close(&run(&q, &[0, 1], 1.0, 1.1, 2, 4, &[]), &[0.25; 4]);
    let e1 = (-1f64).exp();
    let z = 3.0 + e1;
    close(
        &run(&q, &[0, 1, 2, 0, 1], 1.0, 1.1, 2, 5, &[]),
        &[1.0 / z, 1.0 / z, e1 / z, 1.0 / z],
    );
    let f = [0.2f32; 5];
    close(
        &run(&f, &[0, 1, 3, 4, 0, 1], 1.0, 1.1, 2, 6, &[3]),
        &[0.2; 5],
    );
    let e2 = (-2f64).exp();
    let z = 4.0 + e2;
    close(
        &run(&f, &[0, 1, 2, 0, 1], 2.0, 1.1, 2, 5, &[]),
        &[1.0 / z, 1.0 / z, e2 / z, 1.0 / z, 1.0 / z],
    );
    close(
        &run(&f, &[0, 1, 2, 3, 4, 0, 1], 1.0, 1.1, 4, 7, &[]),
        &[0.2; 5],
    );
}

#[test]
fn llama_cpp_top_n_sigma() {
    let k = |n| Knobs {
        top_n_sigma: Some(TopNSigma::new(n).unwrap()),
        ..Knobs::default()
    };
    close(&kept_desc(k(1.0), &P4), &[4.0 / 7.0, 3.0 / 7.0]);
    close(&kept_desc(k(0.0), &P4), &[0.4, 0.3, 0.2, 0.1]);
    close(&kept_desc(k(3.0), &P4), &[0.4, 0.3, 0.2, 0.1]);
}

#[test]
fn llama_cpp_sampler_queue_on_log_ramp() {
    // logits ln(i) for i in 0..10000: p_i ∝ i.
    let n = 10_000u32;
    let logits: Vec<f32> = (0..n).map(|i| (i as f32).ln()).collect();
    let count = |knobs: Knobs| {
        Sampler::new(knobs, 0)
            .unwrap()
            .explain(&logits)
            .unwrap()
            .tokens
            .len()
    };
    assert_eq!(
        count(Knobs {
            top_k: Some(TopK::new(100)),
            ..Knobs::default()
        }),
        100
    );
    assert_eq!(
        count(Knobs {
            top_k: Some(TopK::new(1)),
            ..Knobs::default()
        }),
        1
    );
    // top_p 0.8: the smallest m with Σ_{i=n-m}^{n-1} i ≥ 0.8 · Σ i.
    let total: u64 = (0..n as u64).sum();
    let (mut cum, mut m) = (0u64, 0usize);
    for i in (0..n as u64).rev() {
        cum += i;
        m += 1;
        if cum as f64 >= 0.8 * total as f64 {
            break;
        }
    }
    assert_eq!(
        count(Knobs {
            top_p: Some(TopP::new(0.8).unwrap()),
            ..Knobs::default()
        }),
        m
    );
    // min_p 0.1: keep i ≥ 0.1 · 9999.
    let want = (0..n).filter(|&i| i as f64 >= 0.1 * 9999.0).count();
    assert_eq!(
        count(Knobs {
            min_p: Some(MinP::new(0.1).unwrap()),
            ..Knobs::default()
        }),
        want
    );
}

#[test]
fn hf_top_p_warper() {
    let k = |p| Knobs {
        top_p: Some(TopP::new(p).unwrap()),
        ..Knobs::default()
    };
    // Exact boundary: 0.5 + 0.3 = 0.8 keeps two tokens.
    let got = processed(k(0.8), &logits_of(&[0.3, 0.1, 0.1, 0.5]), &[]);
    close(&got, &[0.375, 0.0, 0.0, 0.625]);
    let got = processed(k(0.8), &logits_of(&[0.15, 0.3, 0.3, 0.25]), &[]);
    close(&got, &[0.0, 0.3 / 0.85, 0.3 / 0.85, 0.25 / 0.85]);
    // Ramp logits, min_tokens_to_keep = 2: the first row keeps 3, the second (×100) keeps 2.
    let ramp: Vec<f32> = (0..10).map(|i| i as f32 - 5.0).collect();
    let keep2 = Knobs {
        top_p: Some(TopP::with_min_keep(0.9, 2).unwrap()),
        ..Knobs::default()
    };
    let kept = |l: &[f32]| {
        Sampler::new(keep2.clone(), 0)
            .unwrap()
            .explain(l)
            .unwrap()
            .tokens
            .len()
    };
    assert_eq!(kept(&ramp), 3);
    let steep: Vec<f32> = ramp.iter().map(|x| x * 100.0).collect();
    assert_eq!(kept(&steep), 2);
}

#[test]
fn hf_top_k_and_temperature() {
    let ramp: Vec<f32> = (0..10).map(|i| i as f32).collect();
    let e = Sampler::new(
        Knobs {
            top_k: Some(TopK::new(3)),
            ..Knobs::default()
        },
        0,
    )
    .unwrap()
    .explain(&ramp)
    .unwrap();
    assert_eq!(e.kept_ids(), vec![7, 8, 9]);
    // HF test_temperature_dist_warper: sharper at 0.5, smoother at 1.3, same argmax.
    let row = [2.0f32, 1.0, 0.5, -1.0];
    let max_p = |t| {
        let e = Sampler::new(
            Knobs {
                temperature: Some(Temperature::new(t).unwrap()),
                ..Knobs::default()
            },
            0,
        )
        .unwrap()
        .explain(&row)
        .unwrap();
        (e.tokens[0].id, e.tokens[0].prob)
    };
    let (a, sharp) = max_p(0.5);
    let (b, smooth) = max_p(1.3);
    assert_eq!((a, b), (0, 0));
    assert!(sharp > max_p(1.0).1 && smooth < max_p(1.0).1);
}

#[test]
fn hf_repetition_penalty() {
    // HF: scores [[0.5, 0.5, 0.5]]-style row with ids 0 and 1 seen, penalty 2:
    // positive logits are divided, negative multiplied.
    let logits = [-0.5f32, 0.5, 1.0];
    let p = Penalties::new(2.0, 0.0, 0.0).unwrap();
    let mut s = Sampler::new(
        Knobs {
            penalties: Some(p),
            ..Knobs::default()
        },
        0,
    )
    .unwrap();
    s.set_prompt(&[0, 1]);
    let e = s.explain(&logits).unwrap();
    let got: Vec<f64> = (0..3)
        .map(|i| e.tokens.iter().find(|t| t.id == i).unwrap().logit)
        .collect();
    let want = [-1.0, 0.25, 1.0];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?}");
    }
}

#[test]
fn hf_min_p_and_typical() {
    // HF test_min_p_dist_warper: probs [0.9, 0.0274, 0.047, 0.0274], min_p 0.05 keeps 0 and 2.
    let probs = [0.9f32, 0.0274, 0.047, 0.0274];
    let e = Sampler::new(
        Knobs {
            min_p: Some(MinP::new(0.05).unwrap()),
            ..Knobs::default()
        },
        0,
    )
    .unwrap()
    .explain(&logits_of(&probs))
    .unwrap();
    assert_eq!(e.kept_ids(), vec![0, 2]);
    // HF test_typical_dist_warper: [0.97, 0.01, 0.01, 0.01] and [0.4, 0.2, 0.2, 0.2], mass 0.5.
    let typ = Knobs {
        typical_p: Some(TypicalP::new(0.5).unwrap()),
        ..Knobs::default()
    };
    let kept = |p: &[f32]| {
        Sampler::new(typ.clone(), 0)
            .unwrap()
            .explain(&logits_of(p))
            .unwrap()
            .kept_ids()
    };
    assert_eq!(kept(&[0.97, 0.01, 0.01, 0.01]), vec![0]);
    assert_eq!(kept(&[0.4, 0.2, 0.2, 0.2]), vec![1, 2, 3]);
}
