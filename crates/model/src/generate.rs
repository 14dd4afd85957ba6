//! Generation: the prompt once through the model, then one token at a time with the KV
//! cache, every token drawn by dial's sampler.

use crate::error::ModelError;
use crate::model::{Model, PREFILL_CHUNK, Session, StepInput};
use crate::prompt_logprob::{PromptLogprob, PromptScoring};
use crate::tokenizer::TextStream;
use dial_sampling::Guidance;
use dial_sampling::{
    Alternative, KnobKind, Knobs, Order, RawAlternative, Sampler, SamplerState, StageTrace,
    TokenConstraint,
};

/// Most rewinds one generation may make for `banned_strings` before it fails: phrases that
/// ban nearly everything would otherwise redraw for a very long time.
pub const MAX_REWINDS: usize = 1024;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The knobs.
    pub knobs: Knobs,
    /// Their order.
    pub order: Order,
    /// Seed of the sampler's stream.
    pub seed: u64,
    /// Stop after this many tokens.
    pub max_tokens: usize,
    /// Stop when the text contains one of these (the stop string is not emitted).
    pub stop: Vec<String>,
    /// Report each token's raw log-probability and both entropies (always on when
    /// `top_logprobs > 0` or `trace`).
    pub logprobs: bool,
    /// Report this many alternatives per token, with their log-probabilities.
    pub top_logprobs: usize,
    /// Report each token's per-stage trace.
    pub trace: bool,
    /// Report these tokens' log-probabilities at every step (vLLM's `logprob_token_ids`).
    pub logprob_token_ids: Vec<u32>,
    /// Score every prompt token after the first, with this many alternatives each (vLLM's
    /// `prompt_logprobs`; OpenAI's `echo` with `logprobs`): see
    /// [`Generation::prompt_logprobs`].
    pub prompt_logprobs: Option<usize>,
    /// What the output must match (a grammar from dial-grammar, built with this model's
    /// vocabulary): the first stage of the chain. The generation ends with `stop` when
    /// the constraint allows only end-of-generation and one is drawn.
    pub constraint: Option<Box<dyn TokenConstraint>>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            knobs: Knobs::default(),
            order: Order::default(),
            seed: 0,
            max_tokens: 64,
            stop: Vec::new(),
            logprobs: false,
            top_logprobs: 0,
            trace: false,
            logprob_token_ids: Vec::new(),
            prompt_logprobs: None,
            constraint: None,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-sequence token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The model's context is full: `length`, as OpenAI spells it.
    ContextFull,
}

impl FinishReason {
    /// As the OpenAI API spells it: `stop`, or `length` for `max_tokens` and a full
    /// context alike.
    pub fn name(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length | FinishReason::ContextFull => "length",
        }
    }
}

impl serde::Serialize for FinishReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for FinishReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "stop" => Ok(FinishReason::Stop),
            "length" => Ok(FinishReason::Length),
            other => Err(serde::de::Error::unknown_variant(
                other,
                &["stop", "length"],
            )),
        }
    }
}

/// One generated token.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// The token.
    pub token: u32,
    /// Text completed by this token (may be empty while a character is split, and never
    /// includes a stop string).
    pub text: String,
    /// Log-probability under the processed distribution.
    pub logprob: f64,
    /// Log-probability under the model's raw distribution (`None` on the lean path).
    pub raw_logprob: Option<f64>,
    /// Entropy (nats) of the raw distribution (`None` on the lean path).
    pub entropy_raw: Option<f64>,
    /// Entropy (nats) of the processed distribution (`None` on the lean path).
    pub entropy: Option<f64>,
    /// Tokens kept by the chain.
    pub kept: usize,
    /// The most likely kept alternatives, by processed probability.
    pub top: Vec<Alternative>,
    /// The most likely tokens of the raw distribution, by raw probability.
    pub raw_top: Vec<RawAlternative>,
    /// The per-stage trace, when asked for.
    pub trace: Option<Vec<StageTrace>>,
    /// Knobs that stood aside for the constraint at this token (e.g. `end_of_generation`
    /// when `min_tokens` met a complete value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub yielded: Vec<dial_sampling::KnobKind>,
    /// The log-probabilities of [`GenerateOptions::logprob_token_ids`] at this step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named: Vec<dial_sampling::NamedLogprob>,
}

