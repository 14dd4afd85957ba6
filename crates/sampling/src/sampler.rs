//! The chain and the sampler that runs it.

use crate::error::{ConfigError, SampleError};
use crate::history::History;
use crate::kernels::{self, Isa};
use crate::knobs::{Applied, Ctx, Knob, KnobKind, Knobs};
use crate::rng::DialRng;
use crate::sampler_state::SamplerState;
use crate::stage_id::StageId;
use crate::token_constraint::TokenConstraint;
use crate::work::{Snapshot, Stats, Work, by_key};

/// The order knobs run in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Order {
    /// HF / vLLM / OpenAI style, the default: logit edits, masks and penalties, then
    /// temperature and the other reshapers, then the truncations (`top_n_sigma, top_k,
    /// top_p, min_p, typical_p`, the newer ones, `xtc`), then mirostat and adaptive-p.
    /// Each knob's [`crate::Phase`] places it.
    #[default]
    TemperatureFirst,
    /// llama.cpp's default chain: the edits, the truncations (`typical_p` before `top_p`),
    /// then temperature and the other reshapers, then mirostat and adaptive-p.
    TemperatureLast,
    /// Exactly these knobs, in this order. Every set knob must appear once.
    Custom(Vec<KnobKind>),
}

impl Order {
    /// The full sequence of knob kinds this order runs (unset knobs are skipped). The
    /// standard orders sort every knob by its [`crate::Phase`], then by registry order.
    pub fn kinds(&self) -> Vec<KnobKind> {
        let temperature_last = match self {
            Order::TemperatureFirst => false,
            Order::TemperatureLast => true,
            Order::Custom(kinds) => return kinds.clone(),
        };
        let mut out = KnobKind::ALL.to_vec();
        out.sort_by_key(|k| k.spec().phase.key(temperature_last));
        out
    }

    /// The name used on the command line.
    pub fn name(&self) -> String {
        match self {
            Order::TemperatureFirst => "temperature-first".into(),
            Order::TemperatureLast => "temperature-last".into(),
            Order::Custom(k) => k.iter().map(|k| k.name()).collect::<Vec<_>>().join(","),
        }
    }
}

impl std::fmt::Display for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl std::str::FromStr for Order {
    type Err = ConfigError;

    /// `temperature-first`, `temperature-last`, or a comma-separated list of knob names.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "temperature-first" | "temperature_first" => Ok(Order::TemperatureFirst),
            "temperature-last" | "temperature_last" => Ok(Order::TemperatureLast),
            list => list
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(str::parse)
                .collect::<Result<Vec<_>, _>>()
                .map(Order::Custom),
        }
    }
}

/// Builds the ordered chain, checking conflicts and custom orders.
pub(crate) fn build_chain(knobs: &Knobs, order: &Order) -> Result<Vec<Knob>, ConfigError> {
    let entries = knobs.entries();
    for a in &entries {
        for b in &entries {
            if a.kind().spec().conflicts.contains(&b.kind()) {
                return Err(ConfigError::Conflict(a.kind().name(), b.kind().name()));
            }
        }
    }
    let kinds = order.kinds();
    for (i, k) in kinds.iter().enumerate() {
        if kinds[..i].contains(k) {
            return Err(ConfigError::DuplicateInOrder(k.name()));
        }
    }
    if let Some(missing) = entries.iter().find(|e| !kinds.contains(&e.kind())) {
        return Err(ConfigError::MissingFromOrder(missing.kind().name()));
    }
    Ok(kinds
        .iter()
        .filter_map(|k| entries.iter().find(|e| e.kind() == *k).cloned())
        .collect())
}

/// One stage of the per-stage trace.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StageTrace {
    /// The stage: a knob, or `grammar`.
    pub stage: StageId,
    /// Tokens this stage removed.
    pub removed: usize,
    /// Tokens live after it.
    pub remaining: usize,
    /// Probability mass, under the distribution entering the stage, of the tokens it kept.
    pub mass_kept: f64,
    /// Entropy in nats of the distribution after the stage.
    pub entropy: f64,
}

