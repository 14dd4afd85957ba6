//! References written in f64 from each control's cited source, shared by the reference
//! and statistical suites.
#![allow(dead_code)]

/// `softmax(x / t)` in f64 over the finite entries (0 elsewhere).
pub fn softmax(x: &[f32], t: f64) -> Vec<f64> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = x
        .iter()
        .map(|&v| {
            if v.is_finite() {
                ((v as f64 - max) / t).exp()
            } else {
                0.0
            }
        })
        .collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

/// Token ids by probability descending, ties by id, live ones only.
pub fn ranked(p: &[f64]) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..p.len()).filter(|&i| p[i] > 0.0).collect();
    ids.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    ids
}

/// What a reference decides for each token: kept, and whether it sits on the bar.
pub struct Decision {
    pub kept: Vec<bool>,
    pub near: Vec<bool>,
}

/// Keeps `p ≥ bar` (at least `min_keep`, best first).
pub fn threshold(p: &[f64], bar: f64, min_keep: usize) -> Decision {
    let order = ranked(p);
    let mut kept: Vec<bool> = p.iter().map(|&q| q > 0.0 && q >= bar).collect();
    for &i in order.iter().take(min_keep) {
        kept[i] = true;
    }
    let near = p
        .iter()
        .map(|&q| (q - bar).abs() <= 1e-5 * bar.max(1e-12))
        .collect();
    Decision { kept, near }
}

/// Keeps the first `n` of `order`.
pub fn prefix(p: &[f64], order: &[usize], n: usize) -> Decision {
    let mut kept = vec![false; p.len()];
    for &i in order.iter().take(n) {
        kept[i] = true;
    }
    Decision {
        kept,
        near: vec![false; p.len()],
    }
}

pub fn epsilon(p: &[f64], eps: f64, min_keep: usize) -> Decision {
    threshold(p, eps, min_keep)
}

pub fn eta(p: &[f64], eta: f64, min_keep: usize) -> Decision {
    let h: f64 = p.iter().filter(|&&q| q > 0.0).map(|&q| -q * q.ln()).sum();
    threshold(p, eta.min(eta.sqrt() * (-h).exp()), min_keep)
}

pub fn top_a(p: &[f64], a: f64, min_keep: usize) -> Decision {
    let p_max = p.iter().copied().fold(0.0, f64::max);
    threshold(p, a * p_max * p_max, min_keep)
}

pub fn p_less(p: &[f64], min_keep: usize) -> Decision {
    threshold(p, p.iter().map(|q| q * q).sum(), min_keep)
}

pub fn p_less_norm(p: &[f64], min_keep: usize) -> Decision {
    let v = p.len() as f64;
    let s: f64 = p.iter().map(|q| q * q).sum();
    threshold(p, (v * s - 1.0) / (v - 1.0), min_keep)
}

/// text-generation-webui: remove sorted index i (1 ≤ i ≤ n−2) when cdf[i−1] > z; the
/// last always; the first never; then protect the first `min_keep`.
pub fn tfs(p: &[f64], z: f64, min_keep: usize) -> Decision {
    let order = ranked(p);
    let sorted: Vec<f64> = order.iter().map(|&i| p[i]).collect();
    let n = sorted.len();
    let mut remove = vec![false; n];
    if n >= 2 {
        let d2: Vec<f64> = (0..n - 2)
            .map(|j| ((sorted[j + 2] - sorted[j + 1]) - (sorted[j + 1] - sorted[j])).abs())
            .collect();
        let total: f64 = d2.iter().sum();
        let mut cdf = 0.0;
        for (j, d) in d2.iter().enumerate() {
            cdf += d / total;
            remove[j + 1] = cdf > z; // NaN (total 0) compares false
        }
        remove[n - 1] = true;
    }
    for r in remove.iter_mut().take(min_keep) {
        *r = false;
    }
    let kept_n = remove.iter().filter(|r| !**r).count();
    // The removed set is a suffix once the running share has passed z.
    prefix(p, &order, kept_n)
}

/// HF: top 100, renormalised, cumulative `−q ln q` ≤ h · H, first always.
pub fn top_h(p: &[f64], h: f64, min_keep: usize) -> Decision {
    let order = ranked(p);
    let top: Vec<usize> = order.iter().copied().take(100).collect();
    let total: f64 = top.iter().map(|&i| p[i]).sum();
    let q: Vec<f64> = top.iter().map(|&i| p[i] / total).collect();
    let entropy: f64 = q.iter().map(|&x| -x * x.ln()).sum();
    let tau = entropy * h;
    let mut cum = 0.0;
    let mut n = 0;
    let mut near = vec![false; p.len()];
    for (k, x) in q.iter().enumerate() {
        cum += -x * x.ln();
        if (cum - tau).abs() < 1e-9 {
            near[top[k]] = true;
        }
        if k == 0 || cum <= tau {
            n = k + 1;
        } else {
            break;
        }
    }
    let mut d = prefix(p, &order, n.max(min_keep));
    d.near = near;
    d
}

/// text-generation-webui's quadratic sampling of logits `x` (−∞ stays −∞).
pub fn bend(x: &[f64], f: f64, c: f64) -> Vec<f32> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (k, s) = ((3.0 - c) / 2.0, (c - 1.0) / 2.0);
    x.iter()
        .map(|&v| {
            if v.is_finite() {
                let d = v - max;
                (-(k * f * d * d) + s * f * d * d * d + max) as f32
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect()
}

/// llama.cpp's adaptive-p logits for probabilities `q` aiming at `aim` (0 stays removed).
pub fn adaptive_logits(q: &[f64], aim: f64) -> Vec<f32> {
    q.iter()
        .map(|&v| {
            if v > 0.0 {
                let d = ((v - aim) / 0.3).abs();
                (5.0 - 10.0 * d * d / (1.0 + d)) as f32
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect()
}
