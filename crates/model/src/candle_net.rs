//! Architectures run by candle-transformers' quantized models until dial's own engine
//! runs them: qwen2 and qwen3.
//! Each is checked against a plain-Rust reference on a tiny model in `tests/tiny.rs`.
//! They return only the last position's logits, so perplexity scores these files one
//! token at a time.

use crate::error::ModelError;
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::{quantized_qwen2, quantized_qwen3};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The weights and, inside them, candle's KV cache. Qwen3's cache grows by
/// concatenation, so a clone shares the weights and owns its cache: one clone per
/// sequence. Qwen2's model is not `Clone`: its sequences take turns on one copy, and a
/// sequence that finds another's cache there replays its own tokens first.
#[derive(Clone)]
enum Weights {
    Qwen2(Arc<Mutex<Qwen2Slot>>),
    Qwen3(Box<quantized_qwen3::ModelWeights>),
}

struct Qwen2Slot {
    weights: quantized_qwen2::ModelWeights,
    /// The sequence whose tokens the cache holds.
    owner: u64,
}

/// Ids telling sequences apart on a shared Qwen2 cache.
static NEXT_SEQUENCE: AtomicU64 = AtomicU64::new(1);

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Weights::Qwen2(_) => "qwen2",
            Weights::Qwen3(_) => "qwen3",
        })
    }
}

/// A candle-transformers model and one sequence's position.
#[derive(Debug)]
pub struct CandleNet {
    weights: Weights,
    vocab: usize,
    context: usize,
    kv_bytes_per_position: usize,
    pos: usize,
    device: Device,
    /// This sequence's id and tokens (Qwen2 replays them after another sequence ran).
    sequence: u64,
    tokens: Vec<u32>,
}

/// The architectures dial runs through candle-transformers.
pub const ARCHITECTURES: &[&str] = &["qwen2", "qwen3"];

/// Whether dial runs `arch` through candle-transformers.
pub fn supports(arch: &str) -> bool {
    ARCHITECTURES.contains(&arch)
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
        let meta = |key: &str| {
            content
                .metadata
                .get(&format!("{arch}.{key}"))
                .and_then(|v| v.to_u32().ok())
                .map(|v| v as usize)
        };
        let heads = meta("attention.head_count").unwrap_or(1).max(1);
        let head_dim =
            meta("attention.key_length").unwrap_or(meta("embedding_length").unwrap_or(0) / heads);
        // candle keeps keys and values in f32.
        let kv_bytes_per_position = 2
            * meta("block_count").unwrap_or(0)
            * meta("attention.head_count_kv").unwrap_or(heads)
            * head_dim
            * 4;
        let (weights, context) = match arch {
            "qwen2" => (
                Weights::Qwen2(Arc::new(Mutex::new(Qwen2Slot {
                    weights: quantized_qwen2::ModelWeights::from_gguf(content, reader, device)?,
                    owner: 0,
                }))),
                trained.unwrap_or(4096),
            ),
            "qwen3" => (
                Weights::Qwen3(Box::new(quantized_qwen3::ModelWeights::from_gguf(
                    content, reader, device,
                )?)),
                trained.unwrap_or(4096),
            ),
            other => return Err(ModelError::UnsupportedArchitecture(other.into())),
        };
        Ok(CandleNet {
            weights,
            vocab,
            context,
            kv_bytes_per_position,
            pos: 0,
            device: device.clone(),
            sequence: NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed),
            tokens: Vec::new(),
        })
    }

    /// A new, empty sequence on the same weights.
    pub fn fresh(&self) -> CandleNet {
        let mut weights = self.weights.clone();
        match &mut weights {
            Weights::Qwen2(_) => {} // replays on ownership change
            Weights::Qwen3(w) => w.clear_kv_cache(),
        }
        CandleNet {
            weights,
            vocab: self.vocab,
            context: self.context,
            kv_bytes_per_position: self.kv_bytes_per_position,
            pos: 0,
            device: self.device.clone(),
            sequence: NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed),
            tokens: Vec::new(),
        }
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Bytes of KV cache `positions` tokens take, from the metadata.
    pub fn kv_bytes(&self, positions: usize) -> usize {
        positions * self.kv_bytes_per_position
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
        self.tokens.clear();
        match &mut self.weights {
            Weights::Qwen2(slot) => {
                if let Ok(mut slot) = slot.lock() {
                    slot.weights.clear_kv_cache();
                    slot.owner = self.sequence;
                }
            }
            Weights::Qwen3(w) => w.clear_kv_cache(),
        }
    }

    /// Runs `tokens` after the cache; the next-token logits.
    pub fn next_logits(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        crate::error::check_tokens(tokens, self.vocab)?;
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let logits = match &mut self.weights {
            Weights::Qwen2(slot) => {
                let mut slot = slot
                    .lock()
                    .map_err(|_| ModelError::Compute("a qwen2 sequence panicked".into()))?;
                if slot.owner != self.sequence {
                    slot.weights.clear_kv_cache();
                    slot.owner = self.sequence;
                    if !self.tokens.is_empty() {
                        let past =
                            Tensor::new(self.tokens.as_slice(), &self.device)?.unsqueeze(0)?;
                        slot.weights.forward(&past, 0)?;
                    }
                }
                slot.weights.forward(&input, self.pos)?
            }
            Weights::Qwen3(w) => w.forward(&input, self.pos)?,
        };
        self.pos += tokens.len();
        if matches!(self.weights, Weights::Qwen2(_)) {
            self.tokens.extend_from_slice(tokens);
        }
        Ok(logits
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?)
    }
}
