//! The engine: continuous batching on one thread that owns the compute.
//!
//! Each step is one forward pass over every active sequence ([`Model::step`]): the
//! linear layers run as one matmul over all of the step's rows, attention per sequence
//! over its own KV cache. Decode rows go first, one token per sequence; prefill chunks
//! fill what is left of the step's token budget (`step_tokens`), so a long prompt never
//! stalls the streams already running. Then every sequence with fresh logits draws its
//! token, in parallel, each with its own sampler.
//!
//! New sequences join between steps and finished or cancelled ones leave at once. A
//! sequence whose client has gone (its event receiver dropped) leaves before the next
//! step. Every sequence sets aside its worst-case KV cache (prompt plus `max_tokens`) in
//! a pool of `kv_cache_bytes`; a request that does not fit waits at the head of the
//! queue, a full queue answers 429, and a request larger than the whole pool is refused.
//!
//! dial's kernels give a row the same bits whatever else is in the pass, and each
//! sequence has its own seeded sampler, so a seeded request produces the same tokens
//! and logprobs alone or in a crowd. A panic while drawing fails that sequence alone; a
//! panic inside the shared pass fails the sequences in that pass.

use crate::error::ApiError;
use crate::metrics::{EngineGauges, Metrics};
use dial_model::{FinishReason, GenerateOptions, Generation, Model, Step};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Called before every step with each active sequence's prompt; tests inject faults with
/// it.
pub type StepHook = Arc<dyn Fn(&[u32]) + Send + Sync>;

/// What a generation reports, per choice, in order.
#[derive(Debug)]
pub enum Event {
    /// The prompt is in the cache.
    Prefilled {
        /// Which choice.
        choice: usize,
        /// Its tokens after the first, scored, when the choice asked (`prompt_logprobs`).
        prompt_logprobs: Vec<dial_model::PromptLogprob>,
    },
    /// A token was drawn.
    Token {
        /// Which choice.
        choice: usize,
        /// The token and its report.
        step: Box<Step>,
    },
    /// The choice ended.
    Done {
        /// Which choice.
        choice: usize,
        /// Why.
        finish: FinishReason,
        /// How many times `banned_strings` rolled it back.
        rewinds: usize,
    },
    /// The choice failed; no more events come for it.
    Failed {
        /// Which choice.
        choice: usize,
        /// Why.
        error: ApiError,
    },
}

/// Work for the engine.
#[derive(Debug)]
pub enum Job {
    /// Generate one or more choices after one prompt.
    Generate {
        /// Prompt token ids.
        prompt: Vec<u32>,
        /// One entry per choice.
        choices: Vec<GenerateOptions>,
        /// Where the events go; dropping the receiver cancels the job.
        events: mpsc::UnboundedSender<Event>,
    },
    /// Prefill a prompt and return its next-token logits (for explain).
    Logits {
        /// Prompt token ids.
        prompt: Vec<u32>,
        /// Where the logits go; dropping the receiver cancels the job.
        reply: oneshot::Sender<Result<Vec<f32>, ApiError>>,
    },
}

impl Job {
    fn cancelled(&self) -> bool {
        match self {
            Job::Generate { events, .. } => events.is_closed(),
            Job::Logits { reply, .. } => reply.is_closed(),
        }
    }
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Sequences stepped together.
    pub max_concurrency: usize,
    /// Requests that may wait; more get a 429.
    pub max_queue: usize,
    /// Token rows one step may run: every decode row, then prefill chunks in what is left.
    pub step_tokens: usize,
    /// The KV cache pool, in bytes.
    pub kv_cache_bytes: usize,
    /// Compute threads (a pool of its own); `None` shares rayon's global pool.
    pub threads: Option<usize>,
}

/// One active sequence, as `/health` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SequenceStatus {
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Tokens in its KV cache.
    pub position: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Bytes its KV cache holds now.
    pub kv_cache_bytes: usize,
    /// Bytes set aside for its worst case.
    pub kv_cache_reserved_bytes: usize,
}

/// The engine between steps.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EngineStatus {
    /// The KV cache pool, in bytes.
    pub kv_cache_capacity_bytes: usize,
    /// Set aside for the active sequences.
    pub kv_cache_reserved_bytes: usize,
    /// Held by them now.
    pub kv_cache_used_bytes: usize,
    /// Token rows the step budget allows.
    pub step_tokens: usize,
    /// Rows the last step ran.
    pub last_step_rows: usize,
    /// A request waiting at the head of the queue for KV room or a free slot.
    pub head_waiting: bool,
    /// The active sequences.
    pub sequences: Vec<SequenceStatus>,
}

