//! Gemma 3's forward pass on candle's quantized tensors.
//!
//! Written here rather than taken from candle-transformers 0.11.1, whose
//! `quantized_gemma3` uses SiLU where Gemma uses GELU (tanh), ignores the sliding window
//! while decoding, and builds 18 RoPE tables of 131,072 positions. This one:
//! - embeds by looking rows up in the quantized table (no f32 copy of it);
//! - keeps two RoPE tables, local (base 10⁴) and global (the file's base, 10⁶ for 270M),
//!   grown to the positions actually used;
//! - masks local layers as llama.cpp and HF do: a key is visible iff `q − k < window`,
//!   and trims their KV cache to the window;
//! - groups query heads over shared KV heads without copying the cache.

use crate::error::ModelError;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{DType, Device, Module, Tensor};
use std::sync::Arc;

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Width of the residual stream.
    pub hidden: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_kv_head: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// RMSNorm epsilon.
    pub eps: f64,
    /// Sliding window of the local layers.
    pub window: usize,
    /// Every `global_every`-th layer attends globally (Gemma 3: 6).
    pub global_every: usize,
    /// Trained context length.
    pub context: usize,
    /// RoPE base of the global layers.
    pub rope_global: f64,
    /// RoPE base of the local layers.
    pub rope_local: f64,
    /// Linear RoPE scaling of the global layers (1 = none).
    pub rope_scale: f64,
    /// Multiplier on queries: `query_pre_attn_scalar^-½`.
    pub attn_scale: f64,
}

impl Config {
    /// Reads `gemma3.*` metadata.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self, ModelError> {
        let md = &content.metadata;
        let get = |key: &str| {
            md.get(&format!("gemma3.{key}"))
                .ok_or_else(|| ModelError::MissingMetadata(format!("gemma3.{key}")))
        };
        let int = |key: &str| -> Result<usize, ModelError> {
            get(key)?.to_u32().map(|v| v as usize).map_err(|e| {
                ModelError::BadMetadata(format!("gemma3.{key}"), crate::error::candle_message(&e))
            })
        };
        let float = |key: &str, default: f64| -> f64 {
            md.get(&format!("gemma3.{key}"))
                .and_then(|v| v.to_f32().ok())
                .map_or(default, f64::from)
        };
        let hidden = int("embedding_length")?;
        let n_head = int("attention.head_count")?;
        let n_kv_head = int("attention.head_count_kv")?;
        let head_dim = int("attention.key_length")?;
        if n_head == 0
            || n_kv_head == 0
            || !n_head.is_multiple_of(n_kv_head)
            || !head_dim.is_multiple_of(2)
        {
            return Err(ModelError::BadMetadata(
                "gemma3.attention".into(),
                format!("{n_head} heads over {n_kv_head} KV heads of width {head_dim}"),
            ));
        }
        Ok(Config {
            hidden,
            n_head,
            n_kv_head,
            head_dim,
            n_layer: int("block_count")?,
            eps: float("attention.layer_norm_rms_epsilon", 1e-6),
            window: int("attention.sliding_window").unwrap_or(512).max(1),
            global_every: 6,
            context: int("context_length").unwrap_or(32_768),
            rope_global: float("rope.freq_base", 1e6),
            rope_local: float("rope.local_freq_base", 1e4),
            rope_scale: float("rope.scaling.factor", 1.0).max(1.0),
            // Gemma 3 sets query_pre_attn_scalar to the head width (llama.cpp does too).
            attn_scale: 1.0 / (head_dim as f64).sqrt(),
        })
    }

    /// Whether layer `i` attends to the whole context.
    pub fn is_global(&self, i: usize) -> bool {
        (i + 1).is_multiple_of(self.global_every)
    }
}

/// cos/sin of `position · θ_i` for one RoPE base, grown on demand.
#[derive(Debug)]
struct Rope {
    inv_freq: Vec<f32>,
    cos: Tensor,
    sin: Tensor,
    len: usize,
}

