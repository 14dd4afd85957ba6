//! The f32 pieces of the forward pass, each in one fixed order of operations, so a row's
//! result never depends on the rows around it.

/// `Σ a_i b_i` in 8 interleaved partial sums (vectorizes), then a fixed tree.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7])) + tail
}

/// Attention's scores: `out[h · n_keys + n] = dot(queries[h], k_n)` for the key rows
/// `k_n = keys[starts[n]..][..hd]`, each with exactly [`dot`]'s arithmetic (the same bits).
///
/// On AVX, up to 4 heads and 2 keys run side by side: 8 sums, each one chain of
/// dependent adds in a register of its own, each query row and key row read once per
/// step for all of them.
pub(crate) fn scores(queries: &[&[f32]], keys: &[f32], starts: &[usize], out: &mut [f32]) {
    let n_keys = starts.len();
    let hd = queries.first().map_or(0, |q| q.len());
    let fits = queries.iter().all(|q| q.len() == hd)
        && out.len() == queries.len() * n_keys
        && starts.iter().all(|&s| s + hd <= keys.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") && fits {
        for (q, o) in queries.chunks(4).zip(out.chunks_mut(4 * n_keys)) {
            // SAFETY: AVX is present; the shapes were checked above.
            unsafe {
                match q.len() {
                    4 => x86::scores::<4>(q, keys, starts, o),
                    3 => x86::scores::<3>(q, keys, starts, o),
                    2 => x86::scores::<2>(q, keys, starts, o),
                    _ => x86::scores::<1>(q, keys, starts, o),
                }
            }
        }
        return;
    }
    let _ = fits;
    scores_plain(queries, keys, starts, out);
}

/// [`scores`] written plainly: the definition.
fn scores_plain(queries: &[&[f32]], keys: &[f32], starts: &[usize], out: &mut [f32]) {
    let n_keys = starts.len();
    for (q, o) in queries.iter().zip(out.chunks_exact_mut(n_keys.max(1))) {
        for (o, &start) in o.iter_mut().zip(starts) {
            *o = dot(q, &keys[start..start + q.len()]);
        }
    }
}

/// Attention's weighted sums: for each head `h`, `out_h = Σ_n w_h[n] · v_n` over the
/// value rows `v_n = values[starts[n]..][..hd]`, in the order `n = 0, 1, …`, each element
/// `o ← o + w·v` from `o = 0`, unfused. `out` holds the heads' rows one after another
/// (`hd = out.len() / weights.len()`).
///
/// On AVX a slice of 16 elements of up to 4 heads stays in registers while the keys go
/// by, so each value row is read once for all heads and nothing is stored until the end:
/// the same operations on each element in the same order, so the same bits.
pub(crate) fn weighted_sums(weights: &[&[f32]], values: &[f32], starts: &[usize], out: &mut [f32]) {
    let hd = out.len() / weights.len().max(1);
    let fits = weights.iter().all(|w| w.len() >= starts.len())
        && starts.iter().all(|&s| s + hd <= values.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") && fits {
        for (w, o) in weights.chunks(4).zip(out.chunks_mut(4 * hd)) {
            // SAFETY: AVX is present; every weight row covers `starts`, and every value row
            // lies inside `values` (checked above).
            unsafe {
                match w.len() {
                    4 => x86::weighted_sums::<4>(w, values, starts, o, hd),
                    3 => x86::weighted_sums::<3>(w, values, starts, o, hd),
                    2 => x86::weighted_sums::<2>(w, values, starts, o, hd),
                    _ => x86::weighted_sums::<1>(w, values, starts, o, hd),
                }
            }
        }
        return;
    }
    let _ = fits;
    weighted_sums_plain(weights, values, starts, out);
}

