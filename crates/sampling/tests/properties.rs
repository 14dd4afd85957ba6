//! Properties every chain must keep, on arbitrary rows: coarse logits (so ties are common),
//! `-inf` holes, and rows long enough to take the binned top-p path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_sampling::*;
use proptest::prelude::*;

/// A logit: `-inf` one time in five, else a multiple of 1/4 in [-20, 20].
fn logit() -> impl Strategy<Value = f32> {
    prop_oneof![
        1 => Just(f32::NEG_INFINITY),
        4 => (-80i32..=80).prop_map(|q| q as f32 * 0.25),
    ]
}

fn row() -> impl Strategy<Value = Vec<f32>> {
    prop_oneof![
        4 => prop::collection::vec(logit(), 1..200),
        1 => prop::collection::vec(logit(), 2000..5000),
    ]
}

/// Any truncation chain, in either standard order.
fn chain() -> impl Strategy<Value = (Knobs, Order)> {
    (
        prop::option::of(0.0f32..3.0),
        prop::option::of(0usize..50),
        prop::option::of(0.0f32..=1.0),
        prop::option::of(0.0f32..=1.0),
        prop::option::of(0.05f32..=1.0),
        prop::option::of(0.0f32..4.0),
        any::<bool>(),
    )
        .prop_map(|(t, k, p, mp, typ, sigma, last)| {
            let knobs = Knobs {
                temperature: t.map(|t| Temperature::new(t).unwrap()),
                top_k: k.map(TopK::new),
                top_p: p.map(|p| TopP::new(p).unwrap()),
                min_p: mp.map(|p| MinP::new(p).unwrap()),
                typical_p: typ.map(|p| TypicalP::new(p).unwrap()),
                top_n_sigma: sigma.map(|s| TopNSigma::new(s).unwrap()),
                ..Knobs::default()
            };
            let order = if last {
                Order::TemperatureLast
            } else {
                Order::TemperatureFirst
            };
            (knobs, order)
        })
}

fn finite_count(row: &[f32]) -> usize {
    row.iter().filter(|x| x.is_finite()).count()
}

/// The first index of the largest finite logit.
fn argmax(row: &[f32]) -> Option<u32> {
    let mut best: Option<(u32, f32)> = None;
    for (i, &x) in row.iter().enumerate() {
        if x.is_finite() && best.is_none_or(|(_, b)| x > b) {
            best = Some((i as u32, x));
        }
    }
    best.map(|(i, _)| i)
}