/// A running generation on its own [`Session`]; iterate it for [`Step`]s.
///
/// A scheduler that batches many generations drives it in two halves instead:
/// [`Generation::step_input`] gives the tokens its next forward pass should run (a prefill
/// chunk, or the token just drawn), [`Generation::ran`] takes the outcome, and
/// [`Generation::draw`] samples once [`Generation::can_draw`]. Iterating does the same,
/// one sequence at a time, so both give the same tokens.
#[derive(Debug)]
pub struct Generation {
    session: Session,
    sampler: Sampler,
    options: GenerateOptions,
    prompt: Vec<u32>,
    /// Prompt tokens in the cache so far.
    prefilled: usize,
    /// Tokens handed out by the last [`Generation::step_input`], not yet [`Generation::ran`].
    in_flight: usize,
    /// The drawn token not yet in the cache.
    feed: Option<u32>,
    logits: Vec<f32>,
    /// `logits` are fresh and nothing was drawn from them yet.
    drawable: bool,
    stream: TextStream,
    /// Text held back because it might be the start of a stop string.
    held: String,
    /// Drawn tokens not handed out yet: their text might still become a banned phrase.
    pending: Vec<Pending>,
    /// Tokens in the sequence now, pending ones included.
    generated: usize,
    /// Rewinds for `banned_strings` so far.
    rewinds: usize,
    /// The prompt's scores so far (with `prompt_logprobs`).
    prompt_scores: Vec<PromptLogprob>,
    /// Final steps not handed out by the iterator yet.
    ready_steps: std::collections::VecDeque<Step>,
    /// The whole prompt has been in the cache (a rewind to the first token runs its last
    /// token again; that is no new prefill).
    prompt_seen: bool,
    /// Classifier-free guidance's second sequence, when guidance is on.
    unconditional: Option<Unconditional>,
    finish: Option<FinishReason>,
}

/// The unconditional sequence of classifier-free guidance: the negative prompt (or the
/// prompt's last token), then the same generated tokens, on its own session in the same
/// passes as the prompt's sequence.
#[derive(Debug)]
struct Unconditional {
    session: Session,
    prompt: Vec<u32>,
    prefilled: usize,
    in_flight: usize,
    feed: Option<u32>,
    logits: Vec<f32>,
    /// `logits` are for the position the next draw is at.
    fresh: bool,
}

impl Unconditional {
    /// Its tokens for the next pass: a prefill chunk of at most `budget`, or the token
    /// just drawn (always, so decoding never waits).
    fn input(&mut self, budget: usize) -> Option<StepInput<'_>> {
        if self.fresh {
            return None;
        }
        let tokens: &[u32] = if self.prefilled < self.prompt.len() {
            let end = self
                .prompt
                .len()
                .min(self.prefilled + budget.min(PREFILL_CHUNK));
            if end == self.prefilled {
                return None;
            }
            &self.prompt[self.prefilled..end]
        } else {
            std::slice::from_ref(self.feed.as_ref()?)
        };
        self.in_flight = tokens.len();
        Some(StepInput {
            want_logits: self.prefilled + tokens.len() >= self.prompt.len(),
            session: &mut self.session,
            tokens,
            scoring: None,
        })
    }

    fn ran(&mut self, logits: Option<Vec<f32>>) -> Result<(), ModelError> {
        let ran = std::mem::take(&mut self.in_flight);
        if self.prefilled < self.prompt.len() {
            self.prefilled += ran;
        } else {
            self.feed = None;
        }
        if self.prefilled == self.prompt.len() {
            self.logits =
                logits.ok_or_else(|| ModelError::Compute("a pass returned no logits".into()))?;
            self.fresh = true;
        }
        Ok(())
    }

    /// Back to where `generated` tokens follow its prompt, ready to run the last again.
    fn rewind(&mut self, generated: &[u32]) -> Result<(), ModelError> {
        self.fresh = false;
        let prompt = self.prompt.len();
        match generated.last() {
            Some(&previous) => {
                self.feed = Some(previous);
                self.session.truncate(prompt + generated.len() - 1)
            }
            None => {
                self.prefilled = prompt - 1;
                self.feed = None;
                self.session.truncate(prompt - 1)
            }
        }
    }
}

