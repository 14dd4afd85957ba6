//! The knobs, one per file. Each has a validating `new()`, documents its formula, its edges
//! and which reference implementation it follows, and implements [`KnobImpl`]: its request
//! fields with their ranges, how it is built from [`SamplingParams`], what it does to a
//! distribution, and how explain describes it. Adding a knob is one new file and one line
//! in the `knob_kinds!` registry below.

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

use crate::error::{ParamError, SampleError};
use crate::history::History;
use crate::params::{Field, SamplingParams};
use crate::rng::DialRng;
use crate::work::{Snapshot, Work};

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

/// A knob as the rest of dial sees it: one description, read by the CLI's flags, the
/// server's validation, the OpenAPI schema and explain (in the spirit of llama.cpp's
/// `llama_sampler_i`).
pub(crate) trait KnobImpl: Sized {
    /// Its name, summary and request fields.
    const SPEC: &'static KnobSpec;

    /// The knob the request's fields describe; `None` when they leave it off. Values were
    /// checked against each field's range when they were set.
    fn from_params(params: &SamplingParams) -> Result<Option<Self>, ParamError>;

    /// Transforms the working distribution.
    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult;

    /// Told the accepted token and the probability its distribution gave it (stateful
    /// knobs).
    fn accept(&mut self, _token: u32, _p: f64) {}

    /// A readable setting, e.g. `p = 0.9`.
    fn setting(&self) -> String;

    /// Why it removed token `i`, given the distribution it received.
    fn cut_reason(&self, i: usize, input: &Snapshot) -> String;
}

/// What a knob is and which request fields set it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct KnobSpec {
    /// The knob.
    pub kind: KnobKind,
    /// One sentence on what it does.
    pub summary: &'static str,
    /// The request fields that configure it (a field may inform several knobs, e.g.
    /// `temperature` is dynamic temperature's centre; it is listed once, by its first).
    pub fields: &'static [Field],
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

            /// Its description: summary and request fields.
            pub fn spec(self) -> &'static KnobSpec {
                match self { $(KnobKind::$kind => <$ty as KnobImpl>::SPEC,)* }
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

        /// Every knob's setting; `None` means off. Build it field by field with the knobs'
        /// validating constructors, or from a request with [`SamplingParams::knobs`].
        #[derive(Debug, Clone, Default, PartialEq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
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

            /// Tells a stateful knob the accepted token and the probability its
            /// distribution gave it.
            pub fn accept(&mut self, token: u32, p: f64) {
                match self { $(Knob::$kind(k) => k.accept(token, p),)* }
            }

            /// A readable setting, e.g. `p = 0.9`.
            pub fn setting(&self) -> String {
                match self { $(Knob::$kind(k) => k.setting(),)* }
            }

            /// Why this knob removed token `i`, given the distribution it received.
            pub fn cut_reason(&self, i: usize, input: &Snapshot) -> String {
                match self { $(Knob::$kind(k) => k.cut_reason(i, input),)* }
            }
        }

        impl Knobs {
            /// The set knobs, as chain entries, in `KnobKind::ALL` order.
            pub(crate) fn entries(&self) -> Vec<Knob> {
                let mut out = Vec::new();
                $(if let Some(k) = &self.$field { out.push(Knob::$kind(k.clone())); })*
                out
            }

            /// Every knob the request's fields turn on.
            pub(crate) fn from_params(params: &SamplingParams) -> Result<Knobs, ParamError> {
                Ok(Knobs { $($field: <$ty as KnobImpl>::from_params(params)?,)* })
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
