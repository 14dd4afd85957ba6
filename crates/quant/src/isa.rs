//! Which instruction set the dot products run on, chosen at run time.

/// A kernel implementation. Every one gives the same bits as [`Isa::Scalar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust: the reference.
    Scalar,
    /// AVX2 and F16C: `vpmaddubsw` + `vpmaddwd` for the 4-value integer lanes.
    Avx2,
    /// AVX-512 (F, BW, DQ, VL) with VNNI: a pair of pieces per instruction, `vpdpbusd`
    /// for the 4-value integer lanes.
    Avx512Vnni,
}

impl Isa {
    /// The fastest this CPU has.
    pub fn detect() -> Isa {
        Isa::available().last().copied().unwrap_or(Isa::Scalar)
    }

    /// Every implementation this CPU can run, slowest first.
    pub fn available() -> Vec<Isa> {
        let mut isas = vec![Isa::Scalar];
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
        isas
    }

    /// Its name, as `dial` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512vnni",
        }
    }
}