impl Rope {
    fn new(base: f64, scale: f64, head_dim: usize, device: &Device) -> Result<Self, ModelError> {
        let inv_freq: Vec<f32> = (0..head_dim / 2)
            .map(|i| (1.0 / (base.powf(2.0 * i as f64 / head_dim as f64) * scale)) as f32)
            .collect();
        let empty = Tensor::zeros((0, head_dim / 2), DType::F32, device)?;
        Ok(Rope {
            inv_freq,
            cos: empty.clone(),
            sin: empty,
            len: 0,
        })
    }

    /// Tables for positions `start .. start + n`.
    fn slice(&mut self, start: usize, n: usize) -> Result<(Tensor, Tensor), ModelError> {
        let end = start + n;
        if end > self.len {
            let len = end.next_power_of_two().max(256);
            let half = self.inv_freq.len();
            let mut angles = Vec::with_capacity(len * half);
            for p in 0..len {
                for &f in &self.inv_freq {
                    angles.push(p as f32 * f);
                }
            }
            let angles = Tensor::from_vec(angles, (len, half), self.cos.device())?;
            self.cos = angles.cos()?;
            self.sin = angles.sin()?;
            self.len = len;
        }
        Ok((self.cos.narrow(0, start, n)?, self.sin.narrow(0, start, n)?))
    }
}

#[derive(Debug)]
struct Layer {
    attn_norm: Tensor,
    q_norm: Tensor,
    k_norm: Tensor,
    post_attn_norm: Tensor,
    ffn_norm: Tensor,
    post_ffn_norm: Tensor,
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    wo: QMatMul,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
    global: bool,
}

/// One layer's keys and values, `(1, n_kv_head, len, head_dim)`, and the position of the
/// first.
#[derive(Debug, Default, Clone)]
struct LayerCache {
    kv: Option<(Tensor, Tensor)>,
    start: usize,
}

/// One sequence's state: its KV cache, its position and its RoPE tables.
#[derive(Debug)]
pub struct Gemma3Cache {
    layers: Vec<LayerCache>,
    rope_local: Rope,
    rope_global: Rope,
    pos: usize,
}

impl Gemma3Cache {
    /// Tokens held.
    pub fn position(&self) -> usize {
        self.pos
    }
}

/// Gemma 3's weights: immutable once loaded, shared by every sequence.
#[derive(Debug)]
pub struct Gemma3 {
    cfg: Config,
    embed: Arc<QTensor>,
    output: QMatMul,
    norm: Tensor,
    layers: Vec<Layer>,
    vocab: usize,
    device: Device,
}

/// candle has no SIMD kernel for Q5_0 (most of Gemma 3 270M's matrices), only a scalar
/// one; its Q8_0 kernel is vectorised. Re-quantising Q5_0 to Q8_0 at load is nearly
/// lossless (each Q5_0 value lands within 1/254 of its block's range) and about 3× faster.
fn fast_layout(w: QTensor, device: &Device) -> Result<QTensor, ModelError> {
    if w.dtype() == GgmlDType::Q5_0 {
        let dense = w.dequantize(device)?;
        return Ok(QTensor::quantize(&dense, GgmlDType::Q8_0)?);
    }
    Ok(w)
}

fn tensor<R: std::io::Read + std::io::Seek>(
    content: &gguf_file::Content,
    reader: &mut R,
    name: &str,
    device: &Device,
) -> Result<QTensor, ModelError> {
    content
        .tensor(reader, name, device)
        .map_err(|e| ModelError::Tensor {
            name: name.into(),
            reason: crate::error::candle_message(&e),
        })
}

