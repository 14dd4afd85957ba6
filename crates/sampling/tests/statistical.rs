//! Statistical correctness: draws through the public per-call path against an independent
//! f64 reference of the same chain, with a G-test per cell, an exact check that nothing is
//! drawn outside the kept set, and a mutation table showing the same test rejects broken
//! samplers. Release only (`cargo test --release -p dial-sampling --test statistical`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_sampling::mutants::{self, Mutant};
use dial_sampling::*;

mod common;

/// A cell fails when its p-value is below this (about 1e-4 family-wise over ~110 cells).
const ALPHA: f64 = 1e-6;

#[derive(Debug, Clone, Copy)]
enum Family {
    Uniform,
    Zipf,
    Normal1,
    Normal5,
    Gumbel,
}

const FAMILIES: [Family; 5] = [
    Family::Uniform,
    Family::Zipf,
    Family::Normal1,
    Family::Normal5,
    Family::Gumbel,
];

fn standard_normal(rng: &mut DialRng) -> f64 {
    let u1 = 1.0 - rng.uniform();
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn logits(family: Family, v: usize, masked: f64, seed: u64) -> Vec<f32> {
    let mut rng = DialRng::new(seed);
    let mut row: Vec<f32> = (0..v)
        .map(|i| match family {
            Family::Uniform => 0.0,
            Family::Zipf => -1.1 * ((i + 1) as f64).ln() as f32,
            Family::Normal1 => standard_normal(&mut rng) as f32,
            Family::Normal5 => 5.0 * standard_normal(&mut rng) as f32,
            Family::Gumbel => (-(-(1.0 - rng.uniform()).ln()).ln()) as f32 * 1.5,
        })
        .collect();
    // Mask a fixed fraction, never the whole row, spread over ids.
    let n_mask = ((v as f64) * masked) as usize;
    let mut order: Vec<usize> = (0..v).collect();
    for i in (1..v).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    for &i in order.iter().take(n_mask.min(v - 1)) {
        row[i] = f32::NEG_INFINITY;
    }
    row
}

#[derive(Debug, Clone, Copy, Default)]
struct Setting {
    t: Option<f64>,
    top_k: Option<usize>,
    top_p: Option<f64>,
    min_p: Option<f64>,
    last: bool,
    extra: Option<Extra>,
}

/// One of the newer stages, after temperature (and top_k) in `temperature-first`.
#[derive(Debug, Clone, Copy)]
enum Extra {
    Epsilon(f64),
    Eta(f64),
    TopA(f64),
    Tfs(f64),
    TopH(f64),
    PLess,
    PLessNorm,
    Smoothing(f64, f64),
    AdaptiveP(f64),
}

impl Extra {
    fn set(self, k: &mut Knobs) {
        match self {
            Extra::Epsilon(e) => k.epsilon_cutoff = Some(EpsilonCutoff::new(e).unwrap()),
            Extra::Eta(e) => k.eta_cutoff = Some(EtaCutoff::new(e).unwrap()),
            Extra::TopA(a) => k.top_a = Some(TopA::new(a).unwrap()),
            Extra::Tfs(z) => k.tfs = Some(TailFree::new(z).unwrap()),
            Extra::TopH(h) => k.top_h = Some(TopH::new(h).unwrap()),
            Extra::PLess => k.p_less = Some(PLess::new()),
            Extra::PLessNorm => k.p_less_norm = Some(PLessNorm::new()),
            Extra::Smoothing(f, c) => k.smoothing = Some(Smoothing::new(f, c).unwrap()),
            Extra::AdaptiveP(t) => k.adaptive_p = Some(AdaptiveP::new(t, 0.9).unwrap()),
        }
    }

    /// Whether the stage keeps state across draws (each draw then starts afresh).
    fn stateful(self) -> bool {
        matches!(self, Extra::AdaptiveP(_))
    }
}

/// The f64 reference of a chain with one newer stage: temperature, smoothing, top_k, the
/// truncation, adaptive-p.
fn reference_extra(row: &[f32], s: &Setting, extra: Extra) -> Vec<f64> {
    let t = s.t.unwrap_or(1.0);
    let mut x: Vec<f64> = row.iter().map(|&v| f64::from(v) / t).collect();
    if let Extra::Smoothing(f, c) = extra {
        x = common::bend(&x, f, c).into_iter().map(f64::from).collect();
    }
    if let Some(k) = s.top_k.filter(|&k| k > 0) {
        let as_f32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let order = common::ranked(&common::softmax(&as_f32, 1.0));
        for &i in order.iter().skip(k) {
            x[i] = f64::NEG_INFINITY;
        }
    }
    let as_f32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let p = common::softmax(&as_f32, 1.0);
    let decision = match extra {
        Extra::Epsilon(e) => Some(common::epsilon(&p, e, 1)),
        Extra::Eta(e) => Some(common::eta(&p, e, 1)),
        Extra::TopA(a) => Some(common::top_a(&p, a, 1)),
        Extra::Tfs(z) => Some(common::tfs(&p, z, 1)),
        Extra::TopH(h) => Some(common::top_h(&p, h, 1)),
        Extra::PLess => Some(common::p_less(&p, 1)),
        Extra::PLessNorm => Some(common::p_less_norm(&p, 1)),
        Extra::Smoothing(..) => None,
        Extra::AdaptiveP(target) => {
            return common::softmax(&common::adaptive_logits(&p, target), 1.0);
        }
    };
    let Some(d) = decision else { return p };
    let kept: Vec<f32> = as_f32
        .iter()
        .zip(&d.kept)
        .map(|(&v, &k)| if k { v } else { f32::NEG_INFINITY })
        .collect();
    common::softmax(&kept, 1.0)
}

fn knobs(s: &Setting) -> (Knobs, Order) {
    let k = Knobs {
        temperature: s.t.map(|t| Temperature::new(t as f32).unwrap()),
        top_k: s.top_k.map(TopK::new),
        top_p: s.top_p.map(|p| TopP::new(p as f32).unwrap()),
        min_p: s.min_p.map(|p| MinP::new(p as f32).unwrap()),
        ..Knobs::default()
    };
    let mut k = k;
    if let Some(extra) = s.extra {
        extra.set(&mut k);
    }
    (
        k,
        if s.last {
            Order::TemperatureLast
        } else {
            Order::TemperatureFirst
        },
    )
}

/// The f64 reference: tokens sorted by (logit desc, id asc), truncated, renormalised.
fn reference(row: &[f32], s: &Setting) -> Vec<f64> {
    if let Some(extra) = s.extra {
        return reference_extra(row, s, extra);
    }
    let mut live: Vec<(usize, f64)> = row
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_finite())
        .map(|(i, &x)| (i, f64::from(x)))
        .collect();
    live.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let softmax = |live: &[(usize, f64)], t: f64| -> Vec<f64> {
        let m = live[0].1 / t;
        let e: Vec<f64> = live.iter().map(|&(_, x)| (x / t - m).exp()).collect();
        let z: f64 = e.iter().sum();
        e.iter().map(|v| v / z).collect()
    };
    let t = s.t.unwrap_or(1.0);
    let trunc_t = if s.last { 1.0 } else { t };
    if t == 0.0 {
        live.truncate(1);
    }
    if let Some(k) = s.top_k.filter(|&k| k > 0) {
        live.truncate(k);
    }
    if let Some(p) = s.top_p.filter(|&p| p < 1.0) {
        let probs = softmax(&live, trunc_t);
        let mut cum = 0.0;
        let mut keep = live.len();
        for (i, q) in probs.iter().enumerate() {
            cum += q;
            if cum >= p - 1e-6 {
                keep = i + 1;
                break;
            }
        }
        live.truncate(keep);
    }
    if let Some(mp) = s.min_p.filter(|&p| p > 0.0) {
        let probs = softmax(&live, trunc_t);
        let bar = mp * probs[0];
        let keep = probs
            .iter()
            .filter(|&&q| q >= bar * (1.0 - 1e-6))
            .count()
            .max(1);
        live.truncate(keep);
    }
    let probs = if t == 0.0 {
        vec![1.0]
    } else {
        softmax(&live, t)
    };
    let mut out = vec![0.0; row.len()];
    for (&(i, _), q) in live.iter().zip(probs) {
        out[i] = q;
    }
    out
}

