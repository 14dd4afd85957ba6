//! `speed ∈ [0.7, 1.2]` (ElevenLabs' range): how fast the voice speaks. It is not
//! stability: it scales every duration by the same factor,
//!
//! ```text
//! length_scale = voice's default length_scale / speed
//! ```
//!
//! so 1.2 is a fifth faster and 0.7 takes about 1.43× as long.

/// Why a speed cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("speed must be a number in [0.7, 1.2], got {0}")]
pub struct SpeedError(pub f64);

/// A checked speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed(f64);

impl Speed {
    /// The knob's name in requests.
    pub const NAME: &'static str = "speed";
    /// The slowest.
    pub const MIN: f64 = 0.7;
    /// The fastest.
    pub const MAX: f64 = 1.2;
    /// The voice's own pace.
    pub const DEFAULT: Speed = Speed(1.0);
    /// One line on what it does.
    pub const SUMMARY: &'static str = "How fast the voice speaks: every duration is divided by it (length_scale = default / speed).";

    /// `x` in `[0.7, 1.2]`; anything else (NaN included) is an error.
    pub fn new(x: f64) -> Result<Self, SpeedError> {
        if (Self::MIN..=Self::MAX).contains(&x) {
            Ok(Speed(x))
        } else {
            Err(SpeedError(x))
        }
    }

    /// The value.
    pub fn value(self) -> f64 {
        self.0
    }

    /// The length scale for a voice whose default is `default_length_scale`.
    pub fn length_scale(self, default_length_scale: f32) -> f32 {
        (f64::from(default_length_scale) / self.0) as f32
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn it_divides_the_length_scale_and_rejects_the_rest() {
        assert_eq!(Speed::DEFAULT.length_scale(1.0), 1.0);
        assert!((Speed::new(1.2).unwrap().length_scale(1.0) - 1.0 / 1.2).abs() < 1e-7);
        assert!((Speed::new(0.7).unwrap().length_scale(1.1) - 1.1 / 0.7).abs() < 1e-6);
        for bad in [0.69, 1.21, f64::NAN, -1.0] {
            assert!(Speed::new(bad).is_err(), "{bad}");
        }
    }
}
