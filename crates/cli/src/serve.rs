//! `dial serve`: the OpenAI- and ElevenLabs-compatible server on one model or several.

use crate::model_args::ServedModelArgs;
use crate::voice_args::VoiceArgs;
use clap::Args;
use dial_server::{AppState, ServerConfig};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ServedModelArgs,
    #[command(flatten)]
    pub voice: VoiceArgs,
    /// Serve no voice: the ElevenLabs routes then answer 404 voice_not_found.
    #[arg(long)]
    pub no_voice: bool,
    /// Serve no language model (the voice only): the OpenAI routes answer 404 no_model and
    /// the playground shows the note's example.
    #[arg(long, conflicts_with = "no_voice")]
    pub no_model: bool,
    /// Speech requests that may run or wait at once; more get a 429.
    #[arg(long, default_value_t = 8)]
    pub max_speech_queue: usize,
    /// The longest text a speech request may send, in characters.
    #[arg(long, default_value_t = 5000)]
    pub max_characters: usize,
    /// Address to bind (loopback by default; anything else exposes the server).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Require `Authorization: Bearer KEY` on every route but /health.
    #[arg(long, env = "DIAL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Compute threads for the model (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Sequences stepped together, in one forward pass; more wait in the queue.
    #[arg(long, default_value_t = 8)]
    pub max_concurrency: usize,
    /// Token rows one engine step may run: every decode row, then prefill chunks in what
    /// is left, so a long prompt never stalls the running streams.
    #[arg(long, default_value_t = 256)]
    pub step_tokens: usize,
    /// The KV cache pool in MiB. Each sequence sets aside its worst case (prompt plus
    /// max_tokens); requests that do not fit wait in the queue.
    #[arg(long, default_value_t = 2048)]
    pub kv_cache_mb: usize,
    /// Requests that may wait; more get a 429 with Retry-After.
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
    /// The largest max_tokens a request may ask for.
    #[arg(long, default_value_t = 4096)]
    pub max_tokens_limit: usize,
    /// max_tokens when a request does not say.
    #[arg(long, default_value_t = 256)]
    pub default_max_tokens: usize,
    /// The largest request body, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub body_limit: usize,
    /// Seconds in-flight requests get to finish after the listener closes (after SIGTERM
    /// or Ctrl-C, and any --drain-grace).
    #[arg(long, visible_alias = "shutdown-timeout", default_value_t = 30)]
    pub drain_seconds: u64,
    /// Seconds after SIGTERM during which the server still accepts connections but answers
    /// new requests with 503 and Retry-After, and /health reports not ready, so load
    /// balancers stop routing here; in-flight requests go on (0: close the listener at
    /// once).
    #[arg(long, default_value_t = 0)]
    pub drain_grace: u64,
}

/// Runs the server until a signal; returns what to print on exit.
pub fn run(args: &ServeArgs) -> Result<String, String> {
    if let Some(n) = args.threads {
        if n == 0 {
            return Err("--threads must be at least 1".into());
        }
        // SAFETY: no other thread exists yet; the compute pools read this when they start.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
    for (flag, value) in [
        ("--max-concurrency", args.max_concurrency),
        ("--step-tokens", args.step_tokens),
        ("--kv-cache-mb", args.kv_cache_mb),
        ("--max-queue", args.max_queue),
        ("--max-tokens-limit", args.max_tokens_limit),
        ("--default-max-tokens", args.default_max_tokens),
        ("--body-limit", args.body_limit),
        ("--max-speech-queue", args.max_speech_queue),
        ("--max-characters", args.max_characters),
    ] {
        if value == 0 {
            return Err(format!("{flag} must be at least 1"));
        }
    }
    if args.no_model && !args.model.models.is_empty() {
        return Err("--no-model and --model contradict each other: give one".into());
    }
    let models = if args.no_model {
        Vec::new()
    } else {
        args.model.load()?
    };
    let voices = if args.no_voice {
        Vec::new()
    } else {
        vec![std::sync::Arc::new(
            args.voice.load(args.model.cache_dir.as_deref())?,
        )]
    };
    let config = ServerConfig {
        api_key: args.api_key.clone(),
        max_concurrency: args.max_concurrency,
        step_tokens: args.step_tokens,
        kv_cache_bytes: args.kv_cache_mb.saturating_mul(1 << 20),
        threads: args.threads,
        max_queue: args.max_queue,
        max_tokens_limit: args.max_tokens_limit,
        default_max_tokens: args.default_max_tokens.min(args.max_tokens_limit),
        body_limit: args.body_limit,
        step_hook: None,
        max_speech_queue: args.max_speech_queue,
        max_characters: args.max_characters,
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(models, voices, config, args))
}

async fn serve(
    models: Vec<dial_server::ServedModel>,
    voices: Vec<std::sync::Arc<dial_voice::Voice>>,
    config: ServerConfig,
    args: &ServeArgs,
) -> Result<String, String> {
    let addr = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local: SocketAddr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let voice_ids: Vec<String> = voices.iter().map(|v| v.id().to_string()).collect();
    let state = AppState::with_models(models, voices, config).map_err(|e| e.to_string())?;
    state.warm_playground();
    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        local.ip().to_string()
    };
    // The URL goes to stdout, so scripts can wait for it; logs go to stderr. One write,
    // and a closed stdout is not an error: a reader that stops after the first line must
    // not bring the server down.
    let ids = state.model_ids();
    let mut banner = if ids.is_empty() {
        "dial serve: no language model (Ctrl-C to stop)\n".to_string()
    } else {
        format!(
            "dial serve: {} at http://{host}:{}/v1 (Ctrl-C to stop)\n",
            ids.join(", "),
            local.port()
        )
    };
    if let Some(first) = voice_ids.first() {
        banner.push_str(&format!(
            "dial serve: voice {} at http://{host}:{}/v1/text-to-speech/{first}\n",
            voice_ids.join(", "),
            local.port()
        ));
    }
    banner.push_str(&format!(
        "dial serve: playground at http://{host}:{}/\n",
        local.port()
    ));
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes());
        let _ = out.flush();
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut stopped = stop_rx.clone();
    let server =
        axum::serve(listener, dial_server::app(state.clone())).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
    let server = tokio::spawn(async move { server.await });
    shutdown_signal().await;
    if args.drain_grace > 0 {
        tracing::info!(
            "draining for {}s: new requests get 503, /health is not ready, in-flight ones go on",
            args.drain_grace
        );
        state.start_draining();
        tokio::time::sleep(Duration::from_secs(args.drain_grace)).await;
    }
    tracing::info!("shutting down: no new connections; in-flight requests may finish");
    let _ = stop_tx.send(true);
    drop(stop_rx);
    match tokio::time::timeout(Duration::from_secs(args.drain_seconds), server).await {
        Ok(Ok(Ok(()))) => Ok(String::new()),
        Ok(Ok(Err(e))) => Err(format!("the server failed: {e}")),
        Ok(Err(e)) => Err(format!("the server task failed: {e}")),
        Err(_) => {
            tracing::warn!(
                "in-flight requests still running after {}s; exiting",
                args.drain_seconds
            );
            Ok(String::new())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
