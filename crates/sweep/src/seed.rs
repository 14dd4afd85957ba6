//! Each generation's seed.

/// The seed of one generation in a sweep: sample `sample` of prompt `prompt` under the
/// setting named `setting`, in a sweep seeded with `sweep_seed`.
///
/// ```text
/// h    = FNV-1a 64 of the setting's name (UTF-8 bytes)
/// seed = mix(mix(mix(sweep_seed) ⊕ h) ⊕ (prompt · 2^32 + sample))
/// mix  = the SplitMix64 finaliser (z ⊕= z≫30; z ·= 0xBF58476D1CE4E5B9;
///        z ⊕= z≫27; z ·= 0x94D049BB133111EB; z ⊕= z≫31)
/// ```
///
/// The seed depends on the setting's name, not its place in the list, so adding or
/// reordering settings leaves every other setting's continuations as they were. The
/// sampler's stream for a seed is pinned in `dial_sampling::DialRng`, so a continuation
/// is replayed by `dial generate` with the same prompt, knobs and seed.
pub fn generation_seed(sweep_seed: u64, setting: &str, prompt: usize, sample: usize) -> u64 {
    let index = ((prompt as u64) << 32) ^ (sample as u64 & 0xFFFF_FFFF);
    mix(mix(mix(sweep_seed) ^ fnv1a(setting.as_bytes())) ^ index)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
