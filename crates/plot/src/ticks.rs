//! Tick positions and labels.

use crate::{Axis, Scale};

/// Ticks for `axis` with about `target` intervals, and their labels.
pub(crate) fn ticks(axis: &Axis, target: usize) -> Vec<(f64, String)> {
    match axis.scale {
        Scale::Linear => linear(axis.min, axis.max, target),
        Scale::Log => log(axis.min, axis.max),
    }
}

/// Multiples of 1, 2 or 5 × 10^k.
fn linear(min: f64, max: f64, target: usize) -> Vec<(f64, String)> {
    let raw = (max - min) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let first = (min / step).ceil();
    let mut out = Vec::new();
    let mut k = first;
    while k * step <= max + step * 1e-9 && out.len() < 100 {
        let v = k * step;
        let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
        out.push((v, format!("{v:.decimals$}")));
        k += 1.0;
    }
    out
}

/// Powers of ten, with 2× and 5× steps when the range spans less than two decades.
fn log(min: f64, max: f64) -> Vec<(f64, String)> {
    let lo = min.log10().floor() as i32;
    let hi = max.log10().ceil() as i32;
    let multipliers: &[f64] = if hi - lo <= 2 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut out = Vec::new();
    for e in lo..=hi {
        for m in multipliers {
            let v = m * 10f64.powi(e);
            if v >= min * (1.0 - 1e-9) && v <= max * (1.0 + 1e-9) {
                out.push((v, compact(v)));
            }
        }
    }
    out
}

/// `1`, `20`, `500`, `1k`, `10k`, `1M`, `0.01`.
fn compact(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_numbers_inside_the_range() {
        let t = linear(0.0, 1.0, 5);
        let values: Vec<f64> = t.iter().map(|p| p.0).collect();
        assert_eq!(values, vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        let labels: Vec<&str> = t.iter().map(|p| p.1.as_str()).collect();
        assert_eq!(labels, vec!["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t = linear(0.05, 2.0, 5);
        assert_eq!(t.first().map(|p| p.1.as_str()), Some("0.5"));
        assert_eq!(t.last().map(|p| p.1.as_str()), Some("2.0"));
    }

    #[test]
    fn log_ticks_use_decades_and_short_labels() {
        let labels: Vec<String> = log(1.0, 262_144.0).into_iter().map(|p| p.1).collect();
        assert_eq!(labels, vec!["1", "10", "100", "1k", "10k", "100k"]);
        let labels: Vec<String> = log(1.0, 50.0).into_iter().map(|p| p.1).collect();
        assert_eq!(labels, vec!["1", "2", "5", "10", "20", "50"]);
    }
}