/// [`weighted_sums`] written plainly: the definition.
fn weighted_sums_plain(weights: &[&[f32]], values: &[f32], starts: &[usize], out: &mut [f32]) {
    let hd = out.len() / weights.len().max(1);
    out.iter_mut().for_each(|o| *o = 0.0);
    for (n, &start) in starts.iter().enumerate() {
        let value = &values[start..start + hd];
        for (w, o) in weights.iter().zip(out.chunks_exact_mut(hd)) {
            for (o, v) in o.iter_mut().zip(value) {
                *o += w[n] * v;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX; `weights.len() == H`, each weight row at least `starts.len()` long, every
    /// `starts[n] + hd ≤ values.len()`, and `out.len() == H · hd`.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn weighted_sums<const H: usize>(
        weights: &[&[f32]],
        values: &[f32],
        starts: &[usize],
        out: &mut [f32],
        hd: usize,
    ) {
        let whole = hd / 16 * 16;
        for c in (0..whole).step_by(16) {
            let mut acc = [[_mm256_setzero_ps(); 2]; H];
            for (n, &start) in starts.iter().enumerate() {
                // SAFETY: start + c + 16 ≤ start + hd ≤ values.len().
                let (v0, v1) = unsafe {
                    let v = values.as_ptr().add(start + c);
                    (_mm256_loadu_ps(v), _mm256_loadu_ps(v.add(8)))
                };
                for (acc, w) in acc.iter_mut().zip(weights) {
                    // SAFETY: n < starts.len() ≤ w.len().
                    let w = _mm256_set1_ps(unsafe { *w.get_unchecked(n) });
                    // Unfused, as the plain loop computes each element.
                    acc[0] = _mm256_add_ps(acc[0], _mm256_mul_ps(w, v0));
                    acc[1] = _mm256_add_ps(acc[1], _mm256_mul_ps(w, v1));
                }
            }
            for (h, acc) in acc.iter().enumerate() {
                // SAFETY: h · hd + c + 16 ≤ H · hd = out.len().
                unsafe {
                    let o = out.as_mut_ptr().add(h * hd + c);
                    _mm256_storeu_ps(o, acc[0]);
                    _mm256_storeu_ps(o.add(8), acc[1]);
                }
            }
        }
        for c in whole..hd {
            for (h, w) in weights.iter().enumerate() {
                let mut o = 0f32;
                for (n, &start) in starts.iter().enumerate() {
                    o += w[n] * values[start + c];
                }
                out[h * hd + c] = o;
            }
        }
    }

    /// [`super::dot`]'s final tree over 8 lanes, plus the tail.
    #[target_feature(enable = "avx")]
    fn finish(acc: __m256, tail: f32) -> f32 {
        let mut l = [0f32; 8];
        // SAFETY: 8 floats into 8 slots.
        unsafe { _mm256_storeu_ps(l.as_mut_ptr(), acc) };
        ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])) + tail
    }

    /// # Safety
    /// AVX; `queries.len() == H`, every query `hd` long, every `starts[n] + hd ≤
    /// keys.len()`, and `out.len() == H · starts.len()`.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn scores<const H: usize>(
        queries: &[&[f32]],
        keys: &[f32],
        starts: &[usize],
        out: &mut [f32],
    ) {
        let n_keys = starts.len();
        let hd = queries[0].len();
        let whole = hd / 8 * 8;
        let tail = |q: &[f32], start: usize| -> f32 {
            q[whole..]
                .iter()
                .zip(&keys[start + whole..start + hd])
                .map(|(x, y)| x * y)
                .sum()
        };
        let pairs = n_keys / 2 * 2;
        for n in (0..pairs).step_by(2) {
            let (s0, s1) = (starts[n], starts[n + 1]);
            let mut acc = [[_mm256_setzero_ps(); 2]; H];
            for c in (0..whole).step_by(8) {
                // SAFETY: c + 8 ≤ whole ≤ hd, and both key rows lie inside `keys`.
                let (k0, k1) = unsafe {
                    (
                        _mm256_loadu_ps(keys.as_ptr().add(s0 + c)),
                        _mm256_loadu_ps(keys.as_ptr().add(s1 + c)),
                    )
                };
                for (acc, q) in acc.iter_mut().zip(queries) {
                    // SAFETY: c + 8 ≤ hd = q.len().
                    let x = unsafe { _mm256_loadu_ps(q.as_ptr().add(c)) };
                    // Unfused, as `dot` computes each lane.
                    acc[0] = _mm256_add_ps(acc[0], _mm256_mul_ps(x, k0));
                    acc[1] = _mm256_add_ps(acc[1], _mm256_mul_ps(x, k1));
                }
            }
            for (h, (acc, q)) in acc.iter().zip(queries).enumerate() {
                out[h * n_keys + n] = finish(acc[0], tail(q, s0));
                out[h * n_keys + n + 1] = finish(acc[1], tail(q, s1));
            }
        }
        for n in pairs..n_keys {
            let s0 = starts[n];
            let mut acc = [_mm256_setzero_ps(); H];
            for c in (0..whole).step_by(8) {
                // SAFETY: as above.
                let k0 = unsafe { _mm256_loadu_ps(keys.as_ptr().add(s0 + c)) };
                for (acc, q) in acc.iter_mut().zip(queries) {
                    // SAFETY: as above.
                    let x = unsafe { _mm256_loadu_ps(q.as_ptr().add(c)) };
                    *acc = _mm256_add_ps(*acc, _mm256_mul_ps(x, k0));
                }
            }
            for (h, (acc, q)) in acc.iter().zip(queries).enumerate() {
                out[h * n_keys + n] = finish(*acc, tail(q, s0));
            }
        }
    }
}