#[derive(Debug)]
struct CellResult {
    p_value: f64,
    outside: u64,
}

/// Draws `n` tokens with `sample_token` and G-tests them against the reference.
fn run_cell(row: &[f32], setting: &Setting, n: u64, seed: u64) -> CellResult {
    let expected = reference(row, setting);
    let (k, order) = knobs(setting);
    let mut sampler = Sampler::with_order(k, order, seed).unwrap();
    let mut counts = vec![0u64; row.len()];
    let fresh = setting.extra.is_some_and(Extra::stateful);
    for i in 0..n {
        if fresh {
            sampler.reset(seed ^ (i << 20));
        }
        match sampler.sample_token(row) {
            Ok(t) => counts[t.id as usize] += 1,
            // An error on a valid row is a failure of the cell.
            Err(_) => {
                return CellResult {
                    p_value: 0.0,
                    outside: 0,
                };
            }
        }
    }
    let GTest { p_value, outside } = g_test(&counts, &expected);
    CellResult { p_value, outside }
}

fn settings() -> Vec<Setting> {
    let s = Setting::default;
    vec![
        s(),
        Setting {
            t: Some(0.5),
            ..s()
        },
        Setting {
            t: Some(0.8),
            ..s()
        },
        Setting {
            t: Some(1.7),
            ..s()
        },
        Setting {
            t: Some(0.0),
            ..s()
        },
        Setting {
            top_k: Some(1),
            ..s()
        },
        Setting {
            top_k: Some(5),
            ..s()
        },
        Setting {
            top_k: Some(40),
            t: Some(0.9),
            ..s()
        },
        Setting {
            top_p: Some(0.5),
            ..s()
        },
        Setting {
            top_p: Some(0.9),
            t: Some(0.8),
            ..s()
        },
        Setting {
            top_p: Some(0.95),
            t: Some(1.3),
            ..s()
        },
        Setting {
            top_p: Some(0.3),
            t: Some(0.7),
            ..s()
        },
        Setting {
            min_p: Some(0.05),
            ..s()
        },
        Setting {
            min_p: Some(0.2),
            t: Some(1.5),
            ..s()
        },
        Setting {
            top_k: Some(20),
            top_p: Some(0.8),
            t: Some(0.8),
            ..s()
        },
        Setting {
            top_k: Some(20),
            top_p: Some(0.8),
            t: Some(0.8),
            last: true,
            ..s()
        },
        Setting {
            top_p: Some(0.9),
            t: Some(0.6),
            last: true,
            ..s()
        },
        Setting {
            min_p: Some(0.1),
            t: Some(2.0),
            last: true,
            ..s()
        },
        Setting {
            top_k: Some(10),
            min_p: Some(0.05),
            top_p: Some(0.9),
            t: Some(1.1),
            ..s()
        },
        Setting {
            top_p: Some(0.75),
            min_p: Some(0.02),
            t: Some(0.9),
            last: true,
            ..s()
        },
    ]
}

