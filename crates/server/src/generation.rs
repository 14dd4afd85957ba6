//! What the generation endpoints share: checking the OpenAI fields, planning the choices,
//! collecting the engine's events, and the log-probability views.

use crate::dial_options::{DialOptions, LogprobsMode};
use crate::engine::{Event, Job};
use crate::error::ApiError;
use crate::state::Lm;
use crate::structured::{Requested, grammar_error};
use dial_grammar::Relaxed;
use dial_model::{FinishReason, GenerateOptions, Step};
use dial_sampling::SamplingParams;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Most stop strings, as OpenAI allows.
pub const MAX_STOPS: usize = 4;
/// Longest stop string, in bytes.
pub const MAX_STOP_BYTES: usize = 256;
/// Most choices per request.
pub const MAX_N: u64 = 16;
/// The log-probability reported for a token the chain cut (OpenAI's floor).
pub const CUT_LOGPROB: f64 = -9999.0;

/// Most tokens `logprob_token_ids` may name.
pub const MAX_LOGPROB_TOKEN_IDS: usize = 256;

/// Most `top_logprobs`.
pub const MAX_TOP_LOGPROBS: u64 = 20;

/// `stop`: one string or a list.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Stop {
    /// One stop string.
    One(String),
    /// Up to four.
    Many(Vec<String>),
}