/// A drawn token held back, with what a rewind to it restores.
#[derive(Debug)]
struct Pending {
    /// Its step; `text` is the text it completed, before stop strings are looked for.
    step: Step,
    /// The sampler and the text stream just before it was drawn (with `banned_strings`).
    before: Option<(SamplerState, TextStream)>,
}

impl Model {
    /// Starts generating from `prompt` (tokenized with BOS) in a new session.
    pub fn generate(
        &self,
        prompt: &str,
        options: GenerateOptions,
    ) -> Result<Generation, ModelError> {
        let ids = self.tokenizer().encode(prompt, true);
        self.generate_from(&ids, options)
    }

    /// Starts generating after the token ids `prompt` in a new session.
    pub fn generate_from(
        &self,
        prompt: &[u32],
        options: GenerateOptions,
    ) -> Result<Generation, ModelError> {
        Generation::new(self.session()?, prompt, options)
    }
}

impl Generation {
    /// A generation after `prompt` on `session` (reset first) that has run nothing yet.
    /// Checks the prompt, the knobs and the room in the context.
    pub fn new(
        mut session: Session,
        prompt: &[u32],
        mut options: GenerateOptions,
    ) -> Result<Generation, ModelError> {
        if prompt.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        crate::error::check_tokens(prompt, session.model().vocab_size())?;
        let context = session.model().context_length();
        if prompt.len() > context {
            return Err(ModelError::ContextFull {
                needed: prompt.len(),
                context,
            });
        }
        let mut sampler =
            Sampler::with_order(options.knobs.clone(), options.order.clone(), options.seed)?;
        sampler.set_prompt(prompt);
        sampler.set_top_logprobs(options.top_logprobs);
        if let Some(constraint) = options.constraint.take() {
            sampler.add_constraint(constraint);
        }
        session.reset()?;
        session.reserve(Generation::positions_needed(
            prompt.len(),
            options.max_tokens,
            context,
        ));
        let unconditional = match options.knobs.guidance.as_ref().filter(|g| g.is_active()) {
            None => None,
            Some(guidance) => {
                let model = session.model().clone();
                let negative = Generation::unconditional_prompt(&model, prompt, guidance);
                crate::error::check_tokens(&negative, model.vocab_size())?;
                if negative.len() > context {
                    return Err(ModelError::ContextFull {
                        needed: negative.len(),
                        context,
                    });
                }
                let mut session = model.session()?;
                session.reserve(Generation::positions_needed(
                    negative.len(),
                    options.max_tokens,
                    context,
                ));
                Some(Unconditional {
                    session,
                    prompt: negative,
                    prefilled: 0,
                    in_flight: 0,
                    feed: None,
                    logits: Vec::new(),
                    fresh: false,
                })
            }
        };
        Ok(Generation {
            session,
            sampler,
            options,
            prompt: prompt.to_vec(),
            prefilled: 0,
            in_flight: 0,
            feed: None,
            logits: Vec::new(),
            drawable: false,
            stream: TextStream::default(),
            held: String::new(),
            pending: Vec::new(),
            generated: 0,
            rewinds: 0,
            ready_steps: std::collections::VecDeque::new(),
            prompt_scores: Vec::new(),
            prompt_seen: false,
            unconditional,
            finish: None,
        })
    }

