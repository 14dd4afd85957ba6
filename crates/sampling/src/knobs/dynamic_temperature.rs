use super::temperature::apply_temperature;
use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, FieldKind, Range, SamplingParams};
use crate::work::Snapshot;
use crate::work::Work;

/// Dynamic (entropy-scaled) temperature: the temperature follows the normalised entropy of
/// the incoming distribution,
/// `T_dyn = T_min + (T_max - T_min) · (H / ln n)^exponent`, with `T_min = max(0, T - range)`,
/// `T_max = T + range`, `H` the entropy in nats and `n` the number of live tokens; then
/// `logit_i ← logit_i / T_dyn`.
///
/// Follows llama.cpp's `temp_ext` (Zhu et al. 2023). Edges:
/// - `range = 0` is plain temperature `T`.
/// - A single live token is left as it is.
/// - `T_dyn = 0` is greedy, as for [`crate::Temperature`].
///
/// # Example
/// ```
/// use dial_sampling::{DynamicTemperature, Knobs, Sampler};
/// let knobs = Knobs {
///     dynamic_temperature: Some(DynamicTemperature::new(1.0, 0.5, 1.0)?),
///     ..Knobs::default()
/// };
/// let explained = Sampler::new(knobs, 0)?.explain(&[1.3, 2.5, 0.7, 3.2, 0.2, 1.0])?;
/// assert_eq!(explained.kept_ids().len(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DynamicTemperature {
    temperature: f32,
    range: f32,
    exponent: f32,
}

impl DynamicTemperature {
    /// Centre `temperature ≥ 0`, half-width `range ≥ 0`, `exponent ≥ 0`; all finite.
    pub fn new(temperature: f32, range: f32, exponent: f32) -> Result<Self, ParamError> {
        let check = |v: f32, name: &'static str| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(ParamError::new(
                    "dynamic_temperature",
                    name,
                    v,
                    "a finite value ≥ 0",
                ))
            }
        };
        check(temperature, "temperature")?;
        check(range, "range")?;
        check(exponent, "exponent")?;
        Ok(DynamicTemperature {
            temperature,
            range,
            exponent,
        })
    }

    /// `(temperature, range, exponent)`.
    pub fn value(&self) -> (f32, f32, f32) {
        (self.temperature, self.range, self.exponent)
    }
}

/// The range given by its ends, text-generation-webui's form: `Some((low, high))` when
/// `high > low` and the `dynamic_temperature` switch is not `false`. Equal ends are a
/// fixed temperature, which `temperature` already says, so the range is off.
pub(crate) fn low_high(params: &SamplingParams) -> Result<Option<(f64, f64)>, ParamError> {
    let (low, high) = (params.number("dynatemp_low"), params.number("dynatemp_high"));
    let switch = params.flag("dynamic_temperature");
    let (low, high) = match (low, high) {
        (None, None) => {
            return match switch {
                Some(true) => Err(ParamError::new(
                    "dynamic_temperature",
                    "dynamic_temperature",
                    true,
                    "to come with dynatemp_low and dynatemp_high",
                )),
                _ => Ok(None),
            };
        }
        (Some(l), Some(h)) => (l, h),
        (Some(l), None) | (None, Some(l)) => {
            let missing = if low.is_some() { "dynatemp_high" } else { "dynatemp_low" };
            return Err(ParamError::new(
                "dynamic_temperature",
                missing,
                l,
                "to be given with the other end of the range",
            ));
        }
    };
    if high < low {
        return Err(ParamError::new(
            "dynamic_temperature",
            "dynatemp_high",
            high,
            "to be at least dynatemp_low",
        ));
    }
    if switch == Some(false) || high == low {
        return Ok(None);
    }
    if params.number("dynatemp_range").is_some() {
        return Err(ParamError::new(
            "dynamic_temperature",
            "dynatemp_range",
            params.number("dynatemp_range").unwrap_or(0.0),
            "to be left out when dynatemp_low and dynatemp_high give the range",
        ));
    }
    Ok(Some((low, high)))
}

