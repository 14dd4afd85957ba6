//! Choosing and loading a voice: `--voice PATH`, or the default fetched into the cache,
//! with ONNX Runtime and espeak-ng from the cache unless a flag names others.

use clap::Args;
use dial_fetch::{self as fetch, FetchOptions};
use dial_voice::{Espeak, OnnxRuntime, Voice, VoiceFiles};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Args)]
pub struct VoiceArgs {
    /// A Piper voice's .onnx, with its .onnx.json beside it (default: en_US-joe-medium,
    /// fetched into the cache on first use).
    #[arg(long)]
    pub voice: Option<PathBuf>,
    /// The libonnxruntime.so to load (default: onnxruntime 1.31.1, fetched).
    #[arg(long, env = "ORT_DYLIB_PATH")]
    pub onnxruntime: Option<PathBuf>,
    /// The libespeak-ng.so to load (default: espeak-ng 1.52, fetched); a system
    /// libespeak-ng1 works too.
    #[arg(long)]
    pub espeak_lib: Option<PathBuf>,
    /// The espeak-ng-data directory (default: the fetched one).
    #[arg(long)]
    pub espeak_data: Option<PathBuf>,
    /// Threads for the voice (default: 2).
    #[arg(long, default_value_t = 2)]
    pub voice_threads: usize,
}

impl VoiceArgs {
    /// Loads the voice, fetching what is missing into `cache`.
    pub fn load(&self, cache: Option<&Path>) -> Result<Voice, String> {
        if self.voice_threads == 0 {
            return Err("--voice-threads must be at least 1".into());
        }
        let options = FetchOptions {
            cache: fetch::cache_dir(cache),
            ..FetchOptions::default()
        };
        let fetched = |artifact: &fetch::Artifact| {
            fetch::ensure(artifact, &options).map_err(|e| e.to_string())
        };
        let files = match &self.voice {
            Some(model) => VoiceFiles::beside(model),
            None => {
                fetched(&fetch::JOE_MEDIUM_CONFIG)?;
                VoiceFiles::beside(&fetched(&fetch::JOE_MEDIUM)?)
            }
        };
        let ort = match &self.onnxruntime {
            Some(p) => p.clone(),
            None => fetched(&fetch::ONNXRUNTIME)?,
        };
        let lib = match &self.espeak_lib {
            Some(p) => p.clone(),
            None => fetched(&fetch::ESPEAK_NG)?,
        };
        let data = match &self.espeak_data {
            Some(p) => p.clone(),
            None => {
                fetch::ensure_tree(&fetch::ESPEAK_NG_DATA, &options).map_err(|e| e.to_string())?
            }
        };
        let runtime = OnnxRuntime::load(&ort).map_err(|e| e.to_string())?;
        Voice::load(
            &runtime,
            &files,
            Espeak::new(&lib, &data),
            self.voice_threads,
        )
        .map_err(|e| e.to_string())
    }
}