    /// The unconditional sequence's prompt: BOS (where the model adds one) and the negative
    /// prompt, or the prompt's last token, as HF starts it.
    pub(crate) fn unconditional_prompt(
        model: &Model,
        prompt: &[u32],
        guidance: &Guidance,
    ) -> Vec<u32> {
        match guidance.negative_prompt() {
            Some(tokens) => {
                let mut ids = model.tokenizer().encode("", true);
                ids.extend_from_slice(tokens);
                if ids.is_empty() {
                    ids.extend(prompt.last());
                }
                ids
            }
            None => prompt.last().copied().into_iter().collect(),
        }
    }

    /// Bytes of KV cache a generation with `options` after `prompt` needs at most: its
    /// [`Generation::positions_needed`], and guidance's second sequence's.
    pub fn kv_bytes_needed(model: &Model, prompt: &[u32], options: &GenerateOptions) -> usize {
        let context = model.context_length();
        let own = Generation::positions_needed(prompt.len(), options.max_tokens, context);
        let guided = options
            .knobs
            .guidance
            .as_ref()
            .filter(|g| g.is_active())
            .map_or(0, |g| {
                let negative = Generation::unconditional_prompt(model, prompt, g);
                model.kv_bytes(Generation::positions_needed(
                    negative.len(),
                    options.max_tokens,
                    context,
                ))
            });
        model.kv_bytes(own) + guided
    }

    /// Positions a generation of `max_tokens` after `prompt_tokens` can fill: the KV cache
    /// it needs at most.
    pub fn positions_needed(prompt_tokens: usize, max_tokens: usize, context: usize) -> usize {
        // The last drawn token is never fed back.
        (prompt_tokens + max_tokens.saturating_sub(1)).min(context)
    }

