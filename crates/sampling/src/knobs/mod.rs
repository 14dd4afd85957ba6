//! The knobs, one per file. Each has a validating `new()` and documents its formula, its
//! edges and which reference implementation it follows.

mod allowed_tokens;
mod banned_tokens;
mod dry;
mod dynamic_temperature;
mod logit_bias;
mod min_p;
mod mirostat;
mod mirostat_v2;
mod penalties;
mod temperature;
mod top_k;
mod top_n_sigma;
mod top_p;
mod typical_p;
mod xtc;

pub use allowed_tokens::AllowedTokens;
pub use banned_tokens::BannedTokens;
pub use dry::Dry;
pub use dynamic_temperature::DynamicTemperature;
pub use logit_bias::LogitBias;
pub use min_p::MinP;
pub use mirostat::Mirostat;
pub use mirostat_v2::MirostatV2;
pub use penalties::{Penalties, PenaltyScope};
pub use temperature::Temperature;
pub use top_k::TopK;
pub use top_n_sigma::TopNSigma;
pub use top_p::TopP;
pub use typical_p::TypicalP;
pub use xtc::Xtc;

use crate::error::SampleError;
use crate::history::History;
use crate::rng::DialRng;
use crate::work::Work;

/// What a knob sees besides the distribution.
pub(crate) struct Ctx<'a> {
    pub history: &'a History,
    pub rng: &'a mut DialRng,
    /// `Σ e` of the incoming distribution when the trace is being recorded (dense view only).
    pub z_in: Option<f64>,
}

/// What applying a knob reported beyond the new state.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Applied {
    /// Mass (under the incoming distribution) the knob removed while staying dense.
    pub dense_removed_mass: f64,
}

pub(crate) type ApplyResult = Result<Applied, SampleError>;

/// Checks that every id is below `vocab`.
pub(crate) fn check_ids(
    ids: &[u32],
    vocab: usize,
    context: &'static str,
) -> Result<(), SampleError> {
    match ids.iter().find(|&&t| t as usize >= vocab) {
        Some(&token) => Err(SampleError::TokenOutOfRange {
            token,
            vocab,
            context,
        }),
        None => Ok(()),
    }
}

macro_rules! knob_kinds {
    ($($kind:ident => $name:literal, $ty:ident, $field:ident;)*) => {
        /// A knob's identity, used in orders and traces.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
        pub enum KnobKind { $($kind,)* }

        impl KnobKind {
            /// Every knob.
            pub const ALL: &'static [KnobKind] = &[$(KnobKind::$kind,)*];
            /// Every knob's name, comma-separated.
            pub const ALL_NAMES: &'static str = concat!($($name, " "),*);

            /// The knob's name: snake_case, as in orders, flags (with dashes) and traces.
            pub fn name(self) -> &'static str {
                match self { $(KnobKind::$kind => $name,)* }
            }
        }

        impl std::str::FromStr for KnobKind {
            type Err = crate::error::ConfigError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let norm = s.trim().replace('-', "_");
                match norm.as_str() {
                    $($name => Ok(KnobKind::$kind),)*
                    _ => Err(crate::error::ConfigError::UnknownKnob(s.to_string())),
                }
            }
        }

        impl std::fmt::Display for KnobKind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// Every knob's setting; `None` means off.
        #[derive(Debug, Clone, Default, PartialEq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
        pub struct Knobs { $(#[doc = concat!("`", $name, "`")] pub $field: Option<$ty>,)* }

        /// One configured knob in a chain.
        #[derive(Debug, Clone, PartialEq)]
        pub(crate) enum Knob { $($kind($ty),)* }

        impl Knob {
            pub fn kind(&self) -> KnobKind {
                match self { $(Knob::$kind(_) => KnobKind::$kind,)* }
            }

            pub fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
                match self { $(Knob::$kind(k) => k.apply(w, input, ctx),)* }
            }
        }

        impl Knobs {
            /// The set knobs, as chain entries, in `KnobKind::ALL` order.
            pub(crate) fn entries(&self) -> Vec<Knob> {
                let mut out = Vec::new();
                $(if let Some(k) = &self.$field { out.push(Knob::$kind(k.clone())); })*
                out
            }
        }
    };
}

knob_kinds! {
    LogitBias => "logit_bias", LogitBias, logit_bias;
    AllowedTokens => "allowed_tokens", AllowedTokens, allowed_tokens;
    BannedTokens => "banned_tokens", BannedTokens, banned_tokens;
    Penalties => "penalties", Penalties, penalties;
    Dry => "dry", Dry, dry;
    Temperature => "temperature", Temperature, temperature;
    DynamicTemperature => "dynamic_temperature", DynamicTemperature, dynamic_temperature;
    TopNSigma => "top_n_sigma", TopNSigma, top_n_sigma;
    TopK => "top_k", TopK, top_k;
    TopP => "top_p", TopP, top_p;
    MinP => "min_p", MinP, min_p;
    TypicalP => "typical_p", TypicalP, typical_p;
    Xtc => "xtc", Xtc, xtc;
    Mirostat => "mirostat", Mirostat, mirostat;
    MirostatV2 => "mirostat_v2", MirostatV2, mirostat_v2;
}

impl Knob {
    /// Tells a stateful knob the probability its distribution gave the accepted token.
    pub fn accept(&mut self, p: f64) {
        match self {
            Knob::Mirostat(m) => m.accept(p),
            Knob::MirostatV2(m) => m.accept(p),
            _ => {}
        }
    }
}
