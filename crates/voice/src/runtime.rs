//! ONNX Runtime, loaded at run time from a `libonnxruntime.so` (by default the one
//! `dial fetch --voice` takes from the `onnxruntime==1.31.1` wheel), so that building
//! dial needs no ONNX Runtime and nothing is downloaded at build time.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The environment variable that overrides the library's path, as `ort` reads it.
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// Why ONNX Runtime cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The library is missing, is not ONNX Runtime, or is too old.
    #[error(
        "cannot load ONNX Runtime from {path}: {reason} (run `dial fetch --voice`, or set {ORT_DYLIB_PATH})"
    )]
    Load {
        /// The library path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A second library after the first was loaded: a process has one ONNX Runtime.
    #[error(
        "ONNX Runtime is already loaded from {loaded} in this process; cannot switch to {asked}"
    )]
    AlreadyLoaded {
        /// What is loaded.
        loaded: PathBuf,
        /// What was asked for.
        asked: PathBuf,
    },
    /// ONNX Runtime refused to start.
    #[error("ONNX Runtime cannot start: {0}")]
    Environment(String),
}

static LOADED: Mutex<Option<OnnxRuntime>> = Mutex::new(None);

/// A loaded ONNX Runtime.
#[derive(Debug, Clone)]
pub struct OnnxRuntime {
    pub(crate) environment: ort::environment::Environment,
    path: PathBuf,
}

impl OnnxRuntime {
    /// Loads the library at `path` and starts its environment, once per process; later
    /// calls with the same path share them.
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(runtime) = loaded.as_ref() {
            if runtime.path != path {
                return Err(RuntimeError::AlreadyLoaded {
                    loaded: runtime.path.clone(),
                    asked: path.to_path_buf(),
                });
            }
            return Ok(runtime.clone());
        }
        let load_error = |reason: String| RuntimeError::Load {
            path: path.to_path_buf(),
            reason,
        };
        // Checked here so that a missing file never reaches the loader's relative-path
        // fallback.
        if !path.is_file() {
            return Err(load_error("no such file".into()));
        }
        let environment = ort::init_from(path)
            .map_err(|e| load_error(e.to_string()))?
            .with_name("dial")
            .with_telemetry(false)
            .build()
            .map_err(|e| RuntimeError::Environment(e.to_string()))?;
        let runtime = OnnxRuntime {
            environment,
            path: path.to_path_buf(),
        };
        *loaded = Some(runtime.clone());
        Ok(runtime)
    }

    /// The library's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
