//! The knobs, one per file. Each has a validating `new()`, documents its formula, its edges
//! and which reference implementation it follows, and implements [`KnobImpl`]: its request
//! fields with their ranges, how it is built from [`SamplingParams`], what it does to a
//! distribution, and how explain describes it. Adding a knob is one new file and one line
//! in the `knob_kinds!` registry below.

pub use banned_strings::{MAX_BANNED_STRING_BYTES, MAX_BANNED_STRINGS};
pub use penalties::PenaltyScope;
pub use top_h::TOP_H_CANDIDATES;

use crate::error::{ParamError, SampleError};
use crate::history::History;
use crate::params::{Field, SamplingParams, Tokenize};
use crate::rng::DialRng;
use crate::work::{Snapshot, Work};

/// What a knob sees besides the distribution.
pub(crate) struct Ctx<'a> {
    pub history: &'a History,
    pub rng: &'a mut DialRng,
    /// `Σ e` of the incoming distribution when the trace is being recorded (dense view only).
    pub z_in: Option<f64>,
    /// The unconditional row classifier-free guidance steers away from, when a
    /// generation gave one.
    pub unconditional: Option<&'a [f32]>,
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

/// `min_keep` when it is at least 1.
pub(crate) fn check_min_keep(knob: &'static str, min_keep: usize) -> Result<usize, ParamError> {
    if min_keep == 0 {
        return Err(ParamError::new(
            knob,
            "min_keep",
            min_keep,
            "an integer ≥ 1",
        ));
    }
    Ok(min_keep)
}

/// A knob as the rest of dial sees it: one description, read by the CLI's flags, the
/// server's validation, the OpenAPI schema and explain (in the spirit of llama.cpp's
/// `llama_sampler_i`).
pub(crate) trait KnobImpl: Sized {
    /// Its name, summary and request fields.
    const SPEC: &'static KnobSpec;

    /// The knob the request's fields describe; `None` when they leave it off. Values were
    /// checked against each field's range when they were set. `tokenize` is the model's
    /// tokenizer when there is one; a set text field without it was refused before.
    fn from_params(
        params: &SamplingParams,
        tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError>;

    /// Transforms the working distribution.
    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult;

    /// Told the accepted token and the probability its distribution gave it (stateful
    /// knobs).
    fn accept(&mut self, _token: u32, _p: f64) {}

    /// How many times it stood aside for a constraint it conflicted with.
    fn yields(&self) -> usize {
        0
    }

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
    /// A field's [`crate::FieldKind`] says whether it holds token ids.
    pub fields: &'static [Field],
    /// Where it runs in the two standard orders.
    pub phase: Phase,
    /// Knobs that cannot be set together with it (checked both ways).
    pub conflicts: &'static [KnobKind],
    /// Whether building it reads the model's tokenizer (text fields, end-of-generation ids).
    pub needs_tokenizer: bool,
}

impl KnobSpec {
    /// A spec with no conflicts that needs no tokenizer.
    pub(crate) const fn new(
        kind: KnobKind,
        summary: &'static str,
        phase: Phase,
        fields: &'static [Field],
    ) -> Self {
        KnobSpec {
            kind,
            summary,
            fields,
            phase,
            conflicts: &[],
            needs_tokenizer: false,
        }
    }

    /// With knobs it cannot be set with.
    pub(crate) const fn conflicts(mut self, kinds: &'static [KnobKind]) -> Self {
        self.conflicts = kinds;
        self
    }
}

/// Where a knob runs in the standard orders. Within a phase, knobs run by rank, then in
/// registry order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Phase {
    /// Logit edits, masks and penalties: first in every order, on the model's logits.
    Edit(u8),
    /// Reshapers of the whole distribution (temperature and its kin): before the
    /// truncations in `temperature-first`, after them in `temperature-last`.
    Shape(u8),
    /// Truncations, with their rank in `temperature-first` and in `temperature-last`.
    Truncate {
        /// Rank in `temperature-first` (HF, vLLM).
        first: u8,
        /// Rank in `temperature-last` (llama.cpp).
        last: u8,
    },
    /// Stateful targets that steer the draw itself (mirostat, adaptive-p): last.
    Target(u8),
}

impl Phase {
    /// The sort key of this phase in a standard order (`temperature_last` picks which).
    pub(crate) fn key(self, temperature_last: bool) -> (u8, u8) {
        match self {
            Phase::Edit(r) => (0, r),
            Phase::Shape(r) => (if temperature_last { 2 } else { 1 }, r),
            Phase::Truncate { first, last } => {
                if temperature_last {
                    (1, last)
                } else {
                    (2, first)
                }
            }
            Phase::Target(r) => (3, r),
        }
    }
}

macro_rules! knob_kinds {
    ($($kind:ident => $name:literal, $field:ident::$ty:ident;)*) => {
        $(mod $field; pub use $field::$ty;)*

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

            /// How many times it stood aside for a constraint.
            pub fn yields(&self) -> usize {
                match self { $(Knob::$kind(k) => k.yields(),)* }
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
            pub(crate) fn from_params(
                params: &SamplingParams,
                tokenize: Option<Tokenize<'_>>,
            ) -> Result<Knobs, ParamError> {
                Ok(Knobs { $($field: <$ty as KnobImpl>::from_params(params, tokenize)?,)* })
            }
        }
    };
}