impl Gemma3 {
    /// Loads the weights from an open GGUF file.
    pub fn load<R: std::io::Read + std::io::Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        on_tensor: &mut impl FnMut(),
    ) -> Result<Self, ModelError> {
        let cfg = Config::from_gguf(content)?;
        let mut load = |name: &str| {
            on_tensor();
            tensor(content, reader, name, device)
        };
        let embed = Arc::new(load("token_embd.weight")?);
        let (vocab, width) = embed.shape().dims2()?;
        if width != cfg.hidden {
            return Err(ModelError::Tensor {
                name: "token_embd.weight".into(),
                reason: format!("width {width}, expected {}", cfg.hidden),
            });
        }
        let output = if content.tensor_infos.contains_key("output.weight") {
            QMatMul::from_qtensor(load("output.weight")?)?
        } else {
            QMatMul::from_arc(embed.clone())?
        };
        let norm = load("output_norm.weight")?.dequantize(device)?;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let mut w = |suffix: &str| load(&format!("blk.{i}.{suffix}.weight"));
            let mut f =
                |suffix: &str| -> Result<Tensor, ModelError> { Ok(w(suffix)?.dequantize(device)?) };
            let attn_norm = f("attn_norm")?;
            let q_norm = f("attn_q_norm")?;
            let k_norm = f("attn_k_norm")?;
            let post_attn_norm = f("post_attention_norm")?;
            let ffn_norm = f("ffn_norm")?;
            let post_ffn_norm = f("post_ffw_norm")?;
            let mut m = |suffix: &str| -> Result<QMatMul, ModelError> {
                let w = load(&format!("blk.{i}.{suffix}.weight"))?;
                Ok(QMatMul::from_qtensor(fast_layout(w, device)?)?)
            };
            layers.push(Layer {
                attn_norm,
                q_norm,
                k_norm,
                post_attn_norm,
                ffn_norm,
                post_ffn_norm,
                wq: m("attn_q")?,
                wk: m("attn_k")?,
                wv: m("attn_v")?,
                wo: m("attn_output")?,
                gate: m("ffn_gate")?,
                up: m("ffn_up")?,
                down: m("ffn_down")?,
                global: cfg.is_global(i),
            });
        }
        Ok(Gemma3 {
            cfg,
            embed,
            output,
            norm,
            layers,
            vocab,
            device: device.clone(),
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Vocabulary size (rows of the embedding).
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// An empty cache for one sequence.
    pub fn new_cache(&self) -> Result<Gemma3Cache, ModelError> {
        let cfg = &self.cfg;
        Ok(Gemma3Cache {
            layers: vec![LayerCache::default(); self.layers.len()],
            rope_local: Rope::new(cfg.rope_local, 1.0, cfg.head_dim, &self.device)?,
            rope_global: Rope::new(cfg.rope_global, cfg.rope_scale, cfg.head_dim, &self.device)?,
            pos: 0,
        })
    }

    /// Runs `tokens` after those already in `cache`; returns the final hidden states
    /// `(tokens.len(), hidden)`, normed, ready for [`Gemma3::logits`].
    pub fn forward(&self, cache: &mut Gemma3Cache, tokens: &[u32]) -> Result<Tensor, ModelError> {
        crate::error::check_tokens(tokens, self.vocab)?;
        let t = tokens.len();
        let pos = cache.pos;
        let ids = Tensor::new(tokens, &self.device)?;
        let mut x = (self.embed.embedding(&ids)? * (self.cfg.hidden as f64).sqrt())?;
        let (cos_l, sin_l) = cache.rope_local.slice(pos, t)?;
        let (cos_g, sin_g) = cache.rope_global.slice(pos, t)?;
        for (layer, kv) in self.layers.iter().zip(&mut cache.layers) {
            let (cos, sin) = if layer.global {
                (&cos_g, &sin_g)
            } else {
                (&cos_l, &sin_l)
            };
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, self.cfg.eps as f32)?;
            let h = attention(layer, kv, &self.cfg, &h, pos, cos, sin)?;
            let h = candle_nn::ops::rms_norm(&h, &layer.post_attn_norm, self.cfg.eps as f32)?;
            x = (x + h)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, self.cfg.eps as f32)?;
            let gate = layer.gate.forward(&h)?.gelu()?;
            let h = layer.down.forward(&(gate * layer.up.forward(&h)?)?)?;
            let h = candle_nn::ops::rms_norm(&h, &layer.post_ffn_norm, self.cfg.eps as f32)?;
            x = (x + h)?;
        }
        cache.pos += t;
        Ok(candle_nn::ops::rms_norm(
            &x,
            &self.norm,
            self.cfg.eps as f32,
        )?)
    }

    /// Logits `(n, vocab)` for hidden states `(n, hidden)`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor, ModelError> {
        Ok(self.output.forward(hidden)?)
    }
}