/// What a request asked for, in the endpoint-independent form.
#[derive(Debug)]
pub(crate) struct Asked<'a> {
    pub params: &'a SamplingParams,
    pub dial: &'a DialOptions,
    /// The value and the field it came from (`max_tokens`, `max_output_tokens`, …).
    pub max_tokens: Option<(u64, &'static str)>,
    pub stop: Option<&'a Stop>,
    pub n: Option<u64>,
    pub logprobs: bool,
    pub top_logprobs: Option<(u64, &'static str)>,
    /// vLLM's `logprob_token_ids`: report these tokens at every step instead of the top.
    pub logprob_token_ids: Option<&'a [u32]>,
    /// Score the prompt's tokens with this many alternatives (vLLM's `prompt_logprobs`,
    /// or `echo` with `logprobs`), and the field that asked.
    pub prompt_logprobs: Option<(u64, &'static str)>,
    /// `max_tokens: 0` is allowed (`echo` scores the prompt and generates nothing).
    pub nothing_to_generate_ok: bool,
    pub prompt: Vec<u32>,
    /// The field that holds the prompt, for errors.
    pub prompt_param: &'static str,
    /// Stop strings the chat template implies.
    pub template_stops: Vec<String>,
    /// What the output must match, if anything.
    pub constraint: Option<&'a Requested>,
}

/// A checked request, ready for the engine.
#[derive(Debug)]
pub(crate) struct Plan {
    pub prompt: Vec<u32>,
    pub choices: Vec<GenerateOptions>,
    pub seed: u64,
    pub mode: LogprobsMode,
    pub logprobs: bool,
    pub top_logprobs: usize,
    pub dial: DialOptions,
    /// The constraint, readable, when there is one.
    pub constraint: Option<String>,
    /// Schema keywords relaxed rather than enforced.
    pub relaxed: Vec<Relaxed>,
}

/// A seed for requests that bring none: the clock and a counter through SplitMix64, cut
/// to 53 bits so JavaScript clients can send it back exactly.
fn fresh_seed() -> u64 {
    dial_sampling::clock_bits() & ((1 << 53) - 1)
}

impl Lm {
    /// Checks `asked` against the OpenAI ranges and this server's limits.
    pub(crate) fn plan(&self, asked: Asked<'_>) -> Result<Plan, ApiError> {
        let limit = self.config.max_tokens_limit;
        let max_tokens = match asked.max_tokens {
            None => self.config.default_max_tokens.min(limit),
            Some((0, _)) if asked.nothing_to_generate_ok => 0,
            Some((v, param)) if v == 0 || v > limit as u64 => {
                let least = u64::from(!asked.nothing_to_generate_ok);
                return Err(ApiError::invalid(
                    param,
                    "invalid_value",
                    &format!("`{param}` = {v} is out of range (expected {least} to {limit})"),
                ));
            }
            Some((v, _)) => v as usize,
        };
        if let Some(min_tokens) = asked.params.integer("min_tokens")
            && min_tokens > max_tokens as i64
        {
            return Err(ApiError::invalid(
                "min_tokens",
                "invalid_value",
                &format!("`min_tokens` = {min_tokens} is more than `max_tokens` = {max_tokens}"),
            ));
        }
        let n = match asked.n {
            None => 1,
            Some(n) if (1..=MAX_N).contains(&n) => n as usize,
            Some(n) => {
                return Err(ApiError::invalid(
                    "n",
                    "invalid_value",
                    &format!("`n` = {n} is out of range (expected 1 to {MAX_N})"),
                ));
            }
        };
        let mut stop = match asked.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        if stop.len() > MAX_STOPS {
            return Err(ApiError::invalid(
                "stop",
                "invalid_value",
                &format!("at most {MAX_STOPS} stop strings, got {}", stop.len()),
            ));
        }
        if let Some(i) = stop
            .iter()
            .position(|s| s.is_empty() || s.len() > MAX_STOP_BYTES)
        {
            return Err(ApiError::invalid(
                &format!("stop[{i}]"),
                "invalid_value",
                &format!("stop strings must be 1 to {MAX_STOP_BYTES} bytes"),
            ));
        }
        stop.extend(asked.template_stops);
        let top_logprobs = match asked.top_logprobs {
            None => 0,
            Some((v, param)) if v > MAX_TOP_LOGPROBS => {
                return Err(ApiError::invalid(
                    param,
                    "invalid_value",
                    &format!("`{param}` = {v} is out of range (expected 0 to {MAX_TOP_LOGPROBS})"),
                ));
            }
            Some((v, _)) => v as usize,
        };
        let prompt_logprobs = match asked.prompt_logprobs {
            None => None,
            Some((v, param)) if v > MAX_TOP_LOGPROBS => {
                return Err(ApiError::invalid(
                    param,
                    "invalid_value",
                    &format!("`{param}` = {v} is out of range (expected 0 to {MAX_TOP_LOGPROBS})"),
                ));
            }
            Some((v, _)) => Some(v as usize),
        };
        let vocab = self.model.vocab_size();
        if let Some((name, id)) = asked.params.token_id_out_of_range(vocab) {
            return Err(ApiError::invalid(
                name,
                "invalid_value",
                &format!("token id {id} in `{name}` is out of range (vocabulary of {vocab})"),
            ));
        }
        if asked.prompt.is_empty() {
            return Err(ApiError::invalid(
                asked.prompt_param,
                "empty_prompt",
                "the prompt is empty",
            ));
        }
        let context = self.model.context_length();
        if asked.prompt.len() >= context {
            return Err(ApiError::invalid(
                asked.prompt_param,
                "context_length_exceeded",
                &format!(
                    "the prompt is {} tokens; the model's context is {context}",
                    asked.prompt.len()
                ),
            ));
        }
        let knobs = self.model.knobs(asked.params)?;
        let order = asked.params.order().clone();
        // The chain must build now, so a bad order is this request's 400, not a failure
        // inside the engine.
        dial_sampling::Sampler::with_order(knobs.clone(), order.clone(), 0)
            .map_err(|e| ApiError::invalid("order", "invalid_value", &e.to_string()))?;
        let compiled = match asked.constraint {
            None => None,
            Some(requested) => {
                let engine = self
                    .grammar()
                    .map_err(|e| grammar_error(requested.param, e))?;
                let compiled = engine
                    .compile(&requested.constraint)
                    .map_err(|e| grammar_error(requested.param, &e))?;
                Some((engine, compiled))
            }
        };
        let seed = asked.params.seed().unwrap_or_else(fresh_seed);
        let logprob_token_ids = asked.logprob_token_ids.unwrap_or_default().to_vec();
        if !logprob_token_ids.is_empty() {
            if !asked.logprobs {
                return Err(ApiError::invalid(
                    "logprob_token_ids",
                    "invalid_value",
                    "`logprob_token_ids` needs log-probabilities turned on (`logprobs`)",
                ));
            }
            if logprob_token_ids.len() > MAX_LOGPROB_TOKEN_IDS {
                return Err(ApiError::invalid(
                    "logprob_token_ids",
                    "invalid_value",
                    &format!(
                        "`logprob_token_ids` names {} tokens (at most {MAX_LOGPROB_TOKEN_IDS})",
                        logprob_token_ids.len()
                    ),
                ));
            }
            if let Some(id) = logprob_token_ids.iter().find(|&&id| id as usize >= vocab) {
                return Err(ApiError::invalid(
                    "logprob_token_ids",
                    "invalid_value",
                    &format!(
                        "token id {id} in `logprob_token_ids` is out of range (vocabulary of {vocab})"
                    ),
                ));
            }
        }
        let logprobs = asked.logprobs || top_logprobs > 0;
        let choices = (0..n as u64)
            .map(|i| GenerateOptions {
                knobs: knobs.clone(),
                order: order.clone(),
                // Choice i draws from seed + i: n choices differ, and each reproduces.
                seed: seed.wrapping_add(i),
                max_tokens,
                stop: stop.clone(),
                logprobs: logprobs || asked.dial.entropy,
                top_logprobs,
                trace: asked.dial.trace,
                logprob_token_ids: logprob_token_ids.clone(),
                prompt_logprobs,
                // Each choice follows the constraint from its own start.
                constraint: compiled.as_ref().map(|(engine, compiled)| {
                    Box::new(engine.start_compiled(compiled))
                        as Box<dyn dial_sampling::TokenConstraint>
                }),
            })
            .collect();
        Ok(Plan {
            prompt: asked.prompt,
            choices,
            seed,
            mode: asked.dial.logprobs,
            logprobs,
            top_logprobs,
            dial: asked.dial.clone(),
            constraint: compiled.as_ref().map(|(_, c)| c.summary().to_string()),
            relaxed: compiled
                .as_ref()
                .map(|(_, c)| c.relaxed().to_vec())
                .unwrap_or_default(),
        })
    }

    /// Queues `plan`; its events arrive on the receiver. Dropping it cancels the work.
    pub(crate) fn submit(&self, plan: &Plan) -> Result<mpsc::UnboundedReceiver<Event>, ApiError> {
        let (events, rx) = mpsc::unbounded_channel();
        self.engine.submit(Job::Generate {
            prompt: plan.prompt.clone(),
            choices: plan.choices.clone(),
            events,
        })?;
        Ok(rx)
    }
}

/// `stream_options` only makes sense with `stream: true`.
pub(crate) fn check_stream_options(
    stream: Option<bool>,
    has_options: bool,
) -> Result<(), ApiError> {
    if has_options && stream != Some(true) {
        return Err(ApiError::invalid(
            "stream_options",
            "invalid_value",
            "`stream_options` is only allowed with `stream: true`",
        ));
    }
    Ok(())
}

/// One finished choice.
#[derive(Debug, Default)]
pub(crate) struct ChoiceOutput {
    pub text: String,
    pub steps: Vec<Step>,
    /// The prompt's scores, when asked for.
    pub prompt_logprobs: Vec<dial_model::PromptLogprob>,
    pub finish: Option<FinishReason>,
    /// Rewinds for `banned_strings`.
    pub rewinds: usize,
}

/// Waits for every choice to end; the first failure fails the request.
pub(crate) async fn collect(
    mut rx: mpsc::UnboundedReceiver<Event>,
    n: usize,
) -> Result<Vec<ChoiceOutput>, ApiError> {
    let mut out: Vec<ChoiceOutput> = (0..n).map(|_| ChoiceOutput::default()).collect();
    let mut open = n;
    while open > 0 {
        let Some(event) = rx.recv().await else {
            return Err(ApiError::internal(
                "the engine stopped before the answer was done",
            ));
        };
        match event {
            Event::Prefilled {
                choice,
                prompt_logprobs,
            } => {
                if let Some(c) = out.get_mut(choice) {
                    c.prompt_logprobs = prompt_logprobs;
                }
            }
            Event::Token { choice, step } => {
                if let Some(c) = out.get_mut(choice) {
                    c.text.push_str(&step.text);
                    c.steps.push(*step);
                }
            }
            Event::Done {
                choice,
                finish,
                rewinds,
            } => {
                if let Some(c) = out.get_mut(choice) {
                    c.finish = Some(finish);
                    c.rewinds = rewinds;
                }
                open -= 1;
            }
            Event::Failed { error, .. } => return Err(error),
        }
    }
    Ok(out)
}

/// One alternative token in the OpenAI shape.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TopLogprob {
    /// Its text.
    pub token: String,
    /// Its log-probability.
    pub logprob: f64,
    /// Its UTF-8 bytes.
    pub bytes: Vec<u8>,
}

/// A generated token's log-probability in the OpenAI shape.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenLogprob {
    /// Its text.
    pub token: String,
    /// Its log-probability.
    pub logprob: f64,
    /// Its UTF-8 bytes.
    pub bytes: Vec<u8>,
    /// The most likely tokens at this position.
    pub top_logprobs: Vec<TopLogprob>,
}