/// A kept token of an [`Explanation`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TokenProb {
    /// Token id.
    pub id: u32,
    /// Its logit after the chain (temperature and edits applied).
    pub logit: f64,
    /// Its probability in the processed distribution.
    pub prob: f64,
    /// Its probability in the raw distribution `softmax(logits)`.
    pub raw_prob: f64,
}

/// The processed distribution without a draw: what `sample` would draw from next.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Explanation {
    /// Kept tokens, by processed probability descending (ties: lowest id first).
    pub tokens: Vec<TokenProb>,
    /// How many tokens were finite in the input.
    pub live_raw: usize,
    /// Raw probability mass of the kept set.
    pub kept_mass_raw: f64,
    /// Entropy (nats) of `softmax(logits)`.
    pub entropy_raw: f64,
    /// Entropy (nats) of the processed distribution.
    pub entropy: f64,
    /// One entry per stage, in order.
    pub trace: Vec<StageTrace>,
}

impl Explanation {
    /// Kept token ids, ascending.
    pub fn kept_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.tokens.iter().map(|t| t.id).collect();
        ids.sort_unstable();
        ids
    }

    /// Processed probability of `id` (0 when cut).
    pub fn probability(&self, id: u32) -> f64 {
        self.tokens
            .iter()
            .find(|t| t.id == id)
            .map_or(0.0, |t| t.prob)
    }
}

/// An alternative token of a [`Draw`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Alternative {
    /// Token id.
    pub id: u32,
    /// Log-probability in the processed distribution.
    pub logprob: f64,
    /// Log-probability in the raw distribution.
    pub raw_logprob: f64,
}

/// One of the most likely tokens of the raw distribution `softmax(logits)`, whatever the
/// knobs kept: what OpenAI-style `top_logprobs` report.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RawAlternative {
    /// Token id.
    pub id: u32,
    /// Log-probability in the raw distribution.
    pub raw_logprob: f64,
}

/// One drawn token with everything about its distribution.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Draw {
    /// The drawn token.
    pub token: u32,
    /// Its log-probability in the processed distribution.
    pub logprob: f64,
    /// Its log-probability in the raw distribution `softmax(logits)`.
    pub raw_logprob: f64,
    /// The most likely kept tokens (up to `top_logprobs`), processed probability descending.
    pub alternatives: Vec<Alternative>,
    /// The most likely tokens before any knob (up to `top_logprobs`), raw probability
    /// descending (ties: lowest id first).
    pub raw_alternatives: Vec<RawAlternative>,
    /// Size of the kept set.
    pub kept: usize,
    /// Raw probability mass of the kept set.
    pub kept_mass_raw: f64,
    /// Entropy (nats) before any knob.
    pub entropy_raw: f64,
    /// Entropy (nats) of the processed distribution.
    pub entropy: f64,
    /// One entry per stage, in order.
    pub trace: Vec<StageTrace>,
}

/// A named token's log-probabilities at one step ([`Sampler::logprobs_of`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NamedLogprob {
    /// Token id.
    pub id: u32,
    /// Log-probability in the processed distribution (`−∞` when cut).
    pub logprob: f64,
    /// Log-probability in the raw distribution.
    pub raw_logprob: f64,
}

/// The lean result of [`Sampler::sample_token`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Token {
    /// The drawn token.
    pub id: u32,
    /// Its log-probability in the processed distribution.
    pub logprob: f64,
    /// Size of the kept set.
    pub kept: usize,
}

/// When the two standard orders keep different tokens for one input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OrderDifference {
    /// Kept ids under `temperature-first`, ascending.
    pub temperature_first: Vec<u32>,
    /// Kept ids under `temperature-last`, ascending.
    pub temperature_last: Vec<u32>,
}

/// A configured chain with its seeded random stream and its history.
///
/// The chain is the constraints added with [`Sampler::add_constraint`] (a grammar), then
/// the knobs in their order.
///
/// - [`Sampler::sample`] draws a token with its full report and accepts it.
/// - [`Sampler::sample_token`] draws and accepts, computing only what the draw needs.
/// - [`Sampler::explain`] shows the processed distribution without drawing or changing state.
#[derive(Debug)]
pub struct Sampler {
    knobs: Knobs,
    order: Order,
    chain: Vec<Knob>,
    /// Constraints as they run, and as they were added (for `reset`).
    constraints: Vec<Box<dyn TokenConstraint>>,
    pristine: Vec<Box<dyn TokenConstraint>>,
    seed: u64,
    rng: DialRng,
    history: History,
    work: Work,
    isa: Isa,
    top_logprobs: usize,
    upcast: Vec<f32>,
    last_prob: Option<(u32, f64)>,
    /// The unconditional row for guidance, when a generation gave one.
    unconditional: Option<Vec<f32>>,
}

