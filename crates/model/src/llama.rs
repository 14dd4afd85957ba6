//! Llama-architecture GGUFs (Llama 1/2, TinyLlama, Mistral-style files with a SentencePiece
//! vocabulary) through candle-transformers' `quantized_llama`, which implements them
//! correctly: interleaved RoPE as GGUF's permuted weights expect, SiLU MLP, grouped-query
//! attention. It returns only the last position's logits, so perplexity scores llama files
//! one token at a time.

use crate::error::ModelError;
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::quantized_llama::{MAX_SEQ_LEN, ModelWeights};

/// A llama model and its position.
#[derive(Debug)]
pub struct Llama {
    weights: ModelWeights,
    vocab: usize,
    context: usize,
    pos: usize,
    device: Device,
}

impl Llama {
    /// Loads the weights (`content` is consumed by candle's loader).
    pub fn load<R: std::io::Read + std::io::Seek>(
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
        // candle's RoPE tables stop at MAX_SEQ_LEN positions.
        let context = content
            .metadata
            .get("llama.context_length")
            .and_then(|v| v.to_u32().ok())
            .map_or(MAX_SEQ_LEN, |c| (c as usize).min(MAX_SEQ_LEN));
        let weights = ModelWeights::from_gguf(content, reader, device)?;
        Ok(Llama {
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

    /// Empties the cache (candle's loader restarts it at position 0).
    pub fn reset(&mut self) {
        self.pos = 0;
    }

    /// Runs `tokens` after the cache; the next-token logits.
    pub fn next_logits(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        crate::error::check_tokens(tokens, self.vocab)?;
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let logits = self.weights.forward(&input, self.pos)?;
        self.pos += tokens.len();
        Ok(logits.squeeze(0)?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
    }
}
