//! The G-test of draws against a reference distribution, as dial's statistical suites
//! use it.

/// A G-test's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GTest {
    /// `P(G ≥ g)` under the reference, from the χ² distribution with `bins − 1` degrees of
    /// freedom.
    pub p_value: f64,
    /// Draws of tokens the reference gives probability 0 (must be 0).
    pub outside: u64,
}

/// Tests `counts` (draws per token) against `expected` (the reference probabilities):
///
/// `G = 2 Σ O_i ln(O_i / E_i)`, with `E_i = n p_i`, over tokens of `p_i > 0`; tokens
/// with `E_i < 5` are pooled into one bin. Draws of tokens with `p_i = 0` are counted in
/// [`GTest::outside`] rather than in `G`.
pub fn g_test(counts: &[u64], expected: &[f64]) -> GTest {
    let n: u64 = counts.iter().sum();
    let outside = counts
        .iter()
        .zip(expected)
        .filter(|(c, p)| **c > 0 && **p == 0.0)
        .map(|(c, _)| *c)
        .sum();
    let (mut g, mut bins) = (0.0, 0usize);
    let (mut pool_o, mut pool_e) = (0.0, 0.0);
    for (&c, &p) in counts.iter().zip(expected) {
        if p == 0.0 {
            continue;
        }
        let e = p * n as f64;
        if e < 5.0 {
            pool_o += c as f64;
            pool_e += e;
            continue;
        }
        if c > 0 {
            g += 2.0 * c as f64 * (c as f64 / e).ln();
        }
        bins += 1;
    }
    if pool_e > 0.0 {
        if pool_o > 0.0 {
            g += 2.0 * pool_o * (pool_o / pool_e).ln();
        }
        bins += 1;
    }
    let p_value = if bins <= 1 {
        1.0
    } else {
        gamma_q((bins - 1) as f64 / 2.0, g / 2.0)
    };
    GTest { p_value, outside }
}

/// Regularised upper incomplete gamma Q(a, x) (series / continued fraction).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_gamma_a = ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut term, mut n) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        1.0 - sum * (-x + a * x.ln() - ln_gamma_a).exp()
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (-x + a * x.ln() - ln_gamma_a).exp() * h
    }
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos, g = 7.
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}