/// Raw-distribution facts for the report.
#[derive(Debug, Clone, Copy)]
struct Raw {
    max: f32,
    ln_z: f64,
    stats: Stats,
}

impl Raw {
    fn logprob(&self, input: &[f32], id: u32) -> f64 {
        f64::from(input[id as usize] - self.max) - self.ln_z
    }
}

impl Sampler {
    /// A sampler with the default order (`temperature-first`).
    pub fn new(knobs: Knobs, seed: u64) -> Result<Self, ConfigError> {
        Self::with_order(knobs, Order::default(), seed)
    }

    /// A sampler running `knobs` in `order`.
    pub fn with_order(knobs: Knobs, order: Order, seed: u64) -> Result<Self, ConfigError> {
        let chain = build_chain(&knobs, &order)?;
        Ok(Sampler {
            knobs,
            order,
            chain,
            constraints: Vec::new(),
            pristine: Vec::new(),
            seed,
            rng: DialRng::new(seed),
            history: History::default(),
            work: Work::default(),
            isa: Isa::chosen(),
            top_logprobs: 5,
            upcast: Vec::new(),
            last_prob: None,
            unconditional: None,
        })
    }

    /// Forces an instruction set (e.g. `Isa::Scalar` to check SIMD paths). Unsupported
    /// choices fall back to the best supported one.
    pub fn set_isa(&mut self, isa: Isa) {
        self.isa = isa;
    }

    /// How many alternatives [`Draw::alternatives`] lists (default 5).
    pub fn set_top_logprobs(&mut self, n: usize) {
        self.top_logprobs = n;
    }

    /// The knobs.
    pub fn knobs(&self) -> &Knobs {
        &self.knobs
    }

    /// The order.
    pub fn order(&self) -> &Order {
        &self.order
    }

    /// The knob kinds in the order they run.
    pub fn chain(&self) -> Vec<KnobKind> {
        self.chain.iter().map(Knob::kind).collect()
    }

