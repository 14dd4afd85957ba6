use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::{ParamError, SampleError};
use crate::kernels;
use crate::params::{Field, FieldKind, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Classifier-free guidance (HF's `UnbatchedClassifierFreeGuidanceLogitsProcessor`): the
/// prompt's row is pushed away from an unconditional one, a second sequence that starts
/// from a negative prompt and then follows the generated tokens.
///
/// With `ℓ = x − ln Σ e^x` the log-softmax of the prompt's row and `u` that of the
/// unconditional row, every token gets
///
/// `x′ = u + s·(ℓ − u)`
///
/// so `s = 1` is no guidance (dial then runs no second sequence, and nothing changes by a
/// bit), `s = 0` draws from the negative prompt alone, and `s > 1` steers away from it.
/// Without `negative_prompt` the unconditional sequence starts from the prompt's last
/// token, as HF does. It runs first in every chain; a token masked before it (a grammar)
/// stays masked.
///
/// A generation supplies the unconditional row ([`crate::Sampler::set_unconditional`]);
/// without one, a scale other than 1 is an error, never silently skipped.
///
/// # Example
/// ```
/// use dial_sampling::{Guidance, Knobs, Sampler};
/// let knobs = Knobs { guidance: Some(Guidance::new(0.0, None)?), ..Knobs::default() };
/// let mut sampler = Sampler::new(knobs, 0)?;
/// sampler.set_unconditional(&[0.0, 2.0, 0.0]);
/// let e = sampler.explain(&[5.0, 0.0, 0.0])?; // s = 0: the unconditional row alone
/// assert!(e.probability(1) > 0.7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Guidance {
    scale: f32,
    negative_prompt: Option<Vec<u32>>,
}

impl Guidance {
    /// Guidance of strength `scale` (finite, in [0, 100]) against `negative_prompt` (its
    /// tokens, without BOS; `None`: the prompt's last token).
    pub fn new(scale: f32, negative_prompt: Option<Vec<u32>>) -> Result<Self, ParamError> {
        if !(0.0..=100.0).contains(&scale) {
            return Err(ParamError::new(
                "guidance",
                "guidance_scale",
                scale,
                "a number in [0, 100]",
            ));
        }
        Ok(Guidance {
            scale,
            negative_prompt,
        })
    }

    /// The scale `s`.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Whether it changes anything: `s ≠ 1`.
    pub fn is_active(&self) -> bool {
        self.scale != 1.0
    }

    /// The negative prompt's tokens (without BOS), when one was given.
    pub fn negative_prompt(&self) -> Option<&[u32]> {
        self.negative_prompt.as_deref()
    }

    /// `u + s·(ℓ − u)` for one token, from its logit `x`, its unconditional logit `y` and
    /// the two rows' `ln Σ e`.
    fn guided(&self, x: f32, y: f32, ln_z: f64, ln_z_unconditional: f64) -> f32 {
        let l = f64::from(x) - ln_z;
        let u = f64::from(y) - ln_z_unconditional;
        (u + f64::from(self.scale) * (l - u)) as f32
    }
}

impl KnobImpl for Guidance {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::Guidance,
        "Classifier-free guidance: log-softmax rows u + s·(ℓ − u), ℓ the prompt's and u a negative prompt's, run as a second sequence.",
        Phase::Edit(0),
        &[
            Field::number(
                "guidance_scale",
                Range::closed(0.0, 100.0),
                "a number in [0, 100]",
                "Classifier-free guidance strength s (1 = off; 0 = the negative prompt alone; above 1 steers away from it).",
            )
            .off(1.0)
            .slider(0.0, 5.0, 0.05),
            Field::other(
                "negative_prompt",
                FieldKind::Text,
                "a string",
                "What guidance steers away from (default: the prompt's last token, as HF).",
            ),
        ],
    );

    fn from_params(
        params: &SamplingParams,
        tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let negative = params.text("negative_prompt");
        let Some(scale) = params.number("guidance_scale") else {
            return match negative {
                Some(_) => Err(ParamError::new(
                    "guidance",
                    "negative_prompt",
                    "set",
                    "to come with guidance_scale",
                )),
                None => Ok(None),
            };
        };
        let tokens = match (negative, tokenize) {
            (None, _) => None,
            (Some(text), Some(vocabulary)) => Some(vocabulary.encode(text)),
            (Some(_), None) => {
                return Err(ParamError::new(
                    "guidance",
                    "negative_prompt",
                    "set",
                    "a model: the negative prompt is tokenized",
                ));
            }
        };
        Guidance::new(scale as f32, tokens).map(Some)
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        if !self.is_active() {
            return Ok(Applied::default());
        }
        let Some(unconditional) = ctx.unconditional else {
            return Err(SampleError::NoUnconditional("none was given"));
        };
        if unconditional.len() != w.vocab {
            return Err(SampleError::NoUnconditional("its length is not the vocabulary's"));
        }
        let isa = w.isa.unwrap_or(kernels::Isa::Scalar);
        let ln_z_unconditional = kernels::log_sum_exp(unconditional, 1.0, isa);
        if w.dense.is_some() {
            w.make_editable(input);
            let ln_z = kernels::log_sum_exp(&w.edited, 1.0, isa);
            for (x, &y) in w.edited.iter_mut().zip(unconditional) {
                if *x > f32::NEG_INFINITY {
                    *x = self.guided(*x, y, ln_z, ln_z_unconditional);
                }
            }
            w.rescan_edited("guidance")?;
        } else {
            let offset = w.offset;
            let ln_z = w
                .ys
                .iter()
                .map(|&y| f64::from(y) + offset)
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = w
                .ys
                .iter()
                .map(|&y| (f64::from(y) + offset - ln_z).exp())
                .sum();
            let ln_z = ln_z + sum.ln();
            let ids = w.ids.clone();
            for id in ids {
                let y = unconditional[id as usize];
                w.edit(id, |x| self.guided(x, y, ln_z, ln_z_unconditional));
            }
        }
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        match &self.negative_prompt {
            Some(n) => format!("s = {}, negative prompt of {} tokens", self.scale, n.len()),
            None => format!("s = {}, against the last prompt token", self.scale),
        }
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "guidance moved it below every other token".into()
    }
}