    /// What the next forward pass should run for this generation: up to `budget` prompt
    /// tokens (and at most [`PREFILL_CHUNK`] a sequence) while prefilling, else the token
    /// just drawn; with guidance, the unconditional sequence's as well (its decode row
    /// always, its prefill from what the prompt leaves of `budget`). Empty when it needs
    /// no pass: it can draw, or it has finished.
    pub fn step_inputs(&mut self, budget: usize) -> Vec<StepInput<'_>> {
        if self.finish.is_some() || budget == 0 {
            return Vec::new();
        }
        let mut inputs = Vec::with_capacity(2);
        let main = if self.drawable {
            None
        } else {
            Self::main_input(
                &mut self.session,
                &self.prompt,
                self.prefilled,
                self.feed.as_ref(),
                self.options.prompt_logprobs.filter(|_| !self.prompt_seen),
                &mut self.prompt_scores,
                budget,
            )
        };
        self.in_flight = main.as_ref().map_or(0, |m| m.tokens.len());
        inputs.extend(main);
        if let Some(u) = self.unconditional.as_mut() {
            let left = budget.saturating_sub(self.in_flight);
            inputs.extend(u.input(left));
        }
        inputs
    }

    /// The prompt's sequence's part of the next pass.
    fn main_input<'a>(
        session: &'a mut Session,
        prompt: &'a [u32],
        prefilled: usize,
        feed: Option<&'a u32>,
        score_top: Option<usize>,
        scores: &'a mut Vec<PromptLogprob>,
        budget: usize,
    ) -> Option<StepInput<'a>> {
        let mut scoring = None;
        let tokens: &[u32] = if prefilled < prompt.len() {
            let end = prompt.len().min(prefilled + budget.min(PREFILL_CHUNK));
            if let Some(top) = score_top {
                scoring = Some(PromptScoring {
                    targets: &prompt[prefilled + 1..prompt.len().min(end + 1)],
                    top,
                    out: scores,
                });
            }
            &prompt[prefilled..end]
        } else {
            std::slice::from_ref(feed?)
        };
        Some(StepInput {
            session,
            tokens,
            want_logits: prefilled + tokens.len() >= prompt.len(),
            scoring,
        })
    }

    /// Takes the outcomes of the pass that ran [`Generation::step_inputs`]'s inputs, in
    /// their order. An error ends the generation.
    pub fn ran(
        &mut self,
        outcomes: Vec<Result<Option<Vec<f32>>, ModelError>>,
    ) -> Result<(), ModelError> {
        let main = std::mem::take(&mut self.in_flight);
        let unconditional = self.unconditional.as_ref().map_or(0, |u| u.in_flight);
        let expected = usize::from(main > 0) + usize::from(unconditional > 0);
        let mut outcomes = outcomes.into_iter();
        let result = (|| {
            if outcomes.len() != expected || expected == 0 {
                return Err(ModelError::Compute(format!(
                    "{} results for a pass that ran {expected} of this generation's inputs",
                    outcomes.len()
                )));
            }
            if main > 0 {
                let logits = outcomes.next().unwrap_or(Ok(None))?;
                self.ran_main(main, logits)?;
            }
            if let Some(u) = self.unconditional.as_mut().filter(|_| unconditional > 0) {
                u.ran(outcomes.next().unwrap_or(Ok(None))?)?;
            }
            Ok(())
        })();
        if result.is_err() {
            self.finish = Some(FinishReason::Stop);
        }
        result
    }

    fn ran_main(&mut self, ran: usize, logits: Option<Vec<f32>>) -> Result<(), ModelError> {
        if self.prefilled < self.prompt.len() {
            self.prefilled += ran;
        } else {
            self.feed = None;
        }
        if self.prefilled == self.prompt.len() {
            self.prompt_seen = true;
            self.logits =
                logits.ok_or_else(|| ModelError::Compute("a pass returned no logits".into()))?;
            self.drawable = true;
        }
        Ok(())
    }

    /// Whether fresh logits wait for [`Generation::draw`] (with guidance, the unconditional
    /// sequence's too).
    pub fn can_draw(&self) -> bool {
        self.drawable
            && self.finish.is_none()
            && self.unconditional.as_ref().is_none_or(|u| u.fresh)
    }

    /// Prompt tokens not in the cache yet (with guidance, the negative prompt's too).
    pub fn prompt_left(&self) -> usize {
        self.prompt.len() - self.prefilled
            + self
                .unconditional
                .as_ref()
                .map_or(0, |u| u.prompt.len() - u.prefilled)
    }

    /// Whether the whole prompt is in the cache (with guidance, the negative prompt too).
    pub fn is_prefilled(&self) -> bool {
        self.prompt_left() == 0
    }

    /// Whether the whole prompt has been in the cache (it stays so through rewinds).
    pub fn has_seen_prompt(&self) -> bool {
        self.prompt_seen
    }

    /// Each prompt token after the first, scored given the tokens before it, once the
    /// prompt is in the cache (with [`GenerateOptions::prompt_logprobs`]; else empty).
    pub fn prompt_logprobs(&self) -> &[PromptLogprob] {
        &self.prompt_scores
    }

    /// How many times `banned_strings` rolled the sequence back.
    pub fn rewinds(&self) -> usize {
        self.rewinds
    }

    /// The session, to reuse once the generation is done.
    pub fn into_session(self) -> Session {
        self.session
    }

    /// The session it runs on.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Bytes its KV caches take now (guidance's second sequence included).
    pub fn kv_bytes(&self) -> usize {
        self.session.kv_bytes()
            + self
                .unconditional
                .as_ref()
                .map_or(0, |u| u.session.kv_bytes())
    }
}

impl Generation {
    /// Why it ended, once it has.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }

    /// The prompt's token ids.
    pub fn prompt(&self) -> &[u32] {
        &self.prompt
    }

    /// Tokens in the prompt.
    pub fn prompt_tokens(&self) -> usize {
        self.prompt.len()
    }

    /// Tokens generated so far (those held back for `banned_strings` included).
    pub fn generated_tokens(&self) -> usize {
        self.generated
    }

    /// Computes the constraint's mask for the next draw now, rather than in
    /// [`Generation::draw`]: a scheduler runs this for its sequences in parallel, or while
    /// the model runs. A no-op without a constraint.
    pub fn compute_masks(&mut self) -> Result<(), ModelError> {
        if self.finish.is_some() {
            return Ok(());
        }
        Ok(self.sampler.compute_masks()?)
    }

