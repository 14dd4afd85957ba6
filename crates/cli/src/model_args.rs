//! Choosing and loading a model: `--model PATH` to a local GGUF file, `--model NAME` for
//! one dial fetches by name (`gemma3-270m`, `smollm2`), or the default.

use clap::Args;
use dial_fetch::{self as fetch, FetchOptions};
use dial_model::Model;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

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
        let named = match &self.model {
            None => &fetch::MODELS[0],
            Some(p) => match p.to_str().and_then(fetch::named_model) {
                Some(named) if !p.exists() => named,
                _ if p.exists() => return Ok(p.clone()),
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
            cache: fetch::cache_dir(self.cache_dir.as_deref()),
            ..FetchOptions::default()
        };
        fetch::ensure(named.artifact, &options).map_err(|e| e.to_string())
    }

    /// Whether `--model` names a local file rather than a model dial fetches.
    pub fn is_local_file(&self) -> bool {
        self.model
            .as_ref()
            .is_some_and(|p| p.exists() || p.to_str().and_then(fetch::named_model).is_none())
    }

    /// Loads the model with a progress bar on stderr.
    pub fn load(&self) -> Result<Model, String> {
        let path = self.path()?;
        let bar = ProgressBar::new(0).with_style(
            ProgressStyle::with_template("loading {msg} [{bar:30}] {pos}/{len} tensors")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let model = Model::load(&path, |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .map_err(|e| e.to_string());
        bar.finish_and_clear();
        model
    }
}