/// dial's per-token report (`"dial": {"trace": true}` or `{"entropy": true}`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenReport {
    /// Token id.
    pub id: u32,
    /// Its text.
    pub text: String,
    /// Log-probability under the distribution it was drawn from.
    pub logprob: f64,
    /// Log-probability under the model's raw distribution.
    pub raw_logprob: Option<f64>,
    /// Tokens the chain kept.
    pub kept: usize,
    /// Entropy of the raw distribution, bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entropy_bits_before: Option<f64>,
    /// Entropy of the processed distribution, bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entropy_bits_after: Option<f64>,
    /// What each stage kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub trace: Option<Vec<dial_sampling::StageTrace>>,
}

impl Lm {
    pub(crate) fn piece(&self, id: u32) -> (String, Vec<u8>) {
        let bytes = self.model.tokenizer().token_bytes(id);
        (String::from_utf8_lossy(&bytes).into_owned(), bytes)
    }

    /// `step`'s log-probabilities in `mode`, with `top` alternatives.
    pub(crate) fn token_logprob(
        &self,
        step: &Step,
        mode: LogprobsMode,
        top: usize,
    ) -> TokenLogprob {
        let (token, bytes) = self.piece(step.token);
        if !step.named.is_empty() {
            // vLLM's logprob_token_ids: the named tokens replace the most likely ones.
            // JSON has no −∞: a token the chain cut reports OpenAI's floor, −9999.
            let pick = |n: &dial_sampling::NamedLogprob| match mode {
                LogprobsMode::Raw => n.raw_logprob,
                LogprobsMode::Processed => n.logprob.max(CUT_LOGPROB),
            };
            let logprob = match mode {
                LogprobsMode::Raw => step.raw_logprob.unwrap_or(step.logprob),
                LogprobsMode::Processed => step.logprob,
            };
            return TokenLogprob {
                token,
                logprob,
                bytes,
                top_logprobs: step.named.iter().map(|n| self.top(n.id, pick(n))).collect(),
            };
        }
        let (logprob, top_logprobs) = match mode {
            LogprobsMode::Raw => (
                step.raw_logprob.unwrap_or(step.logprob),
                step.raw_top
                    .iter()
                    .take(top)
                    .map(|a| self.top(a.id, a.raw_logprob))
                    .collect(),
            ),
            LogprobsMode::Processed => (
                step.logprob,
                step.top
                    .iter()
                    .take(top)
                    .map(|a| self.top(a.id, a.logprob))
                    .collect(),
            ),
        };
        TokenLogprob {
            token,
            logprob,
            bytes,
            top_logprobs,
        }
    }

