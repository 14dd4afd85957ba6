use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Quadratic ("smooth") sampling: with `d = x − max` for each logit `x`,
/// `x′ = max − k·f·d² + s·f·d³`, where `f` is the smoothing factor,
/// `k = (3 − c)/2` and `s = (c − 1)/2` for the smoothing curve `c`.
///
/// Follows text-generation-webui's `QuadraticSamplingLogitsWarper` (PR 5403; also in
/// koboldcpp). A small `f` flattens the head and sinks the tail; a large one sharpens.
/// `c = 1` is the plain quadratic; a larger `c` steepens the tail with the cubic term.
/// Edges:
/// - `f = 0` is off.
/// - For `c ≤ 3` the order of tokens never changes; above 3 tokens close to the top can
///   pass it (as in the reference), and the new max is found again.
/// - A logit sent to `−∞` (or NaN by overflow) is removed.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, Smoothing};
/// let logits = [2.0f32, 1.0, 0.0];
/// let knobs = Knobs { smoothing: Some(Smoothing::new(0.5, 1.0)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// let by_id = |id| explained.tokens.iter().find(|t| t.id == id).unwrap().logit;
/// assert!((by_id(1) - 1.5).abs() < 1e-6 && (by_id(2) - 0.0).abs() < 1e-6); // 2 − 0.5·d²
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Smoothing {
    factor: f64,
    curve: f64,
}

impl Smoothing {
    /// Factor `f ∈ [0, 100]` and curve `c ∈ [1, 10]`.
    pub fn new(factor: f64, curve: f64) -> Result<Self, ParamError> {
        if !(0.0..=100.0).contains(&factor) {
            return Err(ParamError::new(
                "smoothing",
                "smoothing_factor",
                factor,
                "a value in [0, 100]",
            ));
        }
        if !(1.0..=10.0).contains(&curve) {
            return Err(ParamError::new(
                "smoothing",
                "smoothing_curve",
                curve,
                "a value in [1, 10]",
            ));
        }
        Ok(Smoothing { factor, curve })
    }

    /// `(f, c)`.
    pub fn value(&self) -> (f64, f64) {
        (self.factor, self.curve)
    }

    /// The new logit for a logit `d` below the max (`d ≤ 0`), relative to the max.
    pub fn shift(&self, d: f64) -> f64 {
        let k = (3.0 - self.curve) / 2.0;
        let s = if crate::mutants::active(crate::mutants::Mutant::SmoothingWithoutCube) {
            0.0
        } else {
            (self.curve - 1.0) / 2.0
        };
        let out = -k * self.factor * d * d + s * self.factor * d * d * d;
        if out.is_nan() { f64::NEG_INFINITY } else { out }
    }
}

impl KnobImpl for Smoothing {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::Smoothing,
        "Quadratic sampling: bends the logits around the top one, x′ = max − k·f·d² + s·f·d³.",
        Phase::Shape(2),
        &[
            Field::number(
                "smoothing_factor",
                Range::closed(0.0, 100.0),
                "a number in [0, 100]",
                "Quadratic sampling factor f (0 = off).",
            )
            .off(0.0)
            .slider(0.0, 5.0, 0.01),
            Field::number(
                "smoothing_curve",
                Range::closed(1.0, 10.0),
                "a number in [1, 10]",
                "Quadratic sampling curve c (1 = plain quadratic).",
            )
            .default(1.0)
            .slider(1.0, 5.0, 0.05),
        ],
    );

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let curve = params.number("smoothing_curve");
        let Some(factor) = params.number("smoothing_factor") else {
            return match curve {
                Some(c) => Err(ParamError::new(
                    "smoothing",
                    "smoothing_curve",
                    c,
                    "to come with smoothing_factor",
                )),
                None => Ok(None),
            };
        };
        Smoothing::new(factor, curve.unwrap_or(1.0)).map(Some)
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.factor == 0.0 {
            return Ok(Applied::default());
        }
        if w.dense.is_some() {
            w.make_editable(input);
            let max = w.dense.map_or(0.0, |d| f64::from(d.max));
            for x in &mut w.edited {
                if *x > f32::NEG_INFINITY {
                    *x = (max + self.shift(f64::from(*x) - max)) as f32;
                }
            }
            w.rescan_edited("smoothing")?;
        } else {
            let ymax = w.sparse_max();
            for y in &mut w.ys {
                *y = (f64::from(ymax) + self.shift(f64::from(*y - ymax))) as f32;
            }
            w.retain(|_, y| y > f32::NEG_INFINITY);
            if w.ids.is_empty() {
                return Err(crate::error::SampleError::AllMasked { after: "smoothing" });
            }
        }
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("f = {}, c = {}", self.factor, self.curve)
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "its logit fell to −∞ under the quadratic transform".into()
    }
}
