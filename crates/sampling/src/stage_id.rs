//! What a stage of the chain is, as traces and explanations name it.

use crate::error::ConfigError;
use crate::knobs::KnobKind;

/// A stage of the chain: a request knob, or a constraint built in code with the
/// vocabulary at hand (see [`crate::TokenConstraint`]).
///
/// It is written as its name: the knob's (`top_p`), or `grammar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StageId {
    /// A structured-output constraint (JSON Schema, regex, choice or grammar): the first
    /// stage of every chain it is in.
    Grammar,
    /// A knob set by request fields.
    Knob(KnobKind),
}

impl StageId {
    /// Its name: `grammar`, or the knob's.
    pub fn name(self) -> &'static str {
        match self {
            StageId::Grammar => "grammar",
            StageId::Knob(kind) => kind.name(),
        }
    }
}

impl From<KnobKind> for StageId {
    fn from(kind: KnobKind) -> Self {
        StageId::Knob(kind)
    }
}

impl PartialEq<KnobKind> for StageId {
    fn eq(&self, other: &KnobKind) -> bool {
        *self == StageId::Knob(*other)
    }
}

impl std::fmt::Display for StageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for StageId {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "grammar" => Ok(StageId::Grammar),
            knob => knob.parse().map(StageId::Knob),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for StageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for StageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let mut all = vec![StageId::Grammar];
        all.extend(KnobKind::ALL.iter().map(|&k| StageId::Knob(k)));
        for id in all {
            assert_eq!(id.name().parse::<StageId>().ok(), Some(id));
        }
        assert!("grammar_x".parse::<StageId>().is_err());
    }
}
