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