/// Whether a cell's setting runs the stage mutant `m` breaks.
fn exercises(m: Mutant, s: &Setting) -> bool {
    match m {
        Mutant::TopPStrict | Mutant::TopPDropsCrossing => s.top_p.is_some(),
        Mutant::TemperatureAfterSoftmax => s.t.is_some(),
        Mutant::TopKPlusOne => s.top_k.is_some(),
        Mutant::MinPAgainstSum => s.min_p.is_some(),
        Mutant::EpsilonAgainstWeights => matches!(s.extra, Some(Extra::Epsilon(_))),
        Mutant::EtaWithoutRoot => matches!(s.extra, Some(Extra::Eta(_))),
        Mutant::TopANotSquared => matches!(s.extra, Some(Extra::TopA(_))),
        Mutant::TfsFirstDifference => matches!(s.extra, Some(Extra::Tfs(_))),
        Mutant::TopHAllTokens => matches!(s.extra, Some(Extra::TopH(_))),
        Mutant::PLessHalfBar => matches!(s.extra, Some(Extra::PLess)),
        Mutant::SmoothingWithoutCube => matches!(s.extra, Some(Extra::Smoothing(_, c)) if c != 1.0),
        Mutant::ModuloBiasedUniform | Mutant::None => true,
    }
}