/// Self-attention of one layer on `x` `(t, hidden)` at positions `pos..pos + t`.
fn attention(
    layer: &Layer,
    cache: &mut LayerCache,
    cfg: &Config,
    x: &Tensor,
    pos: usize,
    cos: &Tensor,
    sin: &Tensor,
) -> Result<Tensor, ModelError> {
    let t = x.dim(0)?;
    let hd = cfg.head_dim;
    let heads = |w: &QMatMul, n: usize| -> Result<Tensor, ModelError> {
        Ok(w.forward(x)?
            .reshape((1, t, n, hd))?
            .transpose(1, 2)?
            .contiguous()?)
    };
    let q = candle_nn::ops::rms_norm(
        &heads(&layer.wq, cfg.n_head)?,
        &layer.q_norm,
        cfg.eps as f32,
    )?;
    let k = candle_nn::ops::rms_norm(
        &heads(&layer.wk, cfg.n_kv_head)?,
        &layer.k_norm,
        cfg.eps as f32,
    )?;
    let v = heads(&layer.wv, cfg.n_kv_head)?;
    let q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
    let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
    let (k, v) = match cache.kv.take() {
        Some((ck, cv)) => (Tensor::cat(&[&ck, &k], 2)?, Tensor::cat(&[&cv, &v], 2)?),
        None => {
            cache.start = pos;
            (k, v)
        }
    };
    let total = k.dim(2)?;
    let groups = cfg.n_head / cfg.n_kv_head;
    // Heads sharing a KV head are consecutive: fold them into the row dimension.
    let q = (q * cfg.attn_scale)?.reshape((1, cfg.n_kv_head, groups * t, hd))?;
    let scores = q.matmul(&k.t()?)?;
    let scores = if t > 1 || total > cfg.window && !layer.global {
        let mask = mask(
            t,
            total,
            pos,
            cache.start,
            cfg.window,
            layer.global,
            x.device(),
        )?;
        scores
            .reshape((1, cfg.n_kv_head, groups, t, total))?
            .broadcast_add(&mask)?
            .reshape((1, cfg.n_kv_head, groups * t, total))?
    } else {
        scores
    };
    let weights = candle_nn::ops::softmax_last_dim(&scores)?;
    let out = weights
        .matmul(&v)?
        .reshape((1, cfg.n_head, t, hd))?
        .transpose(1, 2)?
        .reshape((t, cfg.n_head * hd))?;
    // Local layers only ever need the last `window − 1` keys for the next query.
    let (k, v) = if layer.global || total < cfg.window {
        (k, v)
    } else {
        let keep = cfg.window - 1;
        cache.start += total - keep;
        (
            k.narrow(2, total - keep, keep)?,
            v.narrow(2, total - keep, keep)?,
        )
    };
    cache.kv = Some((k, v));
    Ok(layer.wo.forward(&out)?)
}

/// Additive mask `(t, total)`: 0 where query `pos + i` may see key `start + j`, else −inf.
fn mask(
    t: usize,
    total: usize,
    pos: usize,
    start: usize,
    window: usize,
    global: bool,
    device: &Device,
) -> Result<Tensor, ModelError> {
    let mut m = Vec::with_capacity(t * total);
    for i in 0..t {
        let q = pos + i;
        for j in 0..total {
            let k = start + j;
            let visible = k <= q && (global || q - k < window);
            m.push(if visible { 0f32 } else { f32::NEG_INFINITY });
        }
    }
    Ok(Tensor::from_vec(m, (t, total), device)?)
}

/// Rows of the last position's logits as a `Vec<f32>`.
pub(crate) fn last_row(logits: &Tensor) -> Result<Vec<f32>, ModelError> {
    let n = logits.dim(0)?;
    Ok(logits.get(n - 1)?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
}