impl KnobImpl for DynamicTemperature {
    const SPEC: &'static KnobSpec = &KnobSpec {
        kind: KnobKind::DynamicTemperature,
        summary: "Picks T per step from the entropy, between temperature ± range (llama.cpp's dynatemp).",
        fields: &[
            Field::number(
                "dynatemp_range",
                Range::closed(0.0, 2.0),
                "a number in [0, 2]",
                "Dynamic temperature half-width around temperature (0 = off).",
            )
            .aliases(&["dynamic_temperature_range"])
            .off(0.0),
            Field::number(
                "dynatemp_exponent",
                Range::closed(0.0, 10.0),
                "a number in [0, 10]",
                "Dynamic temperature exponent on the normalised entropy.",
            )
            .aliases(&["dynamic_temperature_exponent"])
            .default(1.0)
            .slider(0.0, 4.0, 0.05),
            Field::number(
                "dynatemp_low",
                Range::closed(0.0, 4.0),
                "a number in [0, 4]",
                "Dynamic temperature's lowest T (with dynatemp_high; text-generation-webui).",
            )
            .slider(0.0, 2.0, 0.01),
            Field::number(
                "dynatemp_high",
                Range::closed(0.0, 4.0),
                "a number in [0, 4]",
                "Dynamic temperature's highest T (with dynatemp_low).",
            )
            .slider(0.0, 2.0, 0.01),
            Field::other(
                "dynamic_temperature",
                FieldKind::Bool,
                "true or false",
                "text-generation-webui's switch for dynatemp_low/high (false = off).",
            ),
        ],
        phase: Phase::Shape(1),
        conflicts: &[],
        needs_tokenizer: false,
    };

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<crate::params::Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let exponent = params.number("dynatemp_exponent");
        if let Some((low, high)) = low_high(params)? {
            let centre = (low + high) / 2.0;
            if let Some(t) = params.number("temperature")
                && (t - centre).abs() > 1e-9
            {
                return Err(ParamError::new(
                    "dynamic_temperature",
                    "temperature",
                    t,
                    "to be left out or equal (dynatemp_low + dynatemp_high) / 2 when the range is given by its ends",
                ));
            }
            let range = (high - low) / 2.0;
            return DynamicTemperature::new(
                centre as f32,
                range as f32,
                exponent.unwrap_or(1.0) as f32,
            )
            .map(Some);
        }
        let range = params.number("dynatemp_range").unwrap_or(0.0);
        if range <= 0.0 {
            return match exponent {
                Some(e) => Err(ParamError::new(
                    "dynamic_temperature",
                    "dynatemp_exponent",
                    e,
                    "to come with dynatemp_range > 0",
                )),
                None => Ok(None),
            };
        }
        let t = params.number("temperature").unwrap_or(1.0);
        DynamicTemperature::new(t as f32, range as f32, exponent.unwrap_or(1.0) as f32).map(Some)
    }
    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.range <= 0.0 {
            apply_temperature(self.temperature, w, input)?;
            return Ok(Applied::default());
        }
        w.materialize(input);
        if w.ids.len() <= 1 {
            return Ok(Applied::default());
        }
        let (z, _) = w.sparse_weights();
        let entropy: f64 =
            w.es.iter()
                .map(|&e| f64::from(e) / z)
                .filter(|&p| p > 0.0)
                .map(|p| -p * p.ln())
                .sum();
        let normalized = entropy / (w.ids.len() as f64).ln();
        let t_min = f64::from((self.temperature - self.range).max(0.0));
        let t_max = f64::from(self.temperature + self.range);
        let t = t_min + (t_max - t_min) * normalized.powf(f64::from(self.exponent));
        apply_temperature(t as f32, w, input)?;
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        let (t, range, exponent) = self.value();
        format!("T = {t} ± {range}, exponent {exponent}")
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "its logit fell to −inf".into()
    }
}
