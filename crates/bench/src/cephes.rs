//! The outside floor for the sampler's `exp` pass: a plain Cephes-style AVX2 `max + Σexp`,
//! written the way a hand-tuned library would and independent of dial's kernels.
//!
//! `ln Σ_i exp(s·x_i) = s·m + ln Σ_i exp(s·(x_i − m))` with `m = max_i x_i`. The `exp`
//! is Cephes' `expf` (range reduction by `ln 2` in two parts, a degree-5 polynomial,
//! `2^n` built in the exponent bits), eight lanes at a time, accumulated in `f32` in four
//! independent registers. No validation, no collection, no `f64`: the least a sampler
//! that computes probabilities could do on this ISA.

/// `ln Σ exp(s·x)` over `xs`, by the fastest path this CPU has (AVX2+FMA, else scalar).
pub fn cephes_log_sum_exp(xs: &[f32], s: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        return unsafe { avx2::log_sum_exp(xs, s) };
    }
    let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f32 = xs.iter().map(|&x| ((x - m) * s).exp()).sum();
    f64::from(m) * f64::from(s) + f64::from(z).ln()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp(x: __m256) -> __m256 {
        let x = _mm256_min_ps(x, _mm256_set1_ps(88.376_26));
        let x = _mm256_max_ps(x, _mm256_set1_ps(-88.376_26));
        let fx = _mm256_fmadd_ps(
            x,
            _mm256_set1_ps(std::f32::consts::LOG2_E),
            _mm256_set1_ps(0.5),
        );
        let fx = _mm256_floor_ps(fx);
        let x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693_359_4), x);
        let x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.121_944_4e-4), x);
        let z = _mm256_mul_ps(x, x);
        let mut y = _mm256_set1_ps(1.987_569_1e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            0.5,
        ] {
            y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(c));
        }
        let y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0)));
        let pow2 = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvttps_epi32(fx),
            _mm256_set1_epi32(127),
        ));
        _mm256_mul_ps(y, _mm256_castsi256_ps(pow2))
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn log_sum_exp(xs: &[f32], s: f32) -> f64 {
        let blocks = xs.chunks_exact(32);
        let rest = blocks.remainder();
        let mut vmax = [_mm256_set1_ps(f32::NEG_INFINITY); 4];
        for b in blocks.clone() {
            for (k, v) in vmax.iter_mut().enumerate() {
                // SAFETY: `b` has 32 elements.
                *v = _mm256_max_ps(*v, unsafe { _mm256_loadu_ps(b.as_ptr().add(8 * k)) });
            }
        }
        let v = _mm256_max_ps(
            _mm256_max_ps(vmax[0], vmax[1]),
            _mm256_max_ps(vmax[2], vmax[3]),
        );
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` has 8 elements.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        let m = lanes
            .iter()
            .chain(rest)
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let (vm, vs) = (_mm256_set1_ps(m), _mm256_set1_ps(s));
        let mut sums = [_mm256_setzero_ps(); 4];
        for b in blocks {
            for (k, acc) in sums.iter_mut().enumerate() {
                // SAFETY: `b` has 32 elements.
                let x = unsafe { _mm256_loadu_ps(b.as_ptr().add(8 * k)) };
                // SAFETY: avx2+fma are enabled here.
                *acc = _mm256_add_ps(*acc, unsafe {
                    exp(_mm256_mul_ps(_mm256_sub_ps(x, vm), vs))
                });
            }
        }
        let v = _mm256_add_ps(
            _mm256_add_ps(sums[0], sums[1]),
            _mm256_add_ps(sums[2], sums[3]),
        );
        // SAFETY: `lanes` has 8 elements.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        let z: f32 =
            lanes.iter().sum::<f32>() + rest.iter().map(|&x| ((x - m) * s).exp()).sum::<f32>();
        f64::from(m) * f64::from(s) + f64::from(z).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_plain_f64_log_sum_exp() {
        for (shape, v) in [
            (crate::Shape::Peaked, 32_003),
            (crate::Shape::Flat, 262_144),
        ] {
            let xs = crate::row(shape, v, 7);
            let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let z: f64 = xs.iter().map(|&x| (f64::from(x - m) * 0.8).exp()).sum();
            let want = f64::from(m) * 0.8 + z.ln();
            let got = cephes_log_sum_exp(&xs, 0.8);
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
    }
}
