//! Architectures run by candle-transformers' quantized models, where those are correct:
//! llama (Llama 1/2, TinyLlama and other SentencePiece llama files), qwen2 and qwen3.
//! Each is checked against a plain-Rust reference on a tiny model in `tests/tiny.rs`.
//! They return only the last position's logits, so perplexity scores these files one
//! token at a time.

use crate::error::ModelError;
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2, quantized_qwen3};

enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Weights::Llama(_) => "llama",
            Weights::Qwen2(_) => "qwen2",
            Weights::Qwen3(_) => "qwen3",
        })
    }
}

/// A candle-transformers model and its position.
#[derive(Debug)]
pub struct CandleNet {
    weights: Weights,
    vocab: usize,
    context: usize,
    pos: usize,
    device: Device,
}

/// Whether dial runs `arch` through candle-transformers.
pub fn supports(arch: &str) -> bool {
    matches!(arch, "llama" | "qwen2" | "qwen3")
}

impl CandleNet {
    /// Loads the weights of architecture `arch` (`content` is consumed by the loader).
    pub fn load<R: std::io::Read + std::io::Seek>(
        arch: &str,
        content: gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let vocab = content
            .tensor_infos
            .get("token_embd.weight")
            .map(|t| t.shape.dims().first().copied().unwrap_or(0))
            .ok_or_else(|| ModelError::Tensor {
                name: "token_embd.weight".into(),
                reason: "missing".into(),
            })?;
        let trained = content
            .metadata
            .get(&format!("{arch}.context_length"))
            .and_then(|v| v.to_u32().ok())
            .map(|c| c as usize);
        let (weights, context) = match arch {
            // candle's llama RoPE tables stop at MAX_SEQ_LEN positions.
            "llama" => (
                Weights::Llama(quantized_llama::ModelWeights::from_gguf(
                    content, reader, device,
                )?),
                trained.map_or(quantized_llama::MAX_SEQ_LEN, |c| {
                    c.min(quantized_llama::MAX_SEQ_LEN)
                }),
            ),
            "qwen2" => (
                Weights::Qwen2(quantized_qwen2::ModelWeights::from_gguf(
                    content, reader, device,
                )?),
                trained.unwrap_or(4096),
            ),
            "qwen3" => (
                Weights::Qwen3(quantized_qwen3::ModelWeights::from_gguf(
                    content, reader, device,
                )?),
                trained.unwrap_or(4096),
            ),
            other => return Err(ModelError::UnsupportedArchitecture(other.into())),
        };
        Ok(CandleNet {
            weights,
            vocab,
            context,
            pos: 0,
            device: device.clone(),
        })
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Usable context.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Tokens in the cache.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Empties the cache.
    pub fn reset(&mut self) {
        self.pos = 0;
        match &mut self.weights {
            // llama restarts its cache at position 0 by itself.
            Weights::Llama(_) => {}
            Weights::Qwen2(w) => w.clear_kv_cache(),
            Weights::Qwen3(w) => w.clear_kv_cache(),
        }
    }

    /// Runs `tokens` after the cache; the next-token logits.
    pub fn next_logits(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        crate::error::check_tokens(tokens, self.vocab)?;
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let logits = match &mut self.weights {
            Weights::Llama(w) => w.forward(&input, self.pos)?,
            Weights::Qwen2(w) => w.forward(&input, self.pos)?,
            Weights::Qwen3(w) => w.forward(&input, self.pos)?,
        };
        self.pos += tokens.len();
        Ok(logits
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?)
    }
}
