//! One request field: its name, aliases, type, range and help, as the CLI, the server's
//! validation, the OpenAPI schema and the playground read it.

use super::slider::Slider;

/// What values a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum FieldKind {
    /// A real number.
    Number,
    /// A signed integer.
    Integer,
    /// An unsigned 64-bit integer (the seed).
    Unsigned,
    /// `true` or `false`.
    Bool,
    /// A list of token ids.
    TokenIds,
    /// Token id → bias, as OpenAI's `logit_bias` object.
    TokenBiases,
    /// Token sequences with a bias each, as HF's `sequence_bias`: `[[[ids], bias], …]`.
    SequenceBiases,
    /// A list of strings.
    Strings,
    /// One string.
    Text,
}

/// A closed numeric range, optionally open at the bottom: `[min, max]` or `(min, max]`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Range {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
    /// Whether `min` itself is excluded.
    pub min_exclusive: bool,
}

impl Range {
    /// `[min, max]`.
    pub const fn closed(min: f64, max: f64) -> Self {
        Range {
            min,
            max,
            min_exclusive: false,
        }
    }

    /// `(min, max]`.
    pub const fn above(min: f64, max: f64) -> Self {
        Range {
            min,
            max,
            min_exclusive: true,
        }
    }

    /// Whether `x` lies in the range (NaN never does).
    pub fn contains(&self, x: f64) -> bool {
        let low = if self.min_exclusive {
            x > self.min
        } else {
            x >= self.min
        };
        low && x <= self.max
    }
}

/// One field of [`crate::SamplingParams`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Field {
    /// The name in requests and, with dashes, on the command line: `top_p`.
    pub name: &'static str,
    /// Other spellings accepted for it, e.g. llama.cpp's `repeat_penalty`.
    pub aliases: &'static [&'static str],
    /// Its type.
    pub kind: FieldKind,
    /// Valid values (for [`FieldKind::TokenBiases`], of each bias).
    pub range: Option<Range>,
    /// The value used when the field is absent but its knob is on.
    pub default: Option<f64>,
    /// The value that makes the knob do nothing.
    pub off: Option<f64>,
    /// One line for `--help`, the OpenAPI description and the playground.
    pub help: &'static str,
    /// What a valid value is, for error messages: `a number in [0, 2]`.
    pub expected: &'static str,
    /// A slider's span when it is narrower than the range (see [`Field::slider_span`]).
    pub slider: Option<Slider>,
}

impl Field {
    /// A numeric field with no default and no off value; the builders below add them.
    pub(crate) const fn number(
        name: &'static str,
        range: Range,
        expected: &'static str,
        help: &'static str,
    ) -> Self {
        Field {
            range: Some(range),
            ..Field::other(name, FieldKind::Number, expected, help)
        }
    }

    /// An integer field.
    pub(crate) const fn integer(
        name: &'static str,
        range: Range,
        expected: &'static str,
        help: &'static str,
    ) -> Self {
        Field {
            kind: FieldKind::Integer,
            ..Field::number(name, range, expected, help)
        }
    }

    /// A field of another kind, without a numeric range.
    pub(crate) const fn other(
        name: &'static str,
        kind: FieldKind,
        expected: &'static str,
        help: &'static str,
    ) -> Self {
        Field {
            name,
            aliases: &[],
            kind,
            range: None,
            default: None,
            off: None,
            help,
            expected,
            slider: None,
        }
    }

    /// With other accepted spellings.
    pub(crate) const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// With the value the knob uses when this field is absent.
    pub(crate) const fn default(mut self, value: f64) -> Self {
        self.default = Some(value);
        self
    }

    /// With the value that turns the knob off.
    pub(crate) const fn off(mut self, value: f64) -> Self {
        self.off = Some(value);
        self
    }

    /// With a slider narrower than the valid range.
    pub(crate) const fn slider(mut self, min: f64, max: f64, step: f64) -> Self {
        self.slider = Some(Slider::new(min, max, step));
        self
    }

    /// The slider a control should show for a numeric field: the one its knob names, or
    /// the whole range in steps of 0.01 (numbers) or 1 (integers). `None` for other kinds.
    pub fn slider_span(&self) -> Option<Slider> {
        if let Some(s) = self.slider {
            return Some(s);
        }
        let r = self.range?;
        match self.kind {
            FieldKind::Number => Some(Slider::new(r.min, r.max, 0.01)),
            FieldKind::Integer => Some(Slider::new(r.min, r.max, 1.0)),
            _ => None,
        }
    }

    /// Whether `name` is this field's name or one of its aliases (dashes read as `_`).
    pub fn answers_to(&self, name: &str) -> bool {
        let norm = name.replace('-', "_");
        self.name == norm || self.aliases.contains(&norm.as_str())
    }
}

#[cfg(test)]
mod tests {
    use crate::SamplingParams;

    #[test]
    fn every_slider_lies_inside_its_range_and_holds_the_off_and_default_values() {
        for field in SamplingParams::fields() {
            let (Some(range), Some(s)) = (field.range, field.slider_span()) else {
                continue;
            };
            assert!(s.min < s.max && s.step > 0.0, "{}: {s:?}", field.name);
            assert!(
                range.contains(s.max) && (range.contains(s.min) || s.min == range.min),
                "{}: {s:?} outside {range:?}",
                field.name
            );
            for v in [field.off, field.default].into_iter().flatten() {
                assert!(
                    (s.min..=s.max).contains(&v),
                    "{}: {v} off the slider",
                    field.name
                );
            }
        }
    }
}