    /// The knobs that stood aside for the constraint, and how many times (e.g.
    /// `end_of_generation` when `min_tokens` met a complete value).
    pub fn yields(&self) -> Vec<(dial_sampling::KnobKind, usize)> {
        self.sampler.yields()
    }

    /// Whether the generation is constrained.
    pub fn is_constrained(&self) -> bool {
        self.sampler.is_constrained()
    }

    /// The next-token logits the sampler will draw from (for explaining a step).
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Draws the next token from the fresh logits and returns the steps that are final now:
    /// usually that token; none while its text might still become a banned phrase or after
    /// a rewind; several when held tokens turn out safe. Empty when `max_tokens` is reached
    /// (or nothing is ready to draw).
    ///
    /// With `banned_strings`, a drawn token that completes a phrase rolls the sequence back
    /// to the token where the phrase began: the KV cache, the sampler's state and the text
    /// return to just before it, it is banned there, and the next pass recomputes the
    /// logits it was drawn from (so the redraw sees the same bits).
    pub fn draw(&mut self) -> Result<Vec<Step>, ModelError> {
        if !self.can_draw() {
            return Ok(Vec::new());
        }
        if self.generated >= self.options.max_tokens {
            self.finish = Some(FinishReason::Length);
            return Ok(Vec::new());
        }
        self.drawable = false;
        if let Some(u) = self.unconditional.as_mut() {
            self.sampler.set_unconditional(&u.logits);
            u.fresh = false;
        }
        let before = self
            .options
            .knobs
            .banned_strings
            .is_some()
            .then(|| (self.sampler.state(), self.stream.clone()));
        let mut step = self.sample()?;
        self.generated += 1;
        let model = self.session.model().clone();
        let tokenizer = model.tokenizer();
        // The model's ends always end it (with `ignore_eos` one is drawn only where a
        // grammar allows nothing else); `stop_token_ids` end it too.
        let ends = tokenizer.stop_tokens().contains(&step.token)
            || self
                .options
                .knobs
                .end_of_generation
                .as_ref()
                .is_some_and(|end| end.ends_on(step.token));
        if ends {
            self.pending.push(Pending { step, before });
            let steps = self.settle_all();
            self.finish.get_or_insert(FinishReason::Stop);
            return Ok(steps);
        }
        step.text = self.stream.push(&tokenizer.token_bytes(step.token));
        let token = step.token;
        self.pending.push(Pending { step, before });
        if let Some(k) = self.banned_phrase_start() {
            self.rewind(k)?;
            return Ok(Vec::new());
        }
        let mut steps = self.settle();
        if self.finish.is_some() {
            return Ok(steps);
        }
        if self.generated >= self.options.max_tokens {
            steps.extend(self.settle_all());
            self.finish.get_or_insert(FinishReason::Length);
        } else if self.session.position() + 1 > model.context_length() {
            steps.extend(self.settle_all());
            self.finish.get_or_insert(FinishReason::ContextFull);
        } else {
            self.feed = Some(token);
            if let Some(u) = self.unconditional.as_mut() {
                u.feed = Some(token);
            }
        }
        Ok(steps)
    }

    /// Draws one token from the fresh logits with the report the options ask for.
    fn sample(&mut self) -> Result<Step, ModelError> {
        let yields_before = self.sampler.yields();
        let full = self.options.logprobs || self.options.top_logprobs > 0 || self.options.trace;
        let mut step = if full {
            let d = self.sampler.sample(&self.logits)?;
            Step {
                token: d.token,
                text: String::new(),
                logprob: d.logprob,
                raw_logprob: Some(d.raw_logprob),
                entropy_raw: Some(d.entropy_raw),
                entropy: Some(d.entropy),
                kept: d.kept,
                top: d.alternatives,
                raw_top: d.raw_alternatives,
                trace: self.options.trace.then_some(d.trace),
                yielded: Vec::new(),
                named: Vec::new(),
            }
        } else {
            let t = self.sampler.sample_token(&self.logits)?;
            Step {
                token: t.id,
                text: String::new(),
                logprob: t.logprob,
                raw_logprob: None,
                entropy_raw: None,
                entropy: None,
                kept: t.kept,
                top: Vec::new(),
                raw_top: Vec::new(),
                trace: None,
                yielded: Vec::new(),
                named: Vec::new(),
            }
        };
        if !self.options.logprob_token_ids.is_empty() {
            step.named = self
                .sampler
                .logprobs_of(&self.logits, &self.options.logprob_token_ids)?;
        }
        step.yielded = self
            .sampler
            .yields()
            .into_iter()
            .filter(|y| !yields_before.contains(y))
            .map(|(kind, _)| kind)
            .collect();
        Ok(step)
    }

