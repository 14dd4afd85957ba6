//! A loaded model: weights, tokenizer and KV cache.

use crate::error::ModelError;
use crate::gemma3::{Gemma3, last_row};
use crate::tokenizer::Tokenizer;
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};

/// A GGUF model ready to run.
#[derive(Debug)]
pub struct Model {
    path: PathBuf,
    arch: String,
    net: Gemma3,
    tokenizer: Tokenizer,
}

impl Model {
    /// Loads `path`; `on_tensor` is called once per tensor read (for a progress bar).
    pub fn load(path: &Path, on_tensor: impl FnMut()) -> Result<Self, ModelError> {
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| ModelError::NotGguf {
            path: path.to_path_buf(),
            reason: crate::error::candle_message(&e),
        })?;
        let arch = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok().cloned())
            .ok_or_else(|| ModelError::MissingMetadata("general.architecture".into()))?;
        if arch != "gemma3" {
            return Err(ModelError::UnsupportedArchitecture(arch));
        }
        let tokenizer = Tokenizer::from_gguf(&content)?;
        let net = Gemma3::load(&content, &mut file, &Device::Cpu, on_tensor)?;
        if tokenizer.vocab_size() != net.vocab_size() {
            return Err(ModelError::BadMetadata(
                "tokenizer.ggml.tokens".into(),
                format!(
                    "{} tokens for an embedding of {} rows",
                    tokenizer.vocab_size(),
                    net.vocab_size()
                ),
            ));
        }
        Ok(Model {
            path: path.to_path_buf(),
            arch,
            net,
            tokenizer,
        })
    }

    /// How many tensors [`Model::load`] will read from `path` (for a progress bar).
    pub fn tensor_count(path: &Path) -> Result<usize, ModelError> {
        let mut file = std::fs::File::open(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| ModelError::NotGguf {
            path: path.to_path_buf(),
            reason: crate::error::candle_message(&e),
        })?;
        Ok(content.tensor_infos.len())
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> &str {
        &self.arch
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.net.vocab_size()
    }

    /// The context the model was trained for.
    pub fn context_length(&self) -> usize {
        self.net.config().context
    }

    /// Tokens in the KV cache.
    pub fn position(&self) -> usize {
        self.net.position()
    }

    /// Empties the KV cache.
    pub fn reset(&mut self) {
        self.net.reset();
    }

    /// Runs `tokens` after the cache and returns the next-token logits.
    pub fn next_logits(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        self.check_room(tokens.len())?;
        let hidden = self.net.forward(tokens)?;
        let n = hidden.dim(0)?;
        let last = hidden.narrow(0, n - 1, 1)?;
        last_row(&self.net.logits(&last)?)
    }

    /// Runs `tokens` after the cache and returns the final hidden states `(n, hidden)`;
    /// [`Model::logits`] turns rows of it into logits.
    pub fn hidden_states(&mut self, tokens: &[u32]) -> Result<Tensor, ModelError> {
        self.check_room(tokens.len())?;
        self.net.forward(tokens)
    }

    /// Logits `(n, vocab)` of hidden states `(n, hidden)`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor, ModelError> {
        self.net.logits(hidden)
    }

    fn check_room(&self, n: usize) -> Result<(), ModelError> {
        let needed = self.net.position() + n;
        if needed > self.context_length() {
            return Err(ModelError::ContextFull {
                needed,
                context: self.context_length(),
            });
        }
        Ok(())
    }
}
