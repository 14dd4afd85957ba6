//! Where a control for a field should run: the part of its valid range people use.

/// A slider's span and step. It lies inside the field's [`crate::Range`]; values outside
/// it stay valid and are typed into the number box beside the slider.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Slider {
    /// Left end.
    pub min: f64,
    /// Right end.
    pub max: f64,
    /// Smallest move, and the arrow keys' step.
    pub step: f64,
}

impl Slider {
    /// `[min, max]` in steps of `step`.
    pub const fn new(min: f64, max: f64, step: f64) -> Self {
        Slider { min, max, step }
    }
}
