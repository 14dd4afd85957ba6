//! Which instruction set the dot products run on, chosen at run time.

/// A kernel implementation. Every one gives the bits of
/// [`crate::QuantMatrix::matmul_reference`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust on the panels, written for LLVM to vectorize: what every CPU without
    /// a SIMD path runs.
    Portable,
    /// AVX2 and F16C on the panels: `vpmaddubsw` + `vpmaddwd` for 8 weight rows at once.
    Avx2,
    /// AVX-512 (F, BW, DQ, VL) with VNNI: the 32-value formats on tiles of 16 rows,
    /// `vpdpbusd` for 16 rows at once; the k-quants on AVX2's panel kernel.
    Avx512Vnni,
    /// AArch64 NEON with the dot-product extension: `sdot` for 4 weight rows at once, on
    /// the panels.
    NeonDot,
    /// AArch64 NEON with the int8 matrix-multiply extension (i8mm): `smmla` for 2 weight
    /// rows by 2 activation rows at once, on the panels.
    NeonI8mm,
}

impl Isa {
    /// The fastest this CPU has.
    pub fn detect() -> Isa {
        Isa::available().last().copied().unwrap_or(Isa::Portable)
    }

    /// Every implementation this CPU can run, slowest first.
    pub fn available() -> Vec<Isa> {
        let mut isas = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("f16c") {
                isas.push(Isa::Avx2);
                if has!("avx512f")
                    && has!("avx512bw")
                    && has!("avx512dq")
                    && has!("avx512vl")
                    && has!("avx512vnni")
                {
                    isas.push(Isa::Avx512Vnni);
                }
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            use std::arch::is_aarch64_feature_detected as has;
            if has!("dotprod") {
                isas.push(Isa::NeonDot);
                if has!("i8mm") {
                    isas.push(Isa::NeonI8mm);
                }
            }
        }
        isas
    }

    /// Its name, as `dial` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::NeonDot => "neon-dot",
            Isa::NeonI8mm => "neon-i8mm",
        }
    }

    /// The ISA named `name` ([`Isa::name`]; `scalar` is the portable path's old name).
    pub fn from_name(name: &str) -> Option<Isa> {
        match name {
            "portable" | "scalar" => Some(Isa::Portable),
            "avx2" => Some(Isa::Avx2),
            "avx512vnni" => Some(Isa::Avx512Vnni),
            "neon-dot" => Some(Isa::NeonDot),
            "neon-i8mm" => Some(Isa::NeonI8mm),
            _ => None,
        }
    }
}
