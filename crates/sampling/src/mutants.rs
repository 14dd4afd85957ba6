//! Deliberately broken variants of the sampler, compiled only with the `mutants` feature,
//! so the statistical suite can show it rejects each of them. Off by default at run time.

/// A deliberate bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mutant {
    /// No bug.
    None = 0,
    /// top_p stops only when the mass strictly exceeds p (`<` instead of `≤`).
    TopPStrict,
    /// top_p drops the token that crosses p.
    TopPDropsCrossing,
    /// Temperature applied to probabilities after softmax (a no-op once renormalised).
    TemperatureAfterSoftmax,
    /// top_k keeps k + 1 tokens.
    TopKPlusOne,
    /// The uniform is `(u32 mod 3·10⁹) / 3·10⁹`: modulo-biased.
    ModuloBiasedUniform,
    /// min_p compares against `min_p · Σ p` instead of `min_p · p_max`.
    MinPAgainstSum,
    /// epsilon_cutoff compares `ε` with unnormalised weights `e^(y − y_max)`.
    EpsilonAgainstWeights,
    /// eta_cutoff's bar is `min(η, η·e^(−H))`, missing the square root.
    EtaWithoutRoot,
    /// top_a's bar is `a · p_max`, not squared.
    TopANotSquared,
    /// tfs takes first differences instead of second.
    TfsFirstDifference,
    /// top_h looks at every token, not the top 100.
    TopHAllTokens,
    /// p_less's bar is half of `Σ p²`.
    PLessHalfBar,
    /// smoothing drops the cubic term.
    SmoothingWithoutCube,
}

#[cfg(feature = "mutants")]
static ACTIVE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Switches the process-wide mutant (only with the `mutants` feature).
#[cfg(feature = "mutants")]
pub fn set(m: Mutant) {
    ACTIVE.store(m as u8, std::sync::atomic::Ordering::SeqCst);
}

/// Whether `m` is active. Always false without the `mutants` feature.
#[inline(always)]
pub(crate) fn active(m: Mutant) -> bool {
    #[cfg(feature = "mutants")]
    {
        ACTIVE.load(std::sync::atomic::Ordering::Relaxed) == m as u8
    }
    #[cfg(not(feature = "mutants"))]
    {
        let _ = m;
        false
    }
}