/// `softmax(row)` in f64, in (logit desc, id asc) order.
fn sorted_softmax(row: &[f32]) -> Vec<(u32, f64)> {
    let mut live: Vec<(u32, f64)> = row
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_finite())
        .map(|(i, &x)| (i as u32, f64::from(x)))
        .collect();
    live.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let m = live[0].1;
    let z: f64 = live.iter().map(|&(_, x)| (x - m).exp()).sum();
    live.iter().map(|&(i, x)| (i, (x - m).exp() / z)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn kept_set_is_non_empty_inside_the_support_and_sums_to_one(
        row in row(), (knobs, order) in chain(), seed in any::<u64>()
    ) {
        prop_assume!(finite_count(&row) > 0);
        let mut sampler = Sampler::with_order(knobs, order, seed).unwrap();
        let e = sampler.explain(&row).unwrap();
        prop_assert!(!e.tokens.is_empty());
        for t in &e.tokens {
            prop_assert!(row[t.id as usize].is_finite(), "kept token {} is -inf", t.id);
            prop_assert!(t.prob.is_finite() && t.prob >= 0.0);
        }
        let sum: f64 = e.tokens.iter().map(|t| t.prob).sum();
        prop_assert!((sum - 1.0).abs() <= 1e-6, "probabilities sum to {sum}");
        // A draw lands in the kept set it was drawn from.
        let draw = sampler.sample_token(&row).unwrap();
        prop_assert!(e.kept_ids().binary_search(&draw.id).is_ok());
    }

    #[test]
    fn top_k_keeps_min_of_k_and_the_finite_count(row in row(), k in 1usize..300) {
        prop_assume!(finite_count(&row) > 0);
        let knobs = Knobs { top_k: Some(TopK::new(k)), ..Knobs::default() };
        let e = Sampler::new(knobs, 0).unwrap().explain(&row).unwrap();
        prop_assert_eq!(e.tokens.len(), k.min(finite_count(&row)));
        // They are the best k by (logit desc, id asc).
        let mut want: Vec<u32> = sorted_softmax(&row).iter().take(k).map(|t| t.0).collect();
        want.sort_unstable();
        prop_assert_eq!(e.kept_ids(), want);
    }

    #[test]
    fn top_p_keeps_the_smallest_prefix_reaching_p(row in row(), p in 0.0f32..1.0) {
        prop_assume!(finite_count(&row) > 0);
        let knobs = Knobs { top_p: Some(TopP::new(p).unwrap()), ..Knobs::default() };
        let e = Sampler::new(knobs, 0).unwrap().explain(&row).unwrap();
        let reference = sorted_softmax(&row);
        let n = e.tokens.len();
        // The kept set is a prefix of the (logit desc, id asc) order ...
        let mut prefix: Vec<u32> = reference.iter().take(n).map(|t| t.0).collect();
        prefix.sort_unstable();
        prop_assert_eq!(e.kept_ids(), prefix);
        // ... whose mass reaches p, and which is minimal (f32 exp: allow 1e-5).
        let mass: f64 = reference.iter().take(n).map(|t| t.1).sum();
        prop_assert!(mass >= f64::from(p) - 1e-5, "kept mass {mass} < p = {p}");
        if n > 1 {
            let without_last = mass - reference[n - 1].1;
            prop_assert!(without_last < f64::from(p) + 1e-5, "not minimal: {without_last} ≥ {p}");
        }
    }

    #[test]
    fn top_k_one_temperature_zero_and_argmax_agree(row in row(), seed in any::<u64>()) {
        let want = argmax(&row);
        prop_assume!(want.is_some());
        let greedy_k = Knobs { top_k: Some(TopK::new(1)), ..Knobs::default() };
        let greedy_t = Knobs { temperature: Some(Temperature::new(0.0).unwrap()), ..Knobs::default() };
        let by_k = Sampler::new(greedy_k, seed).unwrap().sample_token(&row).unwrap().id;
        let by_t = Sampler::new(greedy_t, seed).unwrap().sample_token(&row).unwrap().id;
        prop_assert_eq!(Some(by_k), want);
        prop_assert_eq!(Some(by_t), want);
    }

    #[test]
    fn inputs_are_never_modified(
        row in row(), (mut knobs, order) in chain(), seed in any::<u64>(),
        history in prop::collection::vec(0u32..200, 0..30),
    ) {
        prop_assume!(finite_count(&row) > 0);
        let vocab = row.len() as u32;
        // Knobs that edit logits, on top of the truncations.
        knobs.penalties = Some(Penalties::new(1.3, 0.2, 0.1).unwrap());
        knobs.logit_bias = Some(LogitBias::new([(0, 1.5), (vocab - 1, -2.0)]).unwrap());
        knobs.dry = Some(Dry::new(0.8, 1.75, 2, None, []).unwrap());
        let before: Vec<u32> = row.iter().map(|x| x.to_bits()).collect();
        let mut sampler = Sampler::with_order(knobs, order, seed).unwrap();
        let prompt: Vec<u32> = history.into_iter().filter(|&t| t < vocab).collect();
        sampler.set_prompt(&prompt);
        let _ = sampler.explain(&row);
        let _ = sampler.sample(&row);
        let _ = sampler.sample_token(&row);
        let after: Vec<u32> = row.iter().map(|x| x.to_bits()).collect();
        prop_assert_eq!(before, after);
    }
}

proptest! {
    /// A rewind returns to the very state it left: the draws after a restore repeat the
    /// draws after the state was taken, stateful knobs included; a forbidden token is not
    /// drawn there again.
    #[test]
    fn restore_replays_the_draws_after_the_state(seed in any::<u64>(), rows in prop::collection::vec(prop::collection::vec(-8.0f32..8.0, 40), 1..6)) {
        let knobs = Knobs {
            temperature: Some(Temperature::new(1.3).unwrap()),
            penalties: Some(Penalties::new(1.1, 0.2, 0.1).unwrap()),
            mirostat_v2: Some(MirostatV2::new(3.0, 0.2).unwrap()),
            banned_strings: Some(BannedStrings::new(vec!["x".into()], false).unwrap()),
            ..Knobs::default()
        };
        let mut sampler = Sampler::new(knobs, seed).unwrap();
        sampler.set_prompt(&[1, 2, 3]);
        sampler.sample_token(&rows[0]).unwrap();
        let state = sampler.state();
        let first: Vec<_> = rows.iter().map(|r| sampler.sample(r).unwrap()).collect();
        sampler.restore(state.clone());
        prop_assert_eq!(sampler.history().generated().len(), 1);
        let again: Vec<_> = rows.iter().map(|r| sampler.sample(r).unwrap()).collect();
        prop_assert_eq!(&first, &again);
        sampler.restore(state);
        prop_assert!(sampler.forbid_here(first[0].token));
        let redrawn = sampler.sample(&rows[0]).unwrap();
        prop_assert_ne!(redrawn.token, first[0].token);
    }
}