#[derive(Clone)]
struct Cell {
    row: Vec<f32>,
    setting: Setting,
    draws: u64,
    seed: u64,
    label: String,
}

fn cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    // The exact-boundary cell first: a mutant caught there stops early.
    cells.push(Cell {
        row: vec![0.0; 64],
        setting: Setting {
            top_p: Some(0.5),
            ..Setting::default()
        },
        draws: 1_000_000,
        seed: 999,
        label: "uniform V=64 top_p=0.5 exact boundary".into(),
    });
    let masks = [0.0, 0.5, 0.9];
    for (si, setting) in settings().into_iter().enumerate() {
        for (fi, family) in FAMILIES.into_iter().enumerate() {
            let masked = masks[(si + fi) % 3];
            let v = [64, 256, 1024][(si + 2 * fi) % 3];
            let seed = (si * 31 + fi) as u64;
            cells.push(Cell {
                row: logits(family, v, masked, seed),
                setting,
                draws: 1_000_000,
                seed,
                label: format!("{family:?} V={v} masked={masked} {setting:?}"),
            });
        }
    }
    for (i, (v, family)) in [
        (32_000, Family::Gumbel),
        (32_000, Family::Normal1),
        (151_936, Family::Zipf),
        (151_936, Family::Gumbel),
    ]
    .into_iter()
    .enumerate()
    {
        let setting = if i % 2 == 0 {
            Setting {
                t: Some(0.8),
                top_p: Some(0.9),
                ..Setting::default()
            }
        } else {
            Setting {
                t: Some(0.7),
                min_p: Some(0.05),
                ..Setting::default()
            }
        };
        cells.push(Cell {
            row: logits(family, v, if i == 1 { 0.5 } else { 0.0 }, 7000 + i as u64),
            setting,
            draws: 100_000,
            seed: 7000 + i as u64,
            label: format!("{family:?} V={v} {setting:?}"),
        });
    }
    // The newer stages, on every family.
    let extras = [
        (Extra::Epsilon(0.01), Some(0.9), None),
        (Extra::Eta(0.002), None, None),
        (Extra::TopA(0.2), Some(1.2), None),
        (Extra::Tfs(0.9), None, None),
        (Extra::TopH(0.5), Some(0.8), None),
        (Extra::PLess, None, None),
        (Extra::PLessNorm, Some(1.3), None),
        (Extra::Smoothing(0.4, 1.0), None, None),
        (Extra::Smoothing(0.3, 2.5), Some(0.9), Some(40)),
        (Extra::AdaptiveP(0.3), None, Some(30)),
    ];
    for (ei, (extra, t, top_k)) in extras.into_iter().enumerate() {
        for (fi, family) in FAMILIES.into_iter().enumerate() {
            let masked = [0.0, 0.5, 0.9][(ei + fi) % 3];
            let v = [64, 256, 1024][(ei + 2 * fi) % 3];
            let seed = 5000 + (ei * 31 + fi) as u64;
            let setting = Setting {
                t,
                top_k,
                extra: Some(extra),
                ..Setting::default()
            };
            cells.push(Cell {
                row: logits(family, v, masked, seed),
                setting,
                draws: if extra.stateful() { 200_000 } else { 1_000_000 },
                seed,
                label: format!("{family:?} V={v} masked={masked} {setting:?}"),
            });
        }
    }
    cells
}