/// The handle requests use: a bounded queue into the engine thread.
#[derive(Debug, Clone)]
pub struct Engine {
    queue: mpsc::Sender<(Job, Instant)>,
    capacity: usize,
    status: Arc<Mutex<EngineStatus>>,
}

impl Engine {
    /// Starts the engine thread on `model`.
    pub fn start(
        model: Model,
        config: &EngineConfig,
        metrics: Arc<Metrics>,
        hook: Option<StepHook>,
    ) -> Engine {
        let capacity = config.max_queue.max(1);
        let (queue, jobs) = mpsc::channel(capacity);
        let status = Arc::new(Mutex::new(EngineStatus {
            kv_cache_capacity_bytes: config.kv_cache_bytes,
            step_tokens: config.step_tokens,
            ..EngineStatus::default()
        }));
        let gauges = metrics.engine_gauges();
        gauges.set_kv(config.kv_cache_bytes, 0, 0);
        let pool = config.threads.and_then(|n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .thread_name(|i| format!("dial-compute-{i}"))
                .build()
                .map_err(|e| tracing::error!("cannot start {n} compute threads: {e}"))
                .ok()
        });
        let runner = Runner {
            model,
            jobs,
            head: None,
            active: Vec::new(),
            max_concurrency: config.max_concurrency.max(1),
            step_tokens: config.step_tokens.max(1),
            kv_capacity: config.kv_cache_bytes,
            kv_reserved: 0,
            metrics,
            gauges,
            hook,
            pool,
            status: status.clone(),
        };
        // The thread ends when every Engine handle is gone and the active work is done.
        std::thread::Builder::new()
            .name("dial-engine".into())
            .spawn(move || runner.run())
            .map(drop)
            .unwrap_or_else(|e| tracing::error!("cannot start the engine thread: {e}"));
        Engine {
            queue,
            capacity,
            status,
        }
    }

    /// Queues `job`, or answers 429 when the queue is full.
    pub fn submit(&self, job: Job) -> Result<(), ApiError> {
        match self.queue.try_send((job, Instant::now())) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(ApiError::queue_full(self.capacity)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(ApiError::shutting_down()),
        }
    }

    /// Requests waiting: in the queue, and the one at its head waiting for room.
    pub fn queued(&self) -> usize {
        let head = self.status().head_waiting;
        self.capacity - self.queue.capacity() + usize::from(head)
    }

    /// The engine as of its last step.
    pub fn status(&self) -> EngineStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One active sequence.
struct Sequence {
    generation: Box<Generation>,
    /// KV cache bytes set aside for it in the pool.
    reserved: usize,
    kind: Kind,
    /// Why it failed, told to its client once it has left the pool.
    failure: Option<ApiError>,
}

enum Kind {
    Choice {
        choice: usize,
        events: mpsc::UnboundedSender<Event>,
        submitted: Instant,
        last_token: Option<Instant>,
    },
    Logits {
        reply: Option<oneshot::Sender<Result<Vec<f32>, ApiError>>>,
    },
}

impl Sequence {
    fn cancelled(&self) -> bool {
        match &self.kind {
            Kind::Choice { events, .. } => events.is_closed(),
            Kind::Logits { reply } => reply.as_ref().is_none_or(|r| r.is_closed()),
        }
    }

    fn fail(&mut self, error: ApiError) {
        self.failure = Some(error);
    }

    /// Tells the client how the sequence ended. Called after it has left the pool and
    /// `/health` shows that, so a client that has its answer never sees its KV still held.
    fn conclude(self) {
        let finish = self.generation.finish_reason();
        match self.kind {
            Kind::Choice { choice, events, .. } => {
                let event = match (self.failure, finish) {
                    (Some(error), _) => Event::Failed { choice, error },
                    (None, Some(finish)) => Event::Done {
                        choice,
                        finish,
                        rewinds: self.generation.rewinds(),
                    },
                    (None, None) => return,
                };
                let _ = events.send(event);
            }
            Kind::Logits { reply: Some(reply) } => {
                let answer = match (self.failure, finish) {
                    (Some(error), _) => Err(error),
                    (None, Some(_)) => Ok(self.generation.logits().to_vec()),
                    (None, None) => return,
                };
                let _ = reply.send(answer);
            }
            Kind::Logits { reply: None } => {}
        }
    }

    fn status(&self) -> SequenceStatus {
        let g = &self.generation;
        SequenceStatus {
            prompt_tokens: g.prompt_tokens(),
            position: g.session().position(),
            generated_tokens: g.generated_tokens(),
            kv_cache_bytes: g.kv_bytes(),
            kv_cache_reserved_bytes: self.reserved,
        }
    }