    /// The held token where the earliest banned phrase in the held text begins, unless it
    /// was drawn where the bans yielded to a grammar (the phrase then stays).
    fn banned_phrase_start(&self) -> Option<usize> {
        let bans = self.options.knobs.banned_strings.as_ref()?;
        let mut text = String::new();
        let mut ends = Vec::with_capacity(self.pending.len());
        for p in &self.pending {
            text.push_str(&p.step.text);
            ends.push(text.len());
        }
        let mut from = 0;
        while let Some(at) = bans.find(&text[from..]).map(|at| at + from) {
            let mut k = ends.iter().position(|&end| end > at)?;
            // Tokens with no text yet carried the first bytes of the phrase's character.
            while k > 0 && self.pending[k - 1].step.text.is_empty() {
                k -= 1;
            }
            if !self.pending[k]
                .step
                .yielded
                .contains(&KnobKind::BannedStrings)
            {
                return Some(k);
            }
            from = at + text[at..].chars().next().map_or(1, char::len_utf8);
        }
        None
    }

    /// Rolls back to just before held token `k` and bans it there.
    fn rewind(&mut self, k: usize) -> Result<(), ModelError> {
        self.rewinds += 1;
        if self.rewinds > MAX_REWINDS {
            self.finish = Some(FinishReason::Stop);
            return Err(ModelError::TooManyRewinds(MAX_REWINDS));
        }
        let Some(Pending {
            step,
            before: Some((sampler, stream)),
        }) = self.pending.drain(k..).next()
        else {
            self.finish = Some(FinishReason::Stop);
            return Err(ModelError::Compute(
                "a rewind with nothing to return to".into(),
            ));
        };
        self.sampler.restore(sampler);
        self.stream = stream;
        self.sampler.forbid_here(step.token);
        let generated = self.sampler.history().generated();
        self.generated = generated.len();
        // The cache ends after the token before; run it again for the logits to redraw from.
        let prompt = self.prompt.len();
        let rerun = match generated.last() {
            Some(&previous) => {
                self.feed = Some(previous);
                prompt + self.generated - 1
            }
            None => {
                self.prefilled = prompt - 1;
                prompt - 1
            }
        };
        let unconditional = match self.unconditional.as_mut() {
            Some(u) => u.rewind(self.sampler.history().generated()),
            None => Ok(()),
        };
        if let Err(e) = self.session.truncate(rerun).and(unconditional) {
            self.finish = Some(FinishReason::Stop);
            return Err(e);
        }
        Ok(())
    }

    /// Hands out the held tokens that can no longer become part of a banned phrase.
    fn settle(&mut self) -> Vec<Step> {
        let keep_from = match &self.options.knobs.banned_strings {
            None => self.pending.len(),
            Some(bans) => {
                let text: String = self.pending.iter().map(|p| p.step.text.as_str()).collect();
                match bans.open_from(&text) {
                    None => self.pending.len(),
                    Some(open) => {
                        let mut end = 0;
                        let mut k = 0;
                        while k < self.pending.len() {
                            end += self.pending[k].step.text.len();
                            if end > open {
                                break;
                            }
                            k += 1;
                        }
                        while k > 0 && self.pending[k - 1].step.text.is_empty() {
                            k -= 1;
                        }
                        k
                    }
                }
            }
        };
        let ready: Vec<Pending> = self.pending.drain(..keep_from).collect();
        self.emit(ready).0
    }