/// Runs every cell on two threads, taking cells from a shared queue; returns (cells run,
/// min p-value over the cells, draws outside, the worst cell's label). With `stop_early`, both threads stop once any
/// cell is rejected (used for the mutants).
fn run_all(cells: &[Cell], stop_early: bool) -> (usize, f64, u64, String) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Vec<(f64, u64, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let Some(c) = cells.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let r = run_cell(&c.row, &c.setting, c.draws, c.seed);
                        let rejected = r.outside > 0 || r.p_value < ALPHA;
                        out.push((r.p_value, r.outside, c.label.clone()));
                        if stop_early && rejected {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let outside = results.iter().map(|r| r.1).sum();
    // The worst cell: one with draws outside its kept set if any, else the lowest p-value.
    let worst = results
        .iter()
        .min_by(|a, b| (a.1 == 0).cmp(&(b.1 == 0)).then(a.0.total_cmp(&b.0)))
        .unwrap();
    let min_p = results.iter().map(|r| r.0).fold(1.0, f64::min);
    (results.len(), min_p, outside, worst.2.clone())
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "release only: cargo test --release -p dial-sampling --test statistical"
)]
fn statistical_suite_and_mutation_table() {
    let started = std::time::Instant::now();
    let cells = cells();
    let draws: u64 = cells.iter().map(|c| c.draws).sum();
    mutants::set(Mutant::None);
    let (n, min_p, outside, worst) = run_all(&cells, false);
    println!(
        "statistical suite: {n} cells, {draws} draws, min p-value {min_p:.3e} ({worst}), \
         {outside} draws outside the kept set, {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(outside, 0, "draws outside the kept set");
    assert!(min_p >= ALPHA, "cell rejected: p = {min_p:e} in {worst}");

    // The mutation table: each mutant must be rejected by the same test.
    let mutants_list = [
        Mutant::TopPStrict,
        Mutant::TopPDropsCrossing,
        Mutant::TemperatureAfterSoftmax,
        Mutant::TopKPlusOne,
        Mutant::ModuloBiasedUniform,
        Mutant::MinPAgainstSum,
        Mutant::EpsilonAgainstWeights,
        Mutant::EtaWithoutRoot,
        Mutant::TopANotSquared,
        Mutant::TfsFirstDifference,
        Mutant::TopHAllTokens,
        Mutant::PLessHalfBar,
        Mutant::SmoothingWithoutCube,
    ];
    let mut caught = 0;
    println!("| mutant | cells run | min p-value | draws outside kept set | caught | worst cell |");
    println!("|---|---|---|---|---|---|");
    for m in mutants_list {
        mutants::set(m);
        // The cells that use the broken stage first, so a caught mutant stops early.
        let mut ordered: Vec<&Cell> = cells.iter().collect();
        ordered.sort_by_key(|c| !exercises(m, &c.setting));
        let ordered: Vec<Cell> = ordered.into_iter().map(Cell::clone).collect();
        let (n, min_p, outside, worst) = run_all(&ordered, true);
        let is_caught = outside > 0 || min_p < ALPHA;
        caught += usize::from(is_caught);
        println!(
            "| {m:?} | {n} | {min_p:.3e} | {outside} | {} | {worst} |",
            if is_caught { "yes" } else { "NO" }
        );
    }
    mutants::set(Mutant::None);
    println!("mutants caught: {caught}/{}", mutants_list.len());
    assert_eq!(caught, mutants_list.len());
}
