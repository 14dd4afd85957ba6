//! What every handler shares: the model, the engine, the limits, the counters.

use crate::engine::{Engine, EngineConfig, StepHook};
use crate::explain::LogitsCache;
use crate::metrics::Metrics;
use crate::prompt::ChatTemplate;
use dial_grammar::{GrammarEngine, GrammarError};
use dial_model::Model;
use dial_voice::Voice;
use std::sync::{Arc, OnceLock};

/// The server's limits and options.
#[derive(Clone)]
pub struct ServerConfig {
    /// Required `Authorization: Bearer` key, if any.
    pub api_key: Option<String>,
    /// Sequences stepped together, in one forward pass.
    pub max_concurrency: usize,
    /// Token rows one engine step may run: decode rows first, prefill chunks in the rest.
    pub step_tokens: usize,
    /// The KV cache pool, in bytes: each sequence sets aside its worst case.
    pub kv_cache_bytes: usize,
    /// Compute threads of the engine's own pool; `None` shares rayon's global pool.
    pub threads: Option<usize>,
    /// Requests that may wait for the engine; more get a 429.
    pub max_queue: usize,
    /// The largest `max_tokens` a request may ask for.
    pub max_tokens_limit: usize,
    /// `max_tokens` when a request does not say.
    pub default_max_tokens: usize,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// Called before every unit of engine work (fault injection in tests).
    pub step_hook: Option<StepHook>,
    /// Speech requests that may run or wait at once; more get a 429.
    pub max_speech_queue: usize,
    /// The longest text a speech request may send, in characters.
    pub max_characters: usize,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("max_concurrency", &self.max_concurrency)
            .field("step_tokens", &self.step_tokens)
            .field("kv_cache_bytes", &self.kv_cache_bytes)
            .field("threads", &self.threads)
            .field("max_queue", &self.max_queue)
            .field("max_tokens_limit", &self.max_tokens_limit)
            .field("default_max_tokens", &self.default_max_tokens)
            .field("body_limit", &self.body_limit)
            .field("step_hook", &self.step_hook.is_some())
            .field("max_speech_queue", &self.max_speech_queue)
            .field("max_characters", &self.max_characters)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            api_key: None,
            max_concurrency: 8,
            step_tokens: 256,
            kv_cache_bytes: 2048 << 20,
            threads: None,
            max_queue: 64,
            max_tokens_limit: 4096,
            default_max_tokens: 256,
            body_limit: 1 << 20,
            step_hook: None,
            max_speech_queue: 8,
            max_characters: 5000,
        }
    }
}

/// The state behind [`crate::app`].
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// The language models, each with its own engine; the first is the default. Empty on
    /// a voice-only server.
    pub lms: Vec<Arc<Lm>>,
    pub config: ServerConfig,
    pub metrics: Arc<Metrics>,
    pub voices: Vec<Arc<Voice>>,
    pub speech_slots: Arc<tokio::sync::Semaphore>,
    /// Set on SIGTERM: new requests get a 503, `/health` reports not ready, and requests
    /// already running go on.
    pub draining: std::sync::atomic::AtomicBool,
}

/// A language model and what serves it.
#[derive(Debug)]
pub(crate) struct Lm {
    pub model: Model,
    pub model_id: String,
    /// Other names a request's `model` may use (the name it was fetched by).
    pub aliases: Vec<String>,
    pub created: u64,
    pub engine: Engine,
    pub config: ServerConfig,
    pub template: ChatTemplate,
    pub logits_cache: LogitsCache,
    /// Structured outputs for this model's vocabulary, built at load on a thread of its
    /// own (Gemma's 262,144 tokens take about 1.5 s); why not, when its vocabulary
    /// cannot be used.
    grammar: Arc<OnceLock<Result<GrammarEngine, GrammarError>>>,
}

impl Lm {
    /// The model's structured-output engine, waiting for its build if a request comes
    /// before it is done.
    pub(crate) fn grammar(&self) -> Result<&GrammarEngine, &GrammarError> {
        self.grammar.wait().as_ref()
    }

    /// Waits, off the async threads, until the structured-output engine is built.
    pub(crate) async fn grammar_built(&self) {
        if self.grammar.get().is_none() {
            let slot = self.grammar.clone();
            let _ = tokio::task::spawn_blocking(move || {
                slot.wait();
            })
            .await;
        }
    }
}

/// Two served models would share an id or an alias: the same file name twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two models would both be served as `{0}`: give each model a file of its own name")]
pub struct DuplicateModelId(pub String);

/// A model to serve, and the other names a request may call it by.
#[derive(Debug, Clone)]
pub struct ServedModel {
    /// The model; its id in the API is its file name without `.gguf`.
    pub model: Model,
    /// Other names for it (`smollm2` for the file `dial fetch --model smollm2` brings).
    pub aliases: Vec<String>,
}