    /// Reports a draw; `true` once the sequence is done.
    fn drew(&mut self, drawn: Vec<Step>, metrics: &Metrics) -> bool {
        let Kind::Choice {
            choice,
            events,
            submitted,
            last_token,
        } = &mut self.kind
        else {
            return true;
        };
        for step in drawn {
            let now = Instant::now();
            match last_token {
                None => metrics.observe_ttft(now - *submitted),
                Some(t) => metrics.observe_itl(now - *t),
            }
            *last_token = Some(now);
            metrics.add_tokens_out(1);
            let _ = events.send(Event::Token {
                choice: *choice,
                step: Box::new(step),
            });
        }
        self.generation.finish_reason().is_some()
    }
}

struct Runner {
    model: Model,
    jobs: mpsc::Receiver<(Job, Instant)>,
    /// The next job, taken from the queue but waiting for a free slot or KV room.
    head: Option<(Job, Instant)>,
    active: Vec<Sequence>,
    max_concurrency: usize,
    step_tokens: usize,
    kv_capacity: usize,
    kv_reserved: usize,
    metrics: Arc<Metrics>,
    gauges: Arc<EngineGauges>,
    hook: Option<StepHook>,
    pool: Option<rayon::ThreadPool>,
    status: Arc<Mutex<EngineStatus>>,
}

impl Runner {
    fn run(mut self) {
        loop {
            self.admit();
            if self.active.is_empty() && self.head.is_none() {
                match self.jobs.blocking_recv() {
                    Some(job) => self.head = Some(job),
                    None => return,
                }
                continue;
            }
            self.step();
        }
    }

    /// Starts queued jobs, in order, while there are free slots and KV room.
    fn admit(&mut self) {
        loop {
            if self.active.len() >= self.max_concurrency {
                break;
            }
            let Some((job, submitted)) = self.head.take().or_else(|| self.jobs.try_recv().ok())
            else {
                break;
            };
            if job.cancelled() {
                self.metrics.add_cancelled();
                continue;
            }
            let needed = self.reservation(&job);
            if needed > self.kv_capacity {
                let error = ApiError::kv_cache_too_small(needed, self.kv_capacity);
                match job {
                    Job::Generate {
                        events, choices, ..
                    } => {
                        for choice in 0..choices.len() {
                            let _ = events.send(Event::Failed {
                                choice,
                                error: error.clone(),
                            });
                        }
                    }
                    Job::Logits { reply, .. } => {
                        let _ = reply.send(Err(error));
                    }
                }
                continue;
            }
            if self.kv_reserved + needed > self.kv_capacity {
                self.head = Some((job, submitted));
                break;
            }
            self.start(job, submitted);
        }
        self.publish();
    }

    /// Worst-case KV bytes of every sequence `job` starts.
    fn reservation(&self, job: &Job) -> usize {
        let context = self.model.context_length();
        match job {
            Job::Generate {
                prompt, choices, ..
            } => choices
                .iter()
                .map(|o| Generation::kv_bytes_needed(&self.model, prompt, o))
                .sum(),
            Job::Logits { prompt, .. } => self.model.kv_bytes(prompt.len().min(context)),
        }
    }

