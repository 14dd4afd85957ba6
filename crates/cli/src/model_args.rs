//! Choosing and loading a model: `--model PATH`, or the default fetched into the cache.

use clap::Args;
use dial_fetch::{self as fetch, FetchOptions};
use dial_model::Model;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// A local GGUF file (default: Gemma 3 270M, fetched into the cache on first use).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where fetched models live (default: $DIAL_CACHE_DIR, else $XDG_CACHE_HOME/dial,
    /// else ~/.cache/dial).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

impl ModelArgs {
    /// The model's path, fetching the default when needed.
    pub fn path(&self) -> Result<PathBuf, String> {
        match &self.model {
            Some(p) => Ok(p.clone()),
            None => {
                let options = FetchOptions {
                    cache: fetch::cache_dir(self.cache_dir.as_deref()),
                    ..FetchOptions::default()
                };
                fetch::ensure(&fetch::GEMMA3_270M, &options).map_err(|e| e.to_string())
            }
        }
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