impl From<Model> for ServedModel {
    fn from(model: Model) -> Self {
        ServedModel {
            model,
            aliases: Vec::new(),
        }
    }
}

impl AppState {
    /// Starts the engine on `model` and builds the state. The model's id in the API is its
    /// file name without `.gguf`.
    pub fn new(model: Model, config: ServerConfig) -> Self {
        Self::with_voices(model, Vec::new(), config)
    }

    /// As [`AppState::new`], with voices for the ElevenLabs routes.
    pub fn with_voices(model: Model, voices: Vec<Arc<Voice>>, config: ServerConfig) -> Self {
        Self::build(vec![(model_id(&model), model.into())], voices, config)
    }

    /// Several models, each with its own engine and KV pool of `config.kv_cache_bytes`,
    /// chosen per request by `model` (its id or an alias); the first is the default
    /// (explain, the playground). With none, this is [`AppState::voice_only`].
    pub fn with_models(
        models: Vec<ServedModel>,
        voices: Vec<Arc<Voice>>,
        config: ServerConfig,
    ) -> Result<Self, DuplicateModelId> {
        let mut named: Vec<(String, ServedModel)> = Vec::with_capacity(models.len());
        let mut taken: Vec<String> = Vec::new();
        for served in models {
            let id = model_id(&served.model);
            for name in std::iter::once(&id).chain(&served.aliases) {
                if taken.contains(name) {
                    return Err(DuplicateModelId(name.clone()));
                }
                taken.push(name.clone());
            }
            named.push((id, served));
        }
        Ok(Self::build(named, voices, config))
    }

    /// Voices only: the OpenAI routes answer 404 `no_model`, `/v1/models` lists none, and
    /// explain takes only rows of logits.
    pub fn voice_only(voices: Vec<Arc<Voice>>, config: ServerConfig) -> Self {
        Self::build(Vec::new(), voices, config)
    }

    fn build(
        models: Vec<(String, ServedModel)>,
        voices: Vec<Arc<Voice>>,
        config: ServerConfig,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let created = crate::generation::now();
        let lms = models
            .into_iter()
            .map(|(model_id, ServedModel { model, aliases })| {
                let engine = Engine::start(
                    model.clone(),
                    &EngineConfig {
                        max_concurrency: config.max_concurrency,
                        max_queue: config.max_queue,
                        step_tokens: config.step_tokens,
                        kv_cache_bytes: config.kv_cache_bytes,
                        threads: config.threads,
                    },
                    metrics.clone(),
                    config.step_hook.clone(),
                );
                let template = ChatTemplate::for_model(&model);
                let grammar = Arc::new(OnceLock::new());
                let (slot, tokenizer, id) =
                    (grammar.clone(), model.tokenizer().clone(), model_id.clone());
                std::thread::spawn(move || {
                    // A panic must not leave the slot empty: requests would wait forever.
                    let built = std::panic::catch_unwind(|| GrammarEngine::new(&tokenizer))
                        .unwrap_or_else(|panic| {
                            Err(GrammarError::Vocabulary(format!(
                                "building the engine failed: {}",
                                crate::error::panic_message(panic.as_ref())
                            )))
                        });
                    if let Err(e) = &built {
                        tracing::warn!("{id}: no structured outputs: {e}");
                    }
                    let _ = slot.set(built);
                });
                Arc::new(Lm {
                    model,
                    model_id,
                    aliases,
                    created,
                    engine,
                    config: config.clone(),
                    template,
                    logits_cache: LogitsCache::default(),
                    grammar,
                })
            })
            .collect();
        AppState {
            inner: Arc::new(Inner {
                lms,
                metrics,
                speech_slots: Arc::new(tokio::sync::Semaphore::new(config.max_speech_queue)),
                voices,
                config,
                draining: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Stops taking new requests (a 503 with `Retry-After` for each, and `/health` not
    /// ready) while those already running go on: the start of a graceful shutdown, while
    /// load balancers still route here.
    pub fn start_draining(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`AppState::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner
            .draining
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The default model's id in the API; `None` on a voice-only server.
    pub fn model_id(&self) -> Option<&str> {
        self.inner.lms.first().map(|lm| lm.model_id.as_str())
    }

    /// Every served model's id, the default first.
    pub fn model_ids(&self) -> Vec<&str> {
        self.inner
            .lms
            .iter()
            .map(|lm| lm.model_id.as_str())
            .collect()
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

/// A model's id in the API: its file name without `.gguf`.
fn model_id(model: &Model) -> String {
    model
        .path()
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}
