use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::{ParamError, SampleError};
use crate::kernels;
use crate::params::{Field, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::{Dense, Work};

/// Temperature: `logit_i ← logit_i / T`, then softmax `p_i = exp(logit_i) / Σ_j exp(logit_j)`.
///
/// Low `T` sharpens the distribution ("cold = focused"), high `T` flattens it
/// ("hot = spread out"). Matches llama.cpp's `temp` and HF's `TemperatureLogitsWarper`.
///
/// Edges:
/// - `T = 0` is greedy: only the argmax survives, ties going to the lowest token id.
/// - `T < 0`, NaN and ±inf are rejected.
/// - Tiny `T` (e.g. `1e-6`) is applied as plain float math, `logit · (1/T)` in `f32` with
///   `1/T` capped at `f32::MAX`: never NaN. The max stays at probability ≈ 1.
/// - `T = 1` changes nothing.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, Temperature};
/// let logits = [1.3f32, 2.5, 0.7, 3.2, 0.2, 1.0];
/// let cold = Knobs { temperature: Some(Temperature::new(0.5)?), ..Knobs::default() };
/// let hot = Knobs { temperature: Some(Temperature::new(2.0)?), ..Knobs::default() };
/// let h_cold = Sampler::new(cold, 0)?.explain(&logits)?.entropy;
/// let h_hot = Sampler::new(hot, 0)?.explain(&logits)?.entropy;
/// assert!(h_cold < h_hot);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Temperature {
    t: f32,
}

impl Temperature {
    /// A temperature `t ≥ 0`, finite.
    pub fn new(t: f32) -> Result<Self, ParamError> {
        if t.is_finite() && t >= 0.0 {
            Ok(Temperature { t })
        } else {
            Err(ParamError::new("temperature", "t", t, "a finite value ≥ 0"))
        }
    }

    /// The temperature.
    pub fn value(&self) -> f32 {
        self.t
    }
}

impl KnobImpl for Temperature {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::Temperature,
        summary: "Divides the logits by T before softmax: low T sharpens, high T flattens; 0 is greedy.",
        fields: &[Field::number(
            "temperature",
            Range::closed(0.0, 2.0),
            "a number in [0, 2]",
            "Divide logits by T (0 = greedy, 1 = unchanged).",
        )
        .default(1.0)
        .off(1.0)],
        phase: Phase::Shape(0),
        conflicts: &[KnobKind::DynamicTemperature],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        if params.number("dynatemp_range").is_some_and(|r| r > 0.0)
            || super::dynamic_temperature::low_high(params)?.is_some()
        {
            return Ok(None); // dynamic temperature takes `temperature` as its centre
        }
        params
            .number("temperature")
            .map(|t| Temperature::new(t as f32))
            .transpose()
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if crate::mutants::active(crate::mutants::Mutant::TemperatureAfterSoftmax) {
            return Ok(Applied::default());
        }
        apply_temperature(self.t, w, input)?;
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("T = {}", self.t)
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "T = 0 keeps only the argmax".into()
    }
}

/// `1/T` in `f32`, capped so that `0 · (1/T)` is never NaN.
pub(crate) fn reciprocal(t: f32) -> f32 {
    (1.0 / t).min(f32::MAX)
}

/// Divides the current logits by `t` (`t = 0`: keep the argmax only).
pub(crate) fn apply_temperature(t: f32, w: &mut Work, input: &[f32]) -> Result<(), SampleError> {
    match w.dense {
        Some(d) if t == 0.0 => {
            let base = w.base(input, &d);
            let Some(best) = kernels::argmax(base) else {
                return Err(SampleError::AllMasked {
                    after: "temperature",
                });
            };
            let logit = base[best];
            w.dense = None;
            w.ids.clear();
            w.ys.clear();
            w.ids.push(best as u32);
            w.ys.push(0.0);
            w.offset = f64::from(logit) * f64::from(d.scale);
        }
        Some(d) => {
            w.dense = Some(Dense {
                scale: (d.scale * reciprocal(t)).min(f32::MAX),
                ..d
            });
        }
        None if t == 0.0 => w.keep_best_k(1),
        None => {
            // Shift the max to 0 first so it survives any 1/T; tokens pushed to -inf drop out.
            w.shift_max_to_zero();
            let r = reciprocal(t);
            for y in &mut w.ys {
                *y *= r;
            }
            w.offset *= f64::from(r);
            w.retain(|_, y| y > f32::NEG_INFINITY);
        }
    }
    Ok(())
}