    fn top(&self, id: u32, logprob: f64) -> TopLogprob {
        let (token, bytes) = self.piece(id);
        TopLogprob {
            token,
            logprob,
            bytes,
        }
    }

    /// dial's per-token report for `step`.
    pub(crate) fn token_report(&self, step: &Step, dial: &DialOptions) -> TokenReport {
        let bits = |nats: Option<f64>| nats.map(|h| h / std::f64::consts::LN_2);
        TokenReport {
            id: step.token,
            text: self.piece(step.token).0,
            logprob: step.logprob,
            raw_logprob: step.raw_logprob,
            kept: step.kept,
            entropy_bits_before: if dial.entropy {
                bits(step.entropy_raw)
            } else {
                None
            },
            entropy_bits_after: if dial.entropy {
                bits(step.entropy)
            } else {
                None
            },
            trace: step.trace.clone(),
        }
    }
}

/// dial's extension in a response: the seed used and, when asked, per-token reports.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DialReport {
    /// The seed of the first choice (choice i used seed + i).
    pub seed: u64,
    /// The order the knobs ran in.
    pub order: String,
    /// Per-token reports, when `dial.trace` or `dial.entropy` asked for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<TokenReport>>,
    /// The constraint the output followed, readable (`json schema (412 bytes)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// Schema keywords a lenient schema relaxed (not enforced): each keyword and the JSON
    /// pointer of the schema holding it. Also in the `dial-relaxed-keywords` header.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub relaxed: Vec<Relaxed>,
    /// Knobs that stood aside for the constraint where the two conflicted (a grammar that
    /// allows only an end, against `min_tokens` or `ignore_eos`): each knob and how many
    /// tokens it yielded at.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub yielded: Vec<Yielded>,
    /// How many times `banned_strings` rolled the generation back to where a phrase began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewinds: Option<usize>,
}