    /// Hands out every held token and the text still held: the generation ends.
    fn settle_all(&mut self) -> Vec<Step> {
        let ready = std::mem::take(&mut self.pending);
        let (mut steps, stopped) = self.emit(ready);
        if !stopped {
            let tail = self.release_all();
            if let Some(last) = steps.last_mut() {
                last.text.push_str(&tail);
            }
        }
        steps
    }

    /// Turns settled tokens into steps, looking for stop strings in their text; `true`
    /// when one matched (the generation ends there and later tokens are dropped).
    fn emit(&mut self, ready: Vec<Pending>) -> (Vec<Step>, bool) {
        let first = self.generated - self.pending.len() - ready.len();
        let mut steps = Vec::with_capacity(ready.len());
        for (n, Pending { mut step, .. }) in ready.into_iter().enumerate() {
            let piece = std::mem::take(&mut step.text);
            let (text, stopped) = self.release(&piece, first + n + 1);
            step.text = text;
            steps.push(step);
            if stopped {
                self.finish = Some(FinishReason::Stop);
                self.pending.clear();
                self.generated = first + n + 1;
                return (steps, true);
            }
        }
        (steps, false)
    }

    /// Runs passes for this generation alone until a draw is ready: the rest of the
    /// prompt, or the token just drawn. A no-op once it has finished.
    pub fn ready(&mut self) -> Result<(), ModelError> {
        while self.finish.is_none() && !self.can_draw() {
            let model = self.session.model().clone();
            let mut inputs = self.step_inputs(PREFILL_CHUNK);
            if inputs.is_empty() {
                return Err(ModelError::Compute(
                    "a generation with nothing to run".into(),
                ));
            }
            let outcomes = model.step(&mut inputs);
            drop(inputs);
            self.ran(outcomes)?;
        }
        Ok(())
    }

    /// Runs passes for this generation alone until it can draw, then draws, until a step
    /// is final (or it ends).
    fn advance(&mut self) -> Result<Option<Step>, ModelError> {
        loop {
            if let Some(step) = self.ready_steps.pop_front() {
                return Ok(Some(step));
            }
            if self.finish.is_some() {
                return Ok(None);
            }
            self.ready()?;
            let steps = self.draw()?;
            if steps.is_empty() && self.finish.is_some() {
                return Ok(None);
            }
            self.ready_steps.extend(steps);
        }
    }

    /// Adds `piece`, the text of generated token number `count`, to the held text; returns
    /// what is safe to emit, and whether a stop string matched (what follows it is dropped).
    fn release(&mut self, piece: &str, count: usize) -> (String, bool) {
        self.held.push_str(piece);
        let min_tokens = self
            .options
            .knobs
            .end_of_generation
            .as_ref()
            .map_or(0, |end| end.min_tokens());
        if count < min_tokens {
            // Stop strings do not match before `min_tokens`.
            return (std::mem::take(&mut self.held), false);
        }
        if let Some(at) = self
            .options
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
        {
            let out = self.held[..at].to_string();
            self.held.clear();
            return (out, true);
        }
        // Keep the longest tail that could still grow into a stop string.
        let keep = self
            .options
            .stop
            .iter()
            .flat_map(|s| {
                (1..s.len())
                    .filter(|&n| s.is_char_boundary(n) && self.held.ends_with(&s[..n]))
                    .max()
            })
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let out = self.held[..cut].to_string();
        self.held.drain(..cut);
        (out, false)
    }

    fn release_all(&mut self) -> String {
        let tail = self.stream.finish();
        let mut out = std::mem::take(&mut self.held);
        out.push_str(&tail);
        out
    }
}

impl Iterator for Generation {
    type Item = Result<Step, ModelError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.advance() {
            Ok(Some(step)) => Some(Ok(step)),
            Ok(None) => None,
            Err(e) => {
                self.finish = Some(FinishReason::Stop);
                Some(Err(e))
            }
        }
    }
}