    /// The knobs that stood aside for a constraint they conflicted with (e.g. `min_tokens`
    /// when a grammar allows only an end), and how many times.
    pub fn yields(&self) -> Vec<(KnobKind, usize)> {
        self.chain
            .iter()
            .map(|k| (k.kind(), k.yields()))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// Every stage in the order it runs: the constraints, then the knobs.
    pub fn stages(&self) -> Vec<StageId> {
        let constraints = self.constraints.iter().map(|c| c.stage());
        constraints
            .chain(self.chain.iter().map(|k| StageId::Knob(k.kind())))
            .collect()
    }

    /// Adds a constraint (built with the model's vocabulary, e.g. by dial-grammar) ahead
    /// of every knob and of the constraints added before it. [`Sampler::reset`] brings it
    /// back to the state it was added in.
    pub fn add_constraint(&mut self, constraint: Box<dyn TokenConstraint>) {
        self.pristine.push(constraint.boxed_clone());
        self.constraints.push(constraint);
    }

    /// Whether a constraint is in the chain.
    pub fn is_constrained(&self) -> bool {
        !self.constraints.is_empty()
    }

    /// Computes the constraints' masks for the next draw now (otherwise the draw does): an
    /// engine calls it for many sequences in parallel, or while the model runs.
    ///
    /// # Errors
    /// [`SampleError::Constraint`] when a constraint cannot go on.
    pub fn compute_masks(&mut self) -> Result<(), SampleError> {
        self.constraints
            .iter_mut()
            .try_for_each(|c| c.compute_mask())
    }

    /// Whether a constraint says the output is complete: only end-of-generation may follow.
    pub fn is_complete(&self) -> bool {
        self.constraints.iter().any(|c| c.is_complete())
    }

    /// Prompt and accepted tokens.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Sets the prompt (seen by penalties and DRY) and clears generated tokens.
    pub fn set_prompt(&mut self, tokens: &[u32]) {
        self.history.set_prompt(tokens);
    }

    /// Back to the state right after construction with `seed`: fresh stream, empty history,
    /// stateful knobs reset.
    pub fn reset(&mut self, seed: u64) {
        self.seed = seed;
        self.rng = DialRng::new(seed);
        self.history = History::default();
        self.last_prob = None;
        self.constraints = self.pristine.clone();
        if let Ok(chain) = build_chain(&self.knobs, &self.order) {
            self.chain = chain;
        }
    }

    /// The unconditional row classifier-free guidance steers away from at the next draws:
    /// the negative prompt's next-token logits (a generation runs that sequence).
    pub fn set_unconditional(&mut self, logits: &[f32]) {
        let row = self.unconditional.get_or_insert_with(Vec::new);
        row.clear();
        row.extend_from_slice(logits);
    }

    /// Its state between draws, to [`Sampler::restore`] later.
    pub fn state(&self) -> SamplerState {
        SamplerState {
            rng: self.rng.clone(),
            chain: self.chain.clone(),
            constraints: self.constraints.clone(),
            generated: self.history.generated().len(),
            last_prob: self.last_prob,
        }
    }

    /// Returns to `state`, taken from this sampler: the tokens generated since are forgotten,
    /// and the next draw is the one that followed it (a rewind).
    pub fn restore(&mut self, state: SamplerState) {
        self.rng = state.rng;
        self.chain = state.chain;
        self.constraints = state.constraints;
        self.history.truncate(state.generated);
        self.last_prob = state.last_prob;
    }

    /// Bans `token` from the next draw and from every later draw at this position after a
    /// [`Sampler::restore`] to here (the `banned_strings` rewind). `false` when the chain
    /// has no `banned_strings` stage to hold the ban.
    pub fn forbid_here(&mut self, token: u32) -> bool {
        let position = self.history.generated().len();
        match self.chain.iter_mut().find_map(|k| match k {
            Knob::BannedStrings(b) => Some(b),
            _ => None,
        }) {
            Some(bans) => {
                bans.forbid(position, token);
                true
            }
            None => false,
        }
    }

    /// Records `token` as generated: constraints advance past it, penalties and DRY will
    /// see it, and mirostat updates `μ` with the probability the last draw gave it.
    ///
    /// # Errors
    /// [`SampleError::Constraint`] when a constraint does not allow `token`; nothing is
    /// recorded then.
    pub fn accept(&mut self, token: u32) -> Result<(), SampleError> {
        let drawn = self.last_prob.take().filter(|&(id, _)| id == token);
        for constraint in &mut self.constraints {
            constraint.accept(token, drawn.map(|(_, p)| p))?;
        }
        self.history.push(token);
        if let Some((_, p)) = drawn {
            for knob in &mut self.chain {
                knob.accept(token, p);
            }
        }
        Ok(())
    }

    /// Draws a token with the full report (trace, alternatives, raw log-probabilities) and
    /// accepts it.
    pub fn sample(&mut self, logits: &[f32]) -> Result<Draw, SampleError> {
        let mut rng = self.rng.clone();
        let mut trace = Vec::with_capacity(self.chain.len());
        let raw = self.run(logits, &mut rng, Some(&mut trace), None)?;
        let u = rng.uniform();
        let (token, prob) = self.draw_from_state(logits, u)?;
        let alternatives = self.alternatives(logits, &raw);
        let raw_alternatives = self.raw_alternatives(logits, &raw);
        let report = self.report(logits, raw, trace, false)?;
        self.rng = rng;
        let draw = Draw {
            token,
            logprob: prob.ln(),
            raw_logprob: raw.logprob(logits, token),
            alternatives,
            raw_alternatives,
            kept: report.tokens_len,
            kept_mass_raw: report.kept_mass_raw,
            entropy_raw: raw.stats.sums.entropy(),
            entropy: report.entropy,
            trace: report.trace,
        };
        self.last_prob = Some((token, prob));
        self.accept(token)?;
        Ok(draw)
    }

    /// Draws and accepts a token, computing only what the draw needs.
    pub fn sample_token(&mut self, logits: &[f32]) -> Result<Token, SampleError> {
        let mut rng = self.rng.clone();
        self.run(logits, &mut rng, None, None)?;
        let u = rng.uniform();
        let (id, prob) = self.draw_from_state(logits, u)?;
        self.rng = rng;
        let kept = self.work.live();
        self.last_prob = Some((id, prob));
        self.accept(id)?;
        Ok(Token {
            id,
            logprob: prob.ln(),
            kept,
        })
    }

    /// The raw and processed log-probabilities of `ids` at the step just drawn: call it
    /// right after [`Sampler::sample`] or [`Sampler::sample_token`] with the same `logits`.
    /// A token the chain cut has a processed log-probability of `−∞`.
    ///
    /// # Errors
    /// [`SampleError::TokenOutOfRange`] for an id past the row.
    pub fn logprobs_of(
        &mut self,
        logits: &[f32],
        ids: &[u32],
    ) -> Result<Vec<NamedLogprob>, SampleError> {
        crate::knobs::check_ids(ids, logits.len(), "logprob_token_ids")?;
        let isa = self.work.isa();
        let max = kernels::max(logits, isa);
        let ln_z = kernels::sweep_z(logits, max, 1.0, f32::INFINITY, None, isa).ln();
        let work = &mut self.work;
        let processed: Vec<f64> = match work.dense {
            Some(d) => {
                let base = work.base(logits, &d);
                let z = kernels::sweep_z(base, d.max, d.scale, f32::INFINITY, None, isa);
                // As the draw computes its own probability, so the two agree to the bit.
                ids.iter()
                    .map(|&id| {
                        (f64::from(kernels::exp((base[id as usize] - d.max) * d.scale)) / z).ln()
                    })
                    .collect()
            }
            None => {
                let (z, _) = work.sparse_weights();
                ids.iter()
                    .map(|&id| match work.ids.binary_search(&id) {
                        Ok(i) => (f64::from(work.es[i]) / z).ln(),
                        Err(_) => f64::NEG_INFINITY,
                    })
                    .collect()
            }
        };
        Ok(ids
            .iter()
            .zip(processed)
            .map(|(&id, logprob)| NamedLogprob {
                id,
                logprob,
                raw_logprob: f64::from(logits[id as usize] - max) - ln_z,
            })
            .collect())
    }

    /// [`Sampler::sample`] for f16 logits (upcast to f32).
    pub fn sample_f16(&mut self, logits: &[half::f16]) -> Result<Draw, SampleError> {
        let mut buf = std::mem::take(&mut self.upcast);
        buf.clear();
        buf.extend(logits.iter().map(|x| x.to_f32()));
        let out = self.sample(&buf);
        self.upcast = buf;
        out
    }

    /// [`Sampler::sample`] for bf16 logits (upcast to f32).
    pub fn sample_bf16(&mut self, logits: &[half::bf16]) -> Result<Draw, SampleError> {
        let mut buf = std::mem::take(&mut self.upcast);
        buf.clear();
        buf.extend(logits.iter().map(|x| x.to_f32()));
        let out = self.sample(&buf);
        self.upcast = buf;
        out
    }

    /// The processed distribution and its trace, without drawing: the random stream,
    /// history and knob state are left as they were, so the next `sample` draws from
    /// exactly this distribution.
    pub fn explain(&mut self, logits: &[f32]) -> Result<Explanation, SampleError> {
        let mut rng = self.rng.clone();
        let saved = self.chain.clone();
        let mut trace = Vec::with_capacity(self.chain.len());
        let raw = self.run(logits, &mut rng, Some(&mut trace), None);
        self.chain = saved;
        let raw = raw?;
        let report = self.report(logits, raw, trace, true)?;
        let mut tokens = report.tokens;
        tokens.sort_unstable_by(|a, b| b.prob.total_cmp(&a.prob).then(a.id.cmp(&b.id)));
        Ok(Explanation {
            tokens,
            live_raw: raw.stats.live,
            kept_mass_raw: report.kept_mass_raw,
            entropy_raw: raw.stats.sums.entropy(),
            entropy: report.entropy,
            trace: report.trace,
        })
    }

    /// Whether `temperature-first` and `temperature-last` keep different tokens for this
    /// input (with this sampler's knobs, history and stream). `None` when they agree.
    pub fn order_difference(
        &mut self,
        logits: &[f32],
    ) -> Result<Option<OrderDifference>, SampleError> {
        let mut kept = Vec::with_capacity(2);
        for order in [Order::TemperatureFirst, Order::TemperatureLast] {
            // Both orders hold every knob, so building cannot fail for knobs that built once.
            let Ok(chain) = build_chain(&self.knobs, &order) else {
                return Ok(None);
            };
            let mut probe = Sampler {
                knobs: self.knobs.clone(),
                order,
                chain,
                constraints: self.constraints.clone(),
                pristine: Vec::new(),
                seed: self.seed,
                rng: self.rng.clone(),
                history: self.history.clone(),
                work: Work::default(),
                isa: self.isa,
                top_logprobs: 0,
                upcast: Vec::new(),
                last_prob: None,
                unconditional: self.unconditional.clone(),
            };
            kept.push(probe.explain(logits)?.kept_ids());
        }
        let last = kept.pop().unwrap_or_default();
        let first = kept.pop().unwrap_or_default();
        Ok((first != last).then_some(OrderDifference {
            temperature_first: first,
            temperature_last: last,
        }))
    }

    /// The whole distribution before the chain and after each stage, leaving every state
    /// as it was.
    pub(crate) fn snapshots(&mut self, logits: &[f32]) -> Result<Vec<Snapshot>, SampleError> {
        let mut rng = self.rng.clone();
        let saved = self.chain.clone();
        let mut snaps = Vec::with_capacity(self.chain.len() + 1);
        let ran = self.run(logits, &mut rng, None, Some(&mut snaps));
        self.chain = saved;
        ran.map(|_| snaps)
    }

    /// Every stage with its setting, in the order they run.
    pub(crate) fn stage_settings(&self) -> Vec<(StageId, String)> {
        let constraints = self.constraints.iter().map(|c| (c.stage(), c.setting()));
        constraints
            .chain(
                self.chain
                    .iter()
                    .map(|k| (StageId::Knob(k.kind()), k.setting())),
            )
            .collect()
    }

    /// Why stage `stage` (an index into [`Sampler::stages`]) removed token `i`, given the
    /// distribution it received.
    pub(crate) fn cut_reason(&self, stage: usize, i: usize, input: &Snapshot) -> String {
        match stage.checked_sub(self.constraints.len()) {
            None => self.constraints[stage].cut_reason(i as u32),
            Some(k) => self
                .chain
                .get(k)
                .map_or_else(String::new, |knob| knob.cut_reason(i, input)),
        }
    }

    /// Runs the chain on `logits`, leaving the processed distribution in `self.work`.
    /// With a trace, also returns the raw distribution's facts.
    fn run(
        &mut self,
        input: &[f32],
        rng: &mut DialRng,
        mut trace: Option<&mut Vec<StageTrace>>,
        mut snapshots: Option<&mut Vec<Snapshot>>,
    ) -> Result<Raw, SampleError> {
        let work = &mut self.work;
        work.start(input, self.isa)?;
        let mut raw = Raw {
            max: work.dense.map_or(0.0, |d| d.max),
            ln_z: 0.0,
            stats: Stats {
                sums: kernels::Sums::default(),
                live: work.live(),
            },
        };
        if let Some(out) = snapshots.as_deref_mut() {
            out.push(work.snapshot(input));
        }
        let mut in_stats = None;
        if trace.is_some() {
            let stats = work.stats(input);
            raw.ln_z = stats.sums.z.ln();
            raw.stats = stats;
            in_stats = Some(stats);
        }
        let n_constraints = self.constraints.len();
        for s in 0..n_constraints + self.chain.len() {
            let live_in = work.live();
            let dense_in = work.dense;
            if trace.is_some() && dense_in.is_none() {
                let (z, _) = work.sparse_weights();
                work.probs_in.clear();
                for (&id, &e) in work.ids.iter().zip(&work.es) {
                    work.probs_in.push((id, f64::from(e) / z));
                }
            }
            let (stage, applied) = match s.checked_sub(n_constraints) {
                None => {
                    let constraint = &mut self.constraints[s];
                    let stage = constraint.stage();
                    constraint.compute_mask()?;
                    let mask = constraint.mask().ok_or_else(|| SampleError::Constraint {
                        stage,
                        message: "it computed no mask".into(),
                    })?;
                    work.keep_set(input, mask);
                    (stage, Applied::default())
                }
                Some(k) => {
                    let knob = &mut self.chain[k];
                    let mut ctx = Ctx {
                        history: &self.history,
                        rng: &mut *rng,
                        z_in: in_stats
                            .map(|s: Stats| s.sums.z)
                            .filter(|_| dense_in.is_some()),
                        unconditional: self.unconditional.as_deref(),
                    };
                    let applied = knob.apply(work, input, &mut ctx)?;
                    (StageId::Knob(knob.kind()), applied)
                }
            };
            if work.live() == 0 {
                return Err(SampleError::AllMasked {
                    after: stage.name(),
                });
            }
            if let Some(out) = snapshots.as_deref_mut() {
                out.push(work.snapshot(input));
            }
            if let (Some(trace), Some(stats_in)) = (trace.as_deref_mut(), in_stats) {
                let out = work.stats(input);
                let mass_kept = match (work.dense, dense_in) {
                    (Some(_), _) => 1.0 - applied.dense_removed_mass,
                    (None, Some(d)) => {
                        let base = work.base(input, &d);
                        work.ids
                            .iter()
                            .map(|&id| {
                                f64::from(kernels::exp((base[id as usize] - d.max) * d.scale))
                            })
                            .sum::<f64>()
                            / stats_in.sums.z
                    }
                    (None, None) => merge_mass(&work.probs_in, &work.ids),
                };
                trace.push(StageTrace {
                    stage,
                    removed: live_in.saturating_sub(out.live),
                    remaining: out.live,
                    mass_kept: mass_kept.min(1.0),
                    entropy: out.sums.entropy(),
                });
                in_stats = Some(out);
            }
        }
        Ok(raw)
    }

    /// Inverse-CDF draw from the processed distribution, walking kept tokens by id.
    fn draw_from_state(&mut self, input: &[f32], u: f64) -> Result<(u32, f64), SampleError> {
        let work = &mut self.work;
        let picked = match work.dense {
            Some(d) => {
                let base = work.base(input, &d);
                let z = kernels::sweep_z(base, d.max, d.scale, f32::INFINITY, None, work.isa());
                kernels::walk(base, d.max, d.scale, u * z, work.isa()).map(|i| {
                    (
                        i as u32,
                        f64::from(kernels::exp((base[i] - d.max) * d.scale)) / z,
                    )
                })
            }
            None => {
                let (z, ymax) = work.sparse_weights();
                kernels::walk(&work.ys, ymax, 1.0, u * z, work.isa())
                    .map(|i| (work.ids[i], f64::from(work.es[i]) / z))
            }
        };
        picked.ok_or(SampleError::AllMasked { after: "draw" })
    }

    /// Kept tokens with both probabilities (when `with_tokens`), and the summary figures.
    fn report(
        &mut self,
        input: &[f32],
        raw: Raw,
        trace: Vec<StageTrace>,
        with_tokens: bool,
    ) -> Result<Report, SampleError> {
        let work = &mut self.work;
        if let Some(d) = work.dense {
            if !with_tokens {
                let entropy = match trace.last() {
                    Some(t) => t.entropy,
                    None => raw.stats.sums.entropy(),
                };
                let kept_mass_raw = if d.edited {
                    let z_raw = raw.ln_z.exp();
                    work.edited
                        .iter()
                        .zip(input)
                        .filter(|(e, _)| **e > f32::NEG_INFINITY)
                        .map(|(_, &x)| f64::from(kernels::exp(x - raw.max)))
                        .sum::<f64>()
                        / z_raw
                } else {
                    1.0
                };
                return Ok(Report {
                    tokens: Vec::new(),
                    tokens_len: d.finite,
                    kept_mass_raw: kept_mass_raw.min(1.0),
                    entropy,
                    trace,
                });
            }
            work.materialize(input);
        }
        let (z, ymax) = work.sparse_weights();
        let mut tokens = Vec::with_capacity(if with_tokens { work.ids.len() } else { 0 });
        let mut kept_mass_raw = 0f64;
        let mut s1 = 0f64;
        for ((&id, &y), &e) in work.ids.iter().zip(&work.ys).zip(&work.es) {
            let prob = f64::from(e) / z;
            let raw_prob = raw.logprob(input, id).exp();
            kept_mass_raw += raw_prob;
            if e > 0.0 {
                s1 += prob * f64::from((y - ymax).max(-100.0));
            }
            if with_tokens {
                tokens.push(TokenProb {
                    id,
                    logit: f64::from(y) + work.offset,
                    prob,
                    raw_prob,
                });
            }
        }
        Ok(Report {
            tokens,
            tokens_len: work.ids.len(),
            kept_mass_raw: kept_mass_raw.min(1.0),
            entropy: (z.ln() - s1).max(0.0),
            trace,
        })
    }

    /// The best tokens of the raw distribution.
    fn raw_alternatives(&mut self, input: &[f32], raw: &Raw) -> Vec<RawAlternative> {
        let (mut ids, mut vals) = (Vec::new(), Vec::new());
        kernels::collect_top_k(
            input,
            self.top_logprobs,
            &mut ids,
            &mut vals,
            self.work.isa(),
        );
        let mut best: Vec<RawAlternative> = ids
            .into_iter()
            .map(|id| RawAlternative {
                id,
                raw_logprob: raw.logprob(input, id),
            })
            .collect();
        best.sort_by(|a, b| {
            b.raw_logprob
                .total_cmp(&a.raw_logprob)
                .then(a.id.cmp(&b.id))
        });
        best
    }

    /// The best kept tokens, by processed probability.
    fn alternatives(&mut self, input: &[f32], raw: &Raw) -> Vec<Alternative> {
        let work = &mut self.work;
        let n = self.top_logprobs.min(work.live());
        if n == 0 {
            return Vec::new();
        }
        if let Some(d) = work.dense {
            let base = if d.edited { &work.edited } else { input };
            let z = kernels::sweep_z(base, d.max, d.scale, f32::INFINITY, None, work.isa());
            let (mut ids, mut vals) = (Vec::new(), Vec::new());
            kernels::collect_top_k(base, n, &mut ids, &mut vals, work.isa());
            let mut best: Vec<(f32, u32, f32)> = ids
                .iter()
                .zip(&vals)
                .map(|(&id, &x)| {
                    let y = (x - d.max) * d.scale;
                    (y, id, kernels::exp(y))
                })
                .collect();
            best.sort_unstable_by(by_key);
            return best
                .into_iter()
                .map(|(_, id, e)| Alternative {
                    id,
                    logprob: (f64::from(e) / z).ln(),
                    raw_logprob: raw.logprob(input, id),
                })
                .collect();
        }
        let (z, _) = work.sparse_weights();
        work.pairs.clear();
        work.pairs.extend(
            work.ids
                .iter()
                .zip(&work.ys)
                .zip(&work.es)
                .map(|((&id, &y), &e)| (y, id, e)),
        );
        if n < work.pairs.len() {
            work.pairs.select_nth_unstable_by(n - 1, by_key);
        }
        let mut best: Vec<(f32, u32, f32)> = work.pairs[..n].to_vec();
        best.sort_unstable_by(by_key);
        best.into_iter()
            .map(|(_, id, e)| Alternative {
                id,
                logprob: (f64::from(e) / z).ln(),
                raw_logprob: raw.logprob(input, id),
            })
            .collect()
    }
}

struct Report {
    tokens: Vec<TokenProb>,
    tokens_len: usize,
    kept_mass_raw: f64,
    entropy: f64,
    trace: Vec<StageTrace>,
}

/// `Σ p_in(id)` over the surviving ids; both lists ascending by id.
fn merge_mass(probs_in: &[(u32, f64)], ids: &[u32]) -> f64 {
    let mut mass = 0f64;
    let mut j = 0;
    for &(id, p) in probs_in {
        while j < ids.len() && ids[j] < id {
            j += 1;
        }
        if j < ids.len() && ids[j] == id {
            mass += p;
        }
    }
    mass
}