/// A knob that yielded to the constraint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Yielded {
    /// The knob (`end_of_generation`).
    pub knob: String,
    /// At how many tokens.
    pub tokens: usize,
}

/// The knobs that yielded over `steps`, in chain order of first appearance.
fn yielded(steps: &[Step]) -> Vec<Yielded> {
    let mut out: Vec<Yielded> = Vec::new();
    for kind in steps.iter().flat_map(|s| &s.yielded) {
        match out.iter_mut().find(|y| y.knob == kind.name()) {
            Some(y) => y.tokens += 1,
            None => out.push(Yielded {
                knob: kind.name().to_string(),
                tokens: 1,
            }),
        }
    }
    out
}

impl Lm {
    /// The report on the first choice: its `steps` and its `rewinds`.
    pub(crate) fn dial_report(&self, plan: &Plan, steps: &[Step], rewinds: usize) -> DialReport {
        DialReport {
            seed: plan.seed,
            order: plan
                .choices
                .first()
                .map(|c| c.order.to_string())
                .unwrap_or_default(),
            tokens: plan.dial.per_token().then(|| {
                steps
                    .iter()
                    .map(|s| self.token_report(s, &plan.dial))
                    .collect()
            }),
            constraint: plan.constraint.clone(),
            relaxed: plan.relaxed.clone(),
            yielded: yielded(steps),
            rewinds: plan
                .choices
                .first()
                .is_some_and(|c| c.knobs.banned_strings.is_some())
                .then_some(rewinds),
        }
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An id with `prefix` and 24 hex digits.
pub(crate) fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}{:024x}",
        (u128::from(dial_sampling::clock_bits()) << 32)
            | u128::from(dial_sampling::clock_bits() as u32)
    )
}

/// The header that lists the relaxed schema keywords.
pub const RELAXED_HEADER: &str = "dial-relaxed-keywords";

/// `response` with the [`RELAXED_HEADER`] when schema keywords were `relaxed`:
/// `keyword at #pointer`, separated by `; `, bytes outside printable ASCII percent-encoded.
pub(crate) fn with_relaxed_header(
    relaxed: &[Relaxed],
    mut response: axum::response::Response,
) -> axum::response::Response {
    if relaxed.is_empty() {
        return response;
    }
    let text = relaxed
        .iter()
        .map(|r| format!("{} at #{}", r.keyword, r.pointer))
        .collect::<Vec<_>>()
        .join("; ");
    let mut encoded = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    if let Ok(value) = axum::http::HeaderValue::from_str(&encoded) {
        response.headers_mut().insert(RELAXED_HEADER, value);
    }
    response
}