    fn start(&mut self, job: Job, submitted: Instant) {
        let context = self.model.context_length();
        match job {
            Job::Generate {
                prompt,
                choices,
                events,
            } => {
                self.metrics.add_tokens_in(prompt.len() as u64);
                for (choice, options) in choices.into_iter().enumerate() {
                    let reserved = Generation::kv_bytes_needed(&self.model, &prompt, &options);
                    let session = self.model.session();
                    match session.and_then(|s| Generation::new(s, &prompt, options)) {
                        Ok(generation) => {
                            self.kv_reserved += reserved;
                            self.active.push(Sequence {
                                generation: Box::new(generation),
                                reserved,
                                kind: Kind::Choice {
                                    choice,
                                    events: events.clone(),
                                    submitted,
                                    last_token: None,
                                },
                                failure: None,
                            });
                        }
                        Err(e) => {
                            let _ = events.send(Event::Failed {
                                choice,
                                error: e.into(),
                            });
                        }
                    }
                }
            }
            Job::Logits { prompt, reply } => {
                let options = GenerateOptions {
                    max_tokens: 0,
                    ..GenerateOptions::default()
                };
                let reserved = self.model.kv_bytes(prompt.len().min(context));
                let session = self.model.session();
                match session.and_then(|s| Generation::new(s, &prompt, options)) {
                    Ok(generation) => {
                        self.kv_reserved += reserved;
                        self.active.push(Sequence {
                            generation: Box::new(generation),
                            reserved,
                            kind: Kind::Logits { reply: Some(reply) },
                            failure: None,
                        });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
        }
    }

    /// One step: drop the cancelled, one forward pass over everyone, the draws; then the
    /// ended leave the pool, `/health` shows it, and only then do their clients hear.
    fn step(&mut self) {
        let mut done = vec![false; self.active.len()];
        for (seq, done) in self.active.iter().zip(&mut done) {
            if seq.cancelled() {
                self.metrics.add_cancelled();
                *done = true;
            }
        }
        if let Some(hook) = self.hook.clone() {
            for (seq, done) in self.active.iter_mut().zip(&mut done) {
                if *done {
                    continue;
                }
                let prompt = seq.generation.prompt();
                if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| hook(prompt))) {
                    let what = crate::error::panic_message(panic.as_ref());
                    tracing::error!("a sequence panicked: {what}");
                    self.metrics.add_panic();
                    seq.fail(ApiError::internal(&format!(
                        "generation failed inside dial: {what}"
                    )));
                    *done = true;
                }
            }
        }
        self.run_batch(&mut done);
        let mut ended = Vec::new();
        let mut kept = Vec::with_capacity(self.active.len());
        for (seq, done) in std::mem::take(&mut self.active).into_iter().zip(done) {
            if done {
                self.kv_reserved -= seq.reserved;
                ended.push(seq);
            } else {
                kept.push(seq);
            }
        }
        self.active = kept;
        self.gauges.set_active(self.active.len());
        self.publish();
        for seq in ended {
            seq.conclude();
        }
    }

    /// The forward pass and the draws for every sequence still in, then their events.
    fn run_batch(&mut self, done: &mut [bool]) {
        let model = self.model.clone();
        let step_tokens = self.step_tokens;
        let mut who = Vec::new();
        let mut generations = Vec::new();
        for (i, (seq, &done)) in self.active.iter_mut().zip(done.iter()).enumerate() {
            if !done {
                who.push(i);
                generations.push(seq.generation.as_mut());
            }
        }
        if generations.is_empty() {
            return;
        }
        let batch = compute(self.pool.as_ref(), || {
            dial_model::step_batch(&model, &mut generations, step_tokens)
        });
        drop(generations);
        if batch.rows > 0 {
            self.metrics.add_step(batch.rows);
        }
        if let Ok(mut status) = self.status.lock() {
            status.last_step_rows = batch.rows;
        }
        for (i, outcome) in who.into_iter().zip(batch.outcomes) {
            done[i] = self.report(i, outcome);
        }
    }

    /// Sends a sequence's events for one step; `true` once it is done.
    fn report(&mut self, i: usize, outcome: dial_model::StepOutcome) -> bool {
        let seq = &mut self.active[i];
        if let Some(error) = outcome.error {
            if let dial_model::ModelError::Panicked(what) = &error {
                tracing::error!("a sequence panicked: {what}");
                self.metrics.add_panic();
            }
            seq.fail(error.into());
            return true;
        }
        match &mut seq.kind {
            Kind::Logits { .. } => seq.generation.finish_reason().is_some(),
            Kind::Choice { choice, events, .. } => {
                if outcome.prefilled {
                    let _ = events.send(Event::Prefilled {
                        choice: *choice,
                        prompt_logprobs: seq.generation.prompt_logprobs().to_vec(),
                    });
                }
                if outcome.rewound {
                    self.metrics.add_rewind();
                }
                seq.drew(outcome.steps, &self.metrics)
            }
        }
    }

    /// Shares the state between steps with `/health` and `/metrics`.
    fn publish(&self) {
        let sequences: Vec<SequenceStatus> = self.active.iter().map(Sequence::status).collect();
        let used = sequences.iter().map(|s| s.kv_cache_bytes).sum();
        self.gauges.set_kv(self.kv_capacity, self.kv_reserved, used);
        if let Ok(mut status) = self.status.lock() {
            status.kv_cache_reserved_bytes = self.kv_reserved;
            status.kv_cache_used_bytes = used;
            status.head_waiting = self.head.is_some();
            status.sequences = sequences;
        }
    }
}

/// Runs `work` on the engine's own compute pool, if it has one.
fn compute<R: Send>(pool: Option<&rayon::ThreadPool>, work: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(pool) => pool.install(work),
        None => work(),
    }
}
