//! A loaded model: weights, tokenizer and KV cache.

use crate::candle_net::{self, CandleNet};
use crate::error::ModelError;
use crate::gemma3::{Gemma3, last_row};
use crate::tokenizer::Tokenizer;
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};

/// The network behind a [`Model`].
#[derive(Debug)]
enum Net {
    Gemma3(Box<Gemma3>),
    Candle(Box<CandleNet>),
}

/// A GGUF model ready to run.
#[derive(Debug)]
pub struct Model {
    path: PathBuf,
    arch: String,
    net: Net,
    tokenizer: Tokenizer,
}

impl Model {
    /// Loads `path`; `on_progress(done, total)` is called as tensors are read (for a
    /// progress bar).
    pub fn load(
        path: &Path,
        mut on_progress: impl FnMut(usize, usize),
    ) -> Result<Self, ModelError> {
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
        let tokenizer = Tokenizer::from_gguf(&content)?;
        let total = content.tensor_infos.len();
        let mut done = 0;
        let mut on_tensor = || {
            done += 1;
            on_progress(done, total);
        };
        let net = match arch.as_str() {
            "gemma3" => Net::Gemma3(Box::new(Gemma3::load(
                &content,
                &mut file,
                &Device::Cpu,
                &mut on_tensor,
            )?)),
            other if candle_net::supports(other) => {
                let net = CandleNet::load(other, content, &mut file, &Device::Cpu)?;
                (0..total).for_each(|_| on_tensor());
                Net::Candle(Box::new(net))
            }
            other => return Err(ModelError::UnsupportedArchitecture(other.into())),
        };
        let model = Model {
            path: path.to_path_buf(),
            arch,
            net,
            tokenizer,
        };
        if model.tokenizer.vocab_size() != model.vocab_size() {
            return Err(ModelError::BadMetadata(
                "tokenizer.ggml.tokens".into(),
                format!(
                    "{} tokens for an embedding of {} rows",
                    model.tokenizer.vocab_size(),
                    model.vocab_size()
                ),
            ));
        }
        Ok(model)
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
        match &self.net {
            Net::Gemma3(n) => n.vocab_size(),
            Net::Candle(n) => n.vocab_size(),
        }
    }

    /// The context the model can use.
    pub fn context_length(&self) -> usize {
        match &self.net {
            Net::Gemma3(n) => n.config().context,
            Net::Candle(n) => n.context(),
        }
    }

    /// Tokens in the KV cache.
    pub fn position(&self) -> usize {
        match &self.net {
            Net::Gemma3(n) => n.position(),
            Net::Candle(n) => n.position(),
        }
    }

    /// Empties the KV cache.
    pub fn reset(&mut self) {
        match &mut self.net {
            Net::Gemma3(n) => n.reset(),
            Net::Candle(n) => n.reset(),
        }
    }

    /// Runs `tokens` after the cache and returns the next-token logits.
    pub fn next_logits(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        self.check_room(tokens.len())?;
        match &mut self.net {
            Net::Gemma3(net) => {
                let hidden = net.forward(tokens)?;
                let n = hidden.dim(0)?;
                let last = hidden.narrow(0, n - 1, 1)?;
                last_row(&net.logits(&last)?)
            }
            Net::Candle(net) => net.next_logits(tokens),
        }
    }

    /// Runs `tokens` after the cache and returns the final hidden states `(n, hidden)`;
    /// [`Model::logits`] turns rows of it into logits. Gemma 3 only: candle-transformers'
    /// models return the last position alone.
    pub fn hidden_states(&mut self, tokens: &[u32]) -> Result<Tensor, ModelError> {
        self.check_room(tokens.len())?;
        match &mut self.net {
            Net::Gemma3(net) => net.forward(tokens),
            Net::Candle(_) => Err(ModelError::Unsupported(
                "hidden states of every position (this architecture gives the last one)",
            )),
        }
    }

    /// Logits `(n, vocab)` of hidden states `(n, hidden)`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor, ModelError> {
        match &self.net {
            Net::Gemma3(net) => net.logits(hidden),
            Net::Candle(_) => Err(ModelError::Unsupported(
                "logits of hidden states (this architecture gives the last position only)",
            )),
        }
    }

    /// Whether [`Model::hidden_states`] works (a whole chunk in one pass).
    pub(crate) fn scores_in_one_pass(&self) -> bool {
        matches!(self.net, Net::Gemma3(_))
    }

    fn check_room(&self, n: usize) -> Result<(), ModelError> {
        let needed = self.position() + n;
        if needed > self.context_length() {
            return Err(ModelError::ContextFull {
                needed,
                context: self.context_length(),
            });
        }
        Ok(())
    }
}