knob_kinds! {
    Guidance => "guidance", guidance::Guidance;
    LogitBias => "logit_bias", logit_bias::LogitBias;
    AllowedTokens => "allowed_tokens", allowed_tokens::AllowedTokens;
    BannedTokens => "banned_tokens", banned_tokens::BannedTokens;
    Penalties => "penalties", penalties::Penalties;
    Dry => "dry", dry::Dry;
    EndOfGeneration => "end_of_generation", end_of_generation::EndOfGeneration;
    NoRepeatNgram => "no_repeat_ngram", no_repeat_ngram::NoRepeatNgram;
    SequenceBias => "sequence_bias", sequence_bias::SequenceBias;
    BadWords => "bad_words", bad_words::BadWords;
    BannedStrings => "banned_strings", banned_strings::BannedStrings;
    Temperature => "temperature", temperature::Temperature;
    DynamicTemperature => "dynamic_temperature", dynamic_temperature::DynamicTemperature;
    Smoothing => "smoothing", smoothing::Smoothing;
    TopNSigma => "top_n_sigma", top_n_sigma::TopNSigma;
    TopK => "top_k", top_k::TopK;
    TopP => "top_p", top_p::TopP;
    MinP => "min_p", min_p::MinP;
    TypicalP => "typical_p", typical_p::TypicalP;
    EpsilonCutoff => "epsilon_cutoff", epsilon_cutoff::EpsilonCutoff;
    EtaCutoff => "eta_cutoff", eta_cutoff::EtaCutoff;
    Tfs => "tfs", tfs::TailFree;
    TopA => "top_a", top_a::TopA;
    TopH => "top_h", top_h::TopH;
    PLess => "p_less", p_less::PLess;
    PLessNorm => "p_less_norm", p_less_norm::PLessNorm;
    Xtc => "xtc", xtc::Xtc;
    Mirostat => "mirostat", mirostat::Mirostat;
    MirostatV2 => "mirostat_v2", mirostat_v2::MirostatV2;
    AdaptiveP => "adaptive_p", adaptive_p::AdaptiveP;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Order;

    #[test]
    fn every_knob_appears_once_in_every_standard_order() {
        for order in [Order::TemperatureFirst, Order::TemperatureLast] {
            let kinds = order.kinds();
            assert_eq!(kinds.len(), KnobKind::ALL.len(), "{order}");
            for kind in KnobKind::ALL {
                assert_eq!(
                    kinds.iter().filter(|k| *k == kind).count(),
                    1,
                    "{kind} in {order}"
                );
            }
        }
    }

    #[test]
    fn no_two_knobs_share_a_place_in_an_order() {
        for last in [false, true] {
            let mut keys: Vec<(u8, u8)> = KnobKind::ALL
                .iter()
                .map(|k| k.spec().phase.key(last))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), KnobKind::ALL.len(), "temperature_last = {last}");
        }
    }

    #[test]
    fn the_standard_orders_keep_their_published_sequence() {
        let names = |o: Order| {
            o.kinds()
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            names(Order::TemperatureFirst),
            "guidance,logit_bias,allowed_tokens,banned_tokens,penalties,dry,end_of_generation,\
             no_repeat_ngram,sequence_bias,bad_words,banned_strings,temperature,\
             dynamic_temperature,smoothing,top_n_sigma,top_k,top_p,min_p,typical_p,\
             epsilon_cutoff,eta_cutoff,tfs,top_a,top_h,p_less,p_less_norm,xtc,mirostat,\
             mirostat_v2,adaptive_p"
        );
        assert_eq!(
            names(Order::TemperatureLast),
            "guidance,logit_bias,allowed_tokens,banned_tokens,penalties,dry,end_of_generation,\
             no_repeat_ngram,sequence_bias,bad_words,banned_strings,top_n_sigma,top_k,\
             typical_p,top_p,min_p,epsilon_cutoff,eta_cutoff,tfs,top_a,top_h,p_less,\
             p_less_norm,xtc,temperature,dynamic_temperature,smoothing,mirostat,mirostat_v2,\
             adaptive_p"
        );
    }

    #[test]
    fn conflicts_name_other_knobs_and_refuse_both_orders_of_setting() {
        for kind in KnobKind::ALL {
            for other in kind.spec().conflicts {
                assert_ne!(kind, other, "{kind} conflicts with itself");
            }
        }
        let knobs = Knobs {
            p_less: Some(PLess::new()),
            p_less_norm: Some(PLessNorm::new()),
            ..Knobs::default()
        };
        let err = crate::Sampler::new(knobs, 0).unwrap_err();
        assert_eq!(
            err,
            crate::ConfigError::Conflict("p_less", "p_less_norm"),
            "{err}"
        );
    }
}
