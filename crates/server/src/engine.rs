//! The engine: one thread owns the compute and steps every active sequence in turn.
//!
//! Requests wait in a bounded queue. Up to `max_concurrency` sequences are active; each
//! round gives every active sequence one unit of work, a prefill chunk or one decode step,
//! so streams advance together and a long prompt delays the others by one chunk at most.
//! A sequence whose client has gone (its event receiver dropped) is dropped before its
//! next unit. A panic inside a sequence fails that sequence alone.
//!
//! Every sequence has its own session and sampler, so a seeded request produces the same
//! tokens alone or among others. A batched forward over all active sequences can replace
//! the per-sequence step inside [`Engine::run`] without changing [`Job`] or [`Event`].

use crate::error::ApiError;
use crate::metrics::Metrics;
use dial_model::{FinishReason, GenerateOptions, Generation, Model, Step};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Called before every unit of work with the sequence's prompt; tests inject faults with
/// it.
pub type StepHook = Arc<dyn Fn(&[u32]) + Send + Sync>;

/// What a generation reports, per choice, in order.
#[derive(Debug)]
pub enum Event {
    /// The prompt is in the cache.
    Prefilled {
        /// Which choice.
        choice: usize,
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

/// The handle requests use: a bounded queue into the engine thread.
#[derive(Debug, Clone)]
pub struct Engine {
    queue: mpsc::Sender<(Job, Instant)>,
    capacity: usize,
}

impl Engine {
    /// Starts the engine thread on `model`.
    pub fn start(
        model: Model,
        max_concurrency: usize,
        max_queue: usize,
        metrics: Arc<Metrics>,
        hook: Option<StepHook>,
    ) -> Engine {
        let capacity = max_queue.max(1);
        let (queue, jobs) = mpsc::channel(capacity);
        let runner = Runner {
            model,
            jobs,
            active: Vec::new(),
            max_concurrency: max_concurrency.max(1),
            metrics,
            hook,
        };
        // The thread ends when every Engine handle is gone and the active work is done.
        std::thread::Builder::new()
            .name("dial-engine".into())
            .spawn(move || runner.run())
            .map(drop)
            .unwrap_or_else(|e| tracing::error!("cannot start the engine thread: {e}"));
        Engine { queue, capacity }
    }

    /// Queues `job`, or answers 429 when the queue is full.
    pub fn submit(&self, job: Job) -> Result<(), ApiError> {
        match self.queue.try_send((job, Instant::now())) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(ApiError::queue_full(self.capacity)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(ApiError::shutting_down()),
        }
    }

    /// Requests waiting in the queue.
    pub fn queued(&self) -> usize {
        self.capacity - self.queue.capacity()
    }
}

/// One active sequence.
enum Sequence {
    Choice {
        generation: Box<Generation>,
        choice: usize,
        events: mpsc::UnboundedSender<Event>,
        submitted: Instant,
        last_token: Option<Instant>,
    },
    Logits {
        generation: Box<Generation>,
        reply: Option<oneshot::Sender<Result<Vec<f32>, ApiError>>>,
    },
}

enum Progress {
    Continue,
    Finished,
}

impl Sequence {
    fn cancelled(&self) -> bool {
        match self {
            Sequence::Choice { events, .. } => events.is_closed(),
            Sequence::Logits { reply, .. } => reply.as_ref().is_none_or(|r| r.is_closed()),
        }
    }

    fn prompt(&self) -> &[u32] {
        match self {
            Sequence::Choice { generation, .. } | Sequence::Logits { generation, .. } => {
                generation.prompt()
            }
        }
    }

    fn fail(&mut self, error: ApiError) {
        match self {
            Sequence::Choice { choice, events, .. } => {
                let _ = events.send(Event::Failed {
                    choice: *choice,
                    error,
                });
            }
            Sequence::Logits { reply, .. } => {
                if let Some(r) = reply.take() {
                    let _ = r.send(Err(error));
                }
            }
        }
    }

    /// One unit of work: a prefill chunk or a decode step.
    fn advance(&mut self, metrics: &Metrics) -> Result<Progress, ApiError> {
        match self {
            Sequence::Logits { generation, reply } => {
                if generation.prefill_chunk()? {
                    if let Some(r) = reply.take() {
                        let _ = r.send(Ok(generation.logits().to_vec()));
                    }
                    return Ok(Progress::Finished);
                }
                Ok(Progress::Continue)
            }
            Sequence::Choice {
                generation,
                choice,
                events,
                submitted,
                last_token,
            } => {
                if !generation.is_prefilled() {
                    if generation.prefill_chunk()? {
                        let _ = events.send(Event::Prefilled { choice: *choice });
                    }
                    return Ok(Progress::Continue);
                }
                match generation.next() {
                    Some(step) => {
                        let step = step?;
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
                        if let Some(finish) = generation.finish_reason() {
                            let _ = events.send(Event::Done {
                                choice: *choice,
                                finish,
                            });
                            return Ok(Progress::Finished);
                        }
                        Ok(Progress::Continue)
                    }
                    None => {
                        let finish = generation.finish_reason().unwrap_or(FinishReason::Length);
                        let _ = events.send(Event::Done {
                            choice: *choice,
                            finish,
                        });
                        Ok(Progress::Finished)
                    }
                }
            }
        }
    }
}

struct Runner {
    model: Model,
    jobs: mpsc::Receiver<(Job, Instant)>,
    active: Vec<Sequence>,
    max_concurrency: usize,
    metrics: Arc<Metrics>,
    hook: Option<StepHook>,
}

impl Runner {
    fn run(mut self) {
        loop {
            self.admit();
            if self.active.is_empty() {
                match self.jobs.blocking_recv() {
                    Some((job, at)) => self.start(job, at),
                    None => return,
                }
                continue;
            }
            self.round();
        }
    }

    /// Moves queued jobs into the active set while there is room.
    fn admit(&mut self) {
        while self.active.len() < self.max_concurrency {
            match self.jobs.try_recv() {
                Ok((job, at)) => self.start(job, at),
                Err(_) => break,
            }
        }
    }

    fn start(&mut self, job: Job, submitted: Instant) {
        match job {
            Job::Generate {
                prompt,
                choices,
                events,
            } => {
                if events.is_closed() {
                    self.metrics.add_cancelled();
                    return;
                }
                self.metrics.add_tokens_in(prompt.len() as u64);
                for (choice, options) in choices.into_iter().enumerate() {
                    let session = self.model.session();
                    match session.and_then(|s| Generation::new(s, &prompt, options)) {
                        Ok(generation) => self.active.push(Sequence::Choice {
                            generation: Box::new(generation),
                            choice,
                            events: events.clone(),
                            submitted,
                            last_token: None,
                        }),
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
                if reply.is_closed() {
                    self.metrics.add_cancelled();
                    return;
                }
                let options = GenerateOptions {
                    max_tokens: 0,
                    ..GenerateOptions::default()
                };
                let session = self.model.session();
                match session.and_then(|s| Generation::new(s, &prompt, options)) {
                    Ok(generation) => self.active.push(Sequence::Logits {
                        generation: Box::new(generation),
                        reply: Some(reply),
                    }),
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
        }
    }

    /// One unit of work for every active sequence, in turn.
    fn round(&mut self) {
        let mut i = 0;
        while i < self.active.len() {
            if self.active[i].cancelled() {
                self.active.swap_remove(i);
                self.metrics.add_cancelled();
                continue;
            }
            let hook = self.hook.clone();
            let seq = &mut self.active[i];
            let metrics = &self.metrics;
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                if let Some(hook) = &hook {
                    hook(seq.prompt());
                }
                seq.advance(metrics)
            }));
            let finished = match outcome {
                Ok(Ok(Progress::Continue)) => false,
                Ok(Ok(Progress::Finished)) => true,
                Ok(Err(error)) => {
                    seq.fail(error);
                    true
                }
                Err(panic) => {
                    let what = crate::error::panic_message(panic.as_ref());
                    tracing::error!("a sequence panicked: {what}");
                    self.metrics.add_panic();
                    seq.fail(ApiError::internal(&format!(
                        "generation failed inside dial: {what}"
                    )));
                    true
                }
            };
            if finished {
                // Keep the round-robin order: the next sequence moves into slot i.
                self.active.remove(i);
            } else {
                i += 1;
            }
        }
        self.metrics.set_active(self.active.len());
    }
}
