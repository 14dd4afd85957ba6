use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase};
use crate::error::ParamError;
use crate::params::{Field, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Adaptive-p: favour tokens whose probability is near a target, steering the average
/// probability of the chosen tokens towards it.
///
/// Follows llama.cpp's adaptive-p sampler (PR 17927) and text-generation-webui's copy.
/// With `p_i` the distribution it receives and an exponential moving average
/// `ā = W / T` of the probabilities (under that distribution) of the tokens chosen so far:
/// - the adapted target is `t′ = clamp(2·t − ā, 0, 1)`;
/// - each live token's logit becomes `5 − 10·δ² / (1 + δ)` with `δ = |p_i − t′| / 0.3`;
/// - after each accepted token, `W ← p + d·W` and `T ← 1 + d·T`, starting from
///   `W = t/(1 − d)`, `T = 1/(1 − d)` (as if the target had been met).
///
/// Stateful like mirostat, and last in every standard order. Removed tokens stay removed.
/// Edges: a negative target is off (llama.cpp's convention); `d ∈ [0, 0.99]`.
///
/// # Example
/// ```
/// use dial_sampling::{AdaptiveP, Knobs, Sampler};
/// let probs = [0.7f32, 0.2, 0.1];
/// let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
/// let knobs = Knobs { adaptive_p: Some(AdaptiveP::new(0.2, 0.9)?), ..Knobs::default() };
/// let explained = Sampler::new(knobs, 0)?.explain(&logits)?;
/// assert_eq!(explained.tokens[0].id, 1); // the token nearest p = 0.2 now leads
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AdaptiveP {
    target: f64,
    decay: f64,
    weighted_sum: f64,
    total_weight: f64,
    /// The incoming probabilities of the last step, by id ascending, for the update.
    #[cfg_attr(feature = "serde", serde(skip))]
    last: Vec<(u32, f64)>,
}

/// The width of the favoured band around the target.
const WIDTH: f64 = 0.3;
/// The logit of a token exactly at the target.
const PEAK: f64 = 5.0;
/// How steeply logits fall away from the target.
const SHARPNESS: f64 = 10.0;

impl AdaptiveP {
    /// Target `t ∈ [−1, 1]` (negative: off) and decay `d ∈ [0, 0.99]`.
    pub fn new(target: f64, decay: f64) -> Result<Self, ParamError> {
        if !(-1.0..=1.0).contains(&target) {
            return Err(ParamError::new(
                "adaptive_p",
                "adaptive_target",
                target,
                "a value in [-1, 1] (negative = off)",
            ));
        }
        if !(0.0..=0.99).contains(&decay) {
            return Err(ParamError::new(
                "adaptive_p",
                "adaptive_decay",
                decay,
                "a value in [0, 0.99]",
            ));
        }
        Ok(AdaptiveP {
            target,
            decay,
            weighted_sum: target / (1.0 - decay),
            total_weight: 1.0 / (1.0 - decay),
            last: Vec::new(),
        })
    }

    /// `(target, decay)`.
    pub fn value(&self) -> (f64, f64) {
        (self.target, self.decay)
    }

    /// The target this step aims at: `clamp(2·t − ā, 0, 1)`.
    pub fn adapted_target(&self) -> f64 {
        let average = if self.total_weight == 0.0 {
            self.target
        } else {
            self.weighted_sum / self.total_weight
        };
        (2.0 * self.target.clamp(0.0, 1.0) - average).clamp(0.0, 1.0)
    }

    /// The new logit of a token with probability `p` when aiming at `target`.
    pub fn logit(p: f64, target: f64) -> f64 {
        let delta = ((p - target) / WIDTH).abs();
        PEAK - SHARPNESS * delta * delta / (1.0 + delta)
    }
}

impl KnobImpl for AdaptiveP {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::AdaptiveP,
        "Favours tokens near a target probability and steers the chosen tokens' average towards it (llama.cpp's adaptive-p).",
        Phase::Target(2),
        &[
            Field::number(
                "adaptive_target",
                Range::closed(-1.0, 1.0),
                "a number in [-1, 1]",
                "Adaptive-p target probability (negative = off).",
            )
            .off(-1.0)
            .slider(-1.0, 1.0, 0.01),
            Field::number(
                "adaptive_decay",
                Range::closed(0.0, 0.99),
                "a number in [0, 0.99]",
                "Adaptive-p decay of the running average.",
            )
            .default(0.9),
        ],
    )
    .conflicts(&[KnobKind::Mirostat, KnobKind::MirostatV2]);

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        let decay = params.number("adaptive_decay");
        let Some(target) = params.number("adaptive_target") else {
            return match decay {
                Some(d) => Err(ParamError::new(
                    "adaptive_p",
                    "adaptive_decay",
                    d,
                    "to come with adaptive_target",
                )),
                None => Ok(None),
            };
        };
        AdaptiveP::new(target, decay.unwrap_or(0.9)).map(Some)
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], _ctx: &mut Ctx<'_>) -> ApplyResult {
        if self.target < 0.0 {
            return Ok(Applied::default());
        }
        w.materialize(input);
        let (z, _) = w.sparse_weights();
        let target = self.adapted_target();
        self.last.clear();
        for ((&id, y), &e) in w.ids.iter().zip(w.ys.iter_mut()).zip(&w.es) {
            let p = f64::from(e) / z;
            self.last.push((id, p));
            *y = Self::logit(p, target) as f32;
        }
        w.offset = 0.0;
        Ok(Applied::default())
    }

    fn accept(&mut self, token: u32, _p: f64) {
        if self.target < 0.0 {
            return;
        }
        let Ok(i) = self.last.binary_search_by_key(&token, |&(id, _)| id) else {
            return;
        };
        let p = self.last[i].1;
        self.weighted_sum = p + self.decay * self.weighted_sum;
        self.total_weight = 1.0 + self.decay * self.total_weight;
    }

    fn setting(&self) -> String {
        format!(
            "target = {}, decay = {}, aiming at {:.3}",
            self.target,
            self.decay,
            self.adapted_target()
        )
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "adaptive-p removes no token".into()
    }
}
