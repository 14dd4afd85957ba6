//! Choosing and loading a model: `--model PATH` to a local GGUF file, `--model NAME` for
//! one dial fetches by name (`gemma3-270m`, `smollm2`), or the default.

use clap::Args;
use dial_fetch::{self as fetch, FetchOptions};
use dial_model::Model;
use dial_server::ServedModel;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// A local GGUF file, or a model dial fetches by name: gemma3-270m (the default) or
    /// smollm2. Fetched models go into the cache on first use.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where fetched models live (default: $DIAL_CACHE_DIR, else $XDG_CACHE_HOME/dial,
    /// else ~/.cache/dial).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

impl ModelArgs {
    /// The model's path, fetching a named model (or the default) when needed. A file
    /// wins over a name it happens to share.
    pub fn path(&self) -> Result<PathBuf, String> {
        resolve(self.model.as_deref(), self.cache_dir.as_deref())
    }

    /// Whether `--model` names a local file rather than a model dial fetches.
    pub fn is_local_file(&self) -> bool {
        self.model
            .as_ref()
            .is_some_and(|p| p.exists() || p.to_str().and_then(fetch::named_model).is_none())
    }

    /// Loads the model with a progress bar on stderr.
    pub fn load(&self) -> Result<Model, String> {
        load_file(&self.path()?)
    }
}

/// `dial serve`'s models: `--model` as often as there are models to serve.
#[derive(Debug, Clone, Args)]
pub struct ServedModelArgs {
    /// A local GGUF file, or a model dial fetches by name: gemma3-270m (the default) or
    /// smollm2. Repeat it to serve several models, chosen per request by `model`; the
    /// first is the default.
    #[arg(long = "model")]
    pub models: Vec<PathBuf>,
    /// Where fetched models live (default: $DIAL_CACHE_DIR, else $XDG_CACHE_HOME/dial,
    /// else ~/.cache/dial).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

impl ServedModelArgs {
    /// Loads every model (the default when none is named), in order; a model fetched by
    /// name may be asked for by that name too.
    pub fn load(&self) -> Result<Vec<ServedModel>, String> {
        let cache = self.cache_dir.as_deref();
        if self.models.is_empty() {
            let model = load_file(&resolve(None, cache)?)?;
            let aliases = vec![fetch::MODELS[0].name.to_string()];
            return Ok(vec![ServedModel { model, aliases }]);
        }
        self.models
            .iter()
            .map(|m| {
                let model = load_file(&resolve(Some(m), cache)?)?;
                let aliases = match m.to_str().and_then(fetch::named_model) {
                    Some(named) if !m.exists() => vec![named.name.to_string()],
                    _ => Vec::new(),
                };
                Ok(ServedModel { model, aliases })
            })
            .collect()
    }
}

/// A model's path: a file as it is, a name fetched into the cache, or the default.
fn resolve(model: Option<&Path>, cache_dir: Option<&Path>) -> Result<PathBuf, String> {
    let named = match model {
        None => &fetch::MODELS[0],
        Some(p) => match p.to_str().and_then(fetch::named_model) {
            Some(named) if !p.exists() => named,
            _ if p.exists() => return Ok(p.to_path_buf()),
            _ => {
                let names: Vec<_> = fetch::MODELS.iter().map(|m| m.name).collect();
                return Err(format!(
                    "no file {}, and dial fetches no model by that name (it fetches {})",
                    p.display(),
                    names.join(", ")
                ));
            }
        },
    };
    let options = FetchOptions {
        cache: fetch::cache_dir(cache_dir),
        ..FetchOptions::default()
    };
    fetch::ensure(named.artifact, &options).map_err(|e| e.to_string())
}

/// Loads a GGUF file with a progress bar on stderr.
fn load_file(path: &Path) -> Result<Model, String> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("loading {msg} [{bar:30}] {pos}/{len} tensors")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let model = Model::load(path, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .map_err(|e| e.to_string());
    bar.finish_and_clear();
    model
}
