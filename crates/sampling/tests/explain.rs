//! `Sampler::explain_report`: per-stage probabilities, cut reasons and summary figures,
//! checked against values computed here in f64.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_sampling::*;

fn softmax(xs: &[f64]) -> Vec<f64> {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = xs.iter().map(|x| (x - m).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

fn note_logits() -> Vec<f64> {
    NOTE_EXAMPLE_LOGITS.iter().map(|&x| f64::from(x)).collect()
}

#[test]
fn the_note_example_at_t_0_8_and_top_p_0_9() {
    let knobs = Knobs {
        temperature: Some(Temperature::new(0.8).unwrap()),
        top_p: Some(TopP::new(0.9).unwrap()),
        ..Knobs::default()
    };
    let report = Sampler::new(knobs, 0)
        .unwrap()
        .explain_report(&NOTE_EXAMPLE_LOGITS, 50)
        .unwrap();
    let raw = softmax(&note_logits());
    let hot: Vec<f64> = softmax(&note_logits().iter().map(|x| x / 0.8).collect::<Vec<_>>());
    assert_eq!(report.chain.len(), 2);
    assert_eq!(report.chain[0].stage, KnobKind::Temperature);
    assert_eq!(report.chain[1].setting, "p = 0.9");
    assert_eq!(report.rows.len(), 6);
    assert!(report.rest.is_none());
    // Kept rows first by final p: on (3), cat (1), The (0).
    let ids: Vec<u32> = report.rows.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![3, 1, 0, 5, 2, 4]);
    for row in &report.rows {
        let i = row.id as usize;
        assert!((row.p_raw - raw[i]).abs() < 1e-6);
        assert!((row.p_stages[0] - hot[i]).abs() < 1e-6, "after temperature");
    }
    // The nucleus: on + cat + The is the first prefix of the T = 0.8 distribution with
    // mass ≥ 0.9.
    let nucleus = hot[3] + hot[1] + hot[0];
    assert!(hot[3] + hot[1] < 0.9 && nucleus >= 0.9);
    for (row, want_kept) in report
        .rows
        .iter()
        .zip([true, true, true, false, false, false])
    {
        assert_eq!(row.kept, want_kept, "token {}", row.id);
        let i = row.id as usize;
        if want_kept {
            assert!((row.p - hot[i] / nucleus).abs() < 1e-6);
        } else {
            assert_eq!(row.p, 0.0);
            let cut = row.cut.as_ref().unwrap();
            assert_eq!(cut.stage, KnobKind::TopP);
            assert_eq!(cut.position, 1);
            assert!(cut.reason.starts_with("cum ") && cut.reason.ends_with("> 0.9"));
        }
    }
    // "." (id 5) is the first token past the nucleus: its cumulative mass at T = 0.8.
    let cum_dot = nucleus + hot[5];
    assert_eq!(
        report.rows[3].cut.as_ref().unwrap().reason,
        format!("cum {cum_dot:.2} > 0.9")
    );
    assert!((report.rows[2].cum.unwrap() - 1.0).abs() < 1e-9);
    let h = |p: &[f64]| {
        -p.iter()
            .filter(|&&q| q > 0.0)
            .map(|q| q * q.log2())
            .sum::<f64>()
    };
    assert!((report.entropy_bits_before - h(&raw)).abs() < 1e-6);
    let after: Vec<f64> = report.rows.iter().map(|r| r.p).collect();
    assert!((report.entropy_bits_after - h(&after)).abs() < 1e-6);
    assert!((report.perplexity_after - 2f64.powf(h(&after))).abs() < 1e-5);
    assert_eq!(report.nucleus_size, 3);
    assert!((report.kept_mass - (raw[3] + raw[1] + raw[0])).abs() < 1e-6);
    assert_eq!(report.top_token, 3);
}

#[test]
fn long_rows_are_summarised_and_every_cut_names_its_knob() {
    let logits: Vec<f32> = (0..1000).map(|i| -(i as f32) * 0.01).collect();
    let knobs = Knobs {
        top_k: Some(TopK::new(40)),
        min_p: Some(MinP::new(0.99).unwrap()),
        ..Knobs::default()
    };
    let report = Sampler::new(knobs, 0)
        .unwrap()
        .explain_report(&logits, 10)
        .unwrap();
    assert_eq!(report.rows.len(), 10);
    let rest = report.rest.unwrap();
    assert_eq!(rest.tokens, 990);
    assert_eq!(
        report.nucleus_size, 2,
        "p_i ≥ 0.99 · p_max keeps ids 0 and 1"
    );
    assert_eq!(rest.kept, 0);
    let listed: f64 = report.rows.iter().map(|r| r.p_raw).sum();
    assert!((listed + rest.p_raw - 1.0).abs() < 1e-6);
    // Rows 2.. are cut by min_p (ranks 3–10 survive top_k = 40).
    let cut = report.rows[2].cut.as_ref().unwrap();
    assert_eq!(cut.stage, KnobKind::MinP);
    assert!(cut.reason.starts_with("p "), "{}", cut.reason);

    let mut by_k = Sampler::new(
        Knobs {
            top_k: Some(TopK::new(3)),
            ..Knobs::default()
        },
        0,
    )
    .unwrap();
    let report = by_k.explain_report(&logits, 5).unwrap();
    assert_eq!(
        report.rows[3].cut.as_ref().unwrap().reason,
        "rank 4 > k = 3"
    );
}

#[test]
fn the_report_warns_when_the_orders_disagree_and_changes_no_state() {
    // T = 2 flattens before top_p in temperature-first, so it keeps more tokens.
    let knobs = Knobs {
        temperature: Some(Temperature::new(2.0).unwrap()),
        top_p: Some(TopP::new(0.6).unwrap()),
        ..Knobs::default()
    };
    let mut sampler = Sampler::new(knobs.clone(), 9).unwrap();
    let report = sampler.explain_report(&NOTE_EXAMPLE_LOGITS, 6).unwrap();
    let diff = report.order_difference.unwrap();
    assert!(diff.temperature_first.len() > diff.temperature_last.len());
    // No state changed: the next draw equals a fresh sampler's.
    let mut fresh = Sampler::new(knobs, 9).unwrap();
    for _ in 0..20 {
        assert_eq!(
            sampler.sample_token(&NOTE_EXAMPLE_LOGITS).unwrap(),
            fresh.sample_token(&NOTE_EXAMPLE_LOGITS).unwrap()
        );
    }
}