/// RMSNorm of each `weight.len()`-wide row of `x`, in place:
/// `x ← x / √(mean(x²) + ε) · weight`.
pub(crate) fn rms_norm(x: &mut [f32], weight: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(weight.len()) {
        let mean = dot(row, row) / row.len() as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for (v, w) in row.iter_mut().zip(weight) {
            *v = *v * scale * w;
        }
    }
}

/// GELU, tanh form: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`, computed as the equal
/// `x / (1 + e^(−2u))`: one `expf` instead of `tanhf` (which costs an `expm1f` and
/// more), a third of the prefill time before. (dial's own vectorized `exp` was as fast
/// but moved a near-tie in the llama.cpp reference continuation.)
pub(crate) fn gelu(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    x / (1.0 + (-2.0 * u).exp())
}

/// Rotates one head (`x.len() = 2 · cos.len()`) by RoPE's half-split form:
/// `(x₁, x₂) ← (x₁ cos − x₂ sin, x₁ sin + x₂ cos)`.
pub(crate) fn rope(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    for i in 0..half {
        let (a, b) = (x[i], x[i + half]);
        x[i] = a * cos[i] - b * sin[i];
        x[i + half] = a * sin[i] + b * cos[i];
    }
}

/// Rotates one head by RoPE's adjacent-pairs form (llama.cpp's normal mode):
/// `(x₂ᵢ, x₂ᵢ₊₁) ← (x₂ᵢ cos − x₂ᵢ₊₁ sin, x₂ᵢ sin + x₂ᵢ₊₁ cos)`.
pub(crate) fn rope_adjacent(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    for (pair, (c, s)) in x.chunks_exact_mut(2).zip(cos.iter().zip(sin)) {
        let (a, b) = (pair[0], pair[1]);
        pair[0] = a * c - b * s;
        pair[1] = a * s + b * c;
    }
}

#[cfg(test)]
mod tests {
    /// Values of many magnitudes (xorshift64 from `seed`), fixed.
    fn spread(seed: u64) -> impl FnMut() -> f32 {
        let mut state = seed;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2f32.powi((state % 9) as i32)
        }
    }

    #[test]
    fn weighted_sums_are_the_plain_loop_bit_for_bit() {
        let mut next = spread(0x9E37_79B9_7F4A_7C15);
        // Head counts with and without a partial group, head sizes with and without a tail.
        for (heads, hd, keys) in [
            (4, 256, 37),
            (1, 64, 5),
            (3, 24, 9),
            (6, 128, 17),
            (8, 20, 1),
        ] {
            let width = hd + 5;
            let values: Vec<f32> = (0..keys * width + 3).map(|_| next()).collect();
            let starts: Vec<usize> = (0..keys).rev().map(|n| n * width + 3).collect();
            let rows: Vec<Vec<f32>> = (0..heads)
                .map(|_| (0..keys).map(|_| next()).collect())
                .collect();
            let weights: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
            let mut got = vec![f32::NAN; heads * hd];
            let mut want = vec![f32::NAN; heads * hd];
            super::weighted_sums(&weights, &values, &starts, &mut got);
            super::weighted_sums_plain(&weights, &values, &starts, &mut want);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{heads} heads of {hd}");
        }
    }

    #[test]
    fn scores_are_dot_bit_for_bit() {
        // Head counts with and without a partial group, key counts odd and even, head
        // sizes with and without a tail; values over many magnitudes.
        let mut next = spread(0x2545_F491_4F6C_DD1D);
        for (heads, hd, keys) in [(4, 256, 37), (4, 259, 2), (1, 7, 1), (3, 9, 5), (6, 64, 8)] {
            let width = hd + 3;
            let cache: Vec<f32> = (0..keys * width + 1).map(|_| next()).collect();
            let starts: Vec<usize> = (0..keys).rev().map(|n| n * width + 1).collect();
            let rows: Vec<Vec<f32>> = (0..heads)
                .map(|_| (0..hd).map(|_| next()).collect())
                .collect();
            let queries: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
            let mut got = vec![f32::NAN; heads * keys];
            super::scores(&queries, &cache, &starts, &mut got);
            for (h, q) in queries.iter().enumerate() {
                for (n, &s) in starts.iter().enumerate() {
                    let want = super::dot(q, &cache[s..s + hd]);
                    assert_eq!(
                        got[h * keys + n].to_bits(),
                        want.to_bits(),
                        "{heads}×{hd}, key {n}"
                    );
                }
            }
        }
    }
}
