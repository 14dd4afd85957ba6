//! Gemma 3's forward pass on dial's own kernels, over a batch of sequences at once.
//!
//! Written here rather than taken from candle-transformers 0.11.1, whose
//! `quantized_gemma3` uses SiLU where Gemma uses GELU (tanh), ignores the sliding window
//! while decoding, and builds 18 RoPE tables of 131,072 positions. This one:
//! - runs every linear layer as one matmul over all of a step's rows, on dial-quant's
//!   kernels (the weights stay in the mapped file), and attention per sequence over its own
//!   KV cache;
//! - computes every row the same way whatever else is in the batch and however a prompt
//!   is split into chunks: the kernels quantize each row alone and reduce in a fixed order,
//!   and every f32 step here has one order (`math.rs`). So prefill, token-by-token decode
//!   and any batch give the same bits;
//! - masks local layers as llama.cpp and HF do: a key is visible iff `q − k < window`, and
//!   keeps their KV cache in a ring of `window + PREFILL_CHUNK` positions;
//! - groups query heads over shared KV heads without copying the cache.

use crate::error::ModelError;
use crate::linear::{Input, Linear, Source};
use crate::math;
use candle_core::quantized::gguf_file;
use rayon::prelude::*;

/// Most new tokens one sequence may bring to one forward pass (a prefill chunk).
pub const MAX_ROWS_PER_SEQUENCE: usize = crate::model::PREFILL_CHUNK;

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

/// One head's RoPE angles for a base: `θ_i = base^(−2i/d) / scale`.
#[derive(Debug, Clone)]
struct Rope {
    inv_freq: Vec<f32>,
}

impl Rope {
    fn new(base: f64, scale: f64, head_dim: usize) -> Self {
        Rope {
            inv_freq: (0..head_dim / 2)
                .map(|i| (1.0 / (base.powf(2.0 * i as f64 / head_dim as f64) * scale)) as f32)
                .collect(),
        }
    }

    /// cos and sin of `position · θ_i`.
    fn at(&self, position: usize) -> (Vec<f32>, Vec<f32>) {
        let angles = self.inv_freq.iter().map(|f| position as f32 * f);
        (
            angles.clone().map(f32::cos).collect(),
            angles.map(f32::sin).collect(),
        )
    }
}

#[derive(Debug)]
struct Layer {
    attn_norm: Vec<f32>,
    q_norm: Vec<f32>,
    k_norm: Vec<f32>,
    post_attn_norm: Vec<f32>,
    ffn_norm: Vec<f32>,
    post_ffn_norm: Vec<f32>,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
    global: bool,
}

/// One layer's keys and values: position `p` in slot `p` (global layers) or `p mod ring`
/// (local layers), `n_kv_head · head_dim` values each.
#[derive(Debug, Clone, Default)]
struct LayerKv {
    keys: Vec<f32>,
    values: Vec<f32>,
    ring: Option<usize>,
}

impl LayerKv {
    fn slot(&self, position: usize) -> usize {
        self.ring.map_or(position, |ring| position % ring)
    }

    fn store(&mut self, position: usize, width: usize, k: &[f32], v: &[f32]) {
        let slot = self.slot(position);
        let end = (slot + 1) * width;
        if self.keys.len() < end {
            self.keys.resize(end, 0.0);
            self.values.resize(end, 0.0);
        }
        self.keys[slot * width..end].copy_from_slice(k);
        self.values[slot * width..end].copy_from_slice(v);
    }
}

/// One sequence's state: its KV cache and its position.
#[derive(Debug, Clone)]
pub struct Gemma3Cache {
    layers: Vec<LayerKv>,
    pos: usize,
}

impl Gemma3Cache {
    /// Tokens held.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes its keys and values take now.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| (l.keys.capacity() + l.values.capacity()) * 4)
            .sum()
    }
}

/// Gemma 3's weights: immutable once loaded, shared by every sequence.
#[derive(Debug)]
pub struct Gemma3 {
    cfg: Config,
    embed: Linear,
    /// `None`: tied to the embedding.
    output: Option<Linear>,
    norm: Vec<f32>,
    layers: Vec<Layer>,
    vocab: usize,
    rope_local: Rope,
    rope_global: Rope,
}

impl Gemma3 {
    /// Loads the weights; the quantized matrices stay in `source`'s memory map.
    pub(crate) fn load<R: std::io::Read + std::io::Seek>(
        source: &mut Source<'_, R>,
        on_tensor: &mut impl FnMut(),
    ) -> Result<Self, ModelError> {
        let cfg = Config::from_gguf(source.content)?;
        let (vocab, width) = source.dims("token_embd.weight")?;
        if width != cfg.hidden {
            return Err(ModelError::Tensor {
                name: "token_embd.weight".into(),
                reason: format!("width {width}, expected {}", cfg.hidden),
            });
        }
        on_tensor();
        let embed = source.linear("token_embd.weight")?;
        let output = if source.content.tensor_infos.contains_key("output.weight") {
            on_tensor();
            Some(source.linear("output.weight")?)
        } else {
            None
        };
        on_tensor();
        let norm = source.dense("output_norm.weight")?;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let name = |suffix: &str| format!("blk.{i}.{suffix}.weight");
            let mut dense = |suffix: &str| {
                on_tensor();
                source.dense(&name(suffix))
            };
            let attn_norm = dense("attn_norm")?;
            let q_norm = dense("attn_q_norm")?;
            let k_norm = dense("attn_k_norm")?;
            let post_attn_norm = dense("post_attention_norm")?;
            let ffn_norm = dense("ffn_norm")?;
            let post_ffn_norm = dense("post_ffw_norm")?;
            let mut linear = |suffix: &str| {
                on_tensor();
                source.linear(&name(suffix))
            };
            let layer = Layer {
                attn_norm,
                q_norm,
                k_norm,
                post_attn_norm,
                ffn_norm,
                post_ffn_norm,
                wq: linear("attn_q")?,
                wk: linear("attn_k")?,
                wv: linear("attn_v")?,
                wo: linear("attn_output")?,
                gate: linear("ffn_gate")?,
                up: linear("ffn_up")?,
                down: linear("ffn_down")?,
                global: cfg.is_global(i),
            };
            let q_width = cfg.n_head * cfg.head_dim;
            let kv_width = cfg.n_kv_head * cfg.head_dim;
            let shapes = [
                (&layer.wq, q_width),
                (&layer.wk, kv_width),
                (&layer.wv, kv_width),
                (&layer.wo, cfg.hidden),
                (&layer.down, cfg.hidden),
            ];
            if shapes.iter().any(|(m, n)| m.n() != *n) || layer.q_norm.len() != cfg.head_dim {
                return Err(ModelError::Tensor {
                    name: format!("blk.{i}"),
                    reason: "matrix shapes disagree with the metadata".into(),
                });
            }
            layers.push(layer);
        }
        Ok(Gemma3 {
            rope_local: Rope::new(cfg.rope_local, 1.0, cfg.head_dim),
            rope_global: Rope::new(cfg.rope_global, cfg.rope_scale, cfg.head_dim),
            cfg,
            embed,
            output,
            norm,
            layers,
            vocab,
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

    /// Positions a local layer's ring holds: the window plus one chunk, so a chunk's own
    /// keys never overwrite ones its first rows still see.
    fn ring(&self) -> usize {
        self.cfg.window + MAX_ROWS_PER_SEQUENCE
    }

    /// An empty cache for one sequence.
    pub fn new_cache(&self) -> Gemma3Cache {
        let ring = self.ring();
        Gemma3Cache {
            layers: self
                .layers
                .iter()
                .map(|l| LayerKv {
                    ring: (!l.global).then_some(ring),
                    ..LayerKv::default()
                })
                .collect(),
            pos: 0,
        }
    }

    /// Grows `cache` to hold `positions` tokens in all, exactly.
    pub fn reserve(&self, cache: &mut Gemma3Cache, positions: usize) {
        let width = self.cfg.n_kv_head * self.cfg.head_dim;
        for kv in &mut cache.layers {
            let held = kv.ring.map_or(positions, |ring| positions.min(ring)) * width;
            kv.keys.reserve_exact(held.saturating_sub(kv.keys.len()));
            kv.values
                .reserve_exact(held.saturating_sub(kv.values.len()));
        }
    }

    /// Bytes of KV cache a sequence of `positions` tokens needs at most.
    pub fn kv_bytes(&self, positions: usize) -> usize {
        let per_position = 2 * self.cfg.n_kv_head * self.cfg.head_dim * 4;
        self.layers
            .iter()
            .map(|l| {
                let held = if l.global {
                    positions
                } else {
                    positions.min(self.ring())
                };
                held * per_position
            })
            .sum()
    }

    /// Runs each sequence's new tokens after its cache, all in one pass: the linear layers
    /// as one matmul over every row, attention per sequence. Returns the final hidden
    /// states, normed, `Σ tokens × hidden`, sequence after sequence.
    pub fn forward_batch(
        &self,
        batch: &mut [(&mut Gemma3Cache, &[u32])],
    ) -> Result<Vec<f32>, ModelError> {
        let cfg = &self.cfg;
        let (hidden, hd) = (cfg.hidden, cfg.head_dim);
        let (q_width, kv_width) = (cfg.n_head * hd, cfg.n_kv_head * hd);
        // Which sequence and position each row is.
        let mut rows: Vec<(usize, usize)> = Vec::new();
        for (s, (cache, tokens)) in batch.iter().enumerate() {
            crate::error::check_tokens(tokens, self.vocab)?;
            if tokens.len() > MAX_ROWS_PER_SEQUENCE {
                return Err(ModelError::Compute(format!(
                    "{} tokens for one sequence in one pass; at most {MAX_ROWS_PER_SEQUENCE}",
                    tokens.len()
                )));
            }
            rows.extend((0..tokens.len()).map(|i| (s, cache.pos + i)));
        }
        let ids: Vec<u32> = batch.iter().flat_map(|(_, t)| t.iter().copied()).collect();
        let mut x = self.embed_rows(&ids)?;
        let ropes: Vec<[(Vec<f32>, Vec<f32>); 2]> = rows
            .par_iter()
            .map(|&(_, p)| [self.rope_local.at(p), self.rope_global.at(p)])
            .collect();
        let eps = cfg.eps as f32;
        for (li, layer) in self.layers.iter().enumerate() {
            let mut h = x.clone();
            math::rms_norm(&mut h, &layer.attn_norm, eps);
            let input = Input::new(&h, hidden);
            let mut q = layer.wq.forward(&input)?;
            let mut k = layer.wk.forward(&input)?;
            let v = layer.wv.forward(&input)?;
            let rope = usize::from(layer.global);
            q.par_chunks_mut(q_width).zip(&ropes).for_each(|(row, r)| {
                for head in row.chunks_exact_mut(hd) {
                    math::rms_norm(head, &layer.q_norm, eps);
                    math::rope(head, &r[rope].0, &r[rope].1);
                }
            });
            k.par_chunks_mut(kv_width).zip(&ropes).for_each(|(row, r)| {
                for head in row.chunks_exact_mut(hd) {
                    math::rms_norm(head, &layer.k_norm, eps);
                    math::rope(head, &r[rope].0, &r[rope].1);
                }
            });
            for (i, &(s, p)) in rows.iter().enumerate() {
                let kv = &mut batch[s].0.layers[li];
                kv.store(
                    p,
                    kv_width,
                    &k[i * kv_width..(i + 1) * kv_width],
                    &v[i * kv_width..(i + 1) * kv_width],
                );
            }
            let mut attended = vec![0f32; rows.len() * q_width];
            {
                let caches: Vec<&LayerKv> = batch.iter().map(|(c, _)| &c.layers[li]).collect();
                // The query heads that share a KV head go together, so each key and
                // value is read once for all of them.
                let group = cfg.n_head / cfg.n_kv_head;
                attended
                    .par_chunks_mut(group * hd)
                    .enumerate()
                    .for_each(|(j, out)| {
                        let (i, kv_head) = (j / cfg.n_kv_head, j % cfg.n_kv_head);
                        let (s, p) = rows[i];
                        let at = i * q_width + kv_head * group * hd;
                        let queries = &q[at..at + group * hd];
                        self.attend(caches[s], layer.global, kv_head, p, queries, out);
                    });
            }
            let mut o = layer.wo.forward(&Input::new(&attended, q_width))?;
            math::rms_norm(&mut o, &layer.post_attn_norm, eps);
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
            let mut h = x.clone();
            math::rms_norm(&mut h, &layer.ffn_norm, eps);
            let input = Input::new(&h, hidden);
            let mut gate = layer.gate.forward(&input)?;
            let up = layer.up.forward(&input)?;
            gate.par_iter_mut()
                .zip(&up)
                .for_each(|(g, u)| *g = math::gelu(*g) * u);
            let ffn = gate.len() / rows.len().max(1);
            let mut down = layer.down.forward(&Input::new(&gate, ffn))?;
            math::rms_norm(&mut down, &layer.post_ffn_norm, eps);
            x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
        }
        for (cache, tokens) in batch.iter_mut() {
            cache.pos += tokens.len();
        }
        math::rms_norm(&mut x, &self.norm, eps);
        Ok(x)
    }

    /// `√hidden ·` the embedding rows of `ids`.
    fn embed_rows(&self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        let hidden = self.cfg.hidden;
        let scale = (hidden as f32).sqrt();
        let mut x = Vec::with_capacity(ids.len() * hidden);
        for &id in ids {
            let row = match &self.embed {
                Linear::Quant(m) => m.dequantize_row(id as usize),
                Linear::Dense { weights, k, .. } => {
                    weights[id as usize * k..(id as usize + 1) * k].to_vec()
                }
            };
            x.extend(row.into_iter().map(|v| v * scale));
        }
        Ok(x)
    }

    /// The query heads of one KV head (`queries`: `head_dim` values each) at `position`
    /// over the keys they see: per head, scaled dot products, a softmax and the weighted
    /// sum of values, in position order. Each key and value is read once for all heads;
    /// each head's arithmetic is its own, as if alone.
    fn attend(
        &self,
        kv: &LayerKv,
        global: bool,
        kv_head: usize,
        position: usize,
        queries: &[f32],
        out: &mut [f32],
    ) {
        let cfg = &self.cfg;
        let hd = cfg.head_dim;
        let heads = queries.len() / hd;
        let width = cfg.n_kv_head * hd;
        let first = if global {
            0
        } else {
            (position + 1).saturating_sub(cfg.window)
        };
        let seen = position + 1 - first;
        let scale = cfg.attn_scale as f32;
        let q: Vec<f32> = queries.iter().map(|v| v * scale).collect();
        let at = |p: usize| kv.slot(p) * width + kv_head * hd;
        // scores[h · seen + (p − first)]
        let mut scores = vec![0f32; heads * seen];
        let per_head: Vec<&[f32]> = q.chunks_exact(hd).collect();
        let starts: Vec<usize> = (first..=position).map(at).collect();
        math::scores(&per_head, &kv.keys, &starts, &mut scores);
        let mut totals = Vec::with_capacity(heads);
        for head in scores.chunks_exact_mut(seen) {
            let max = head.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            head.iter_mut().for_each(|s| *s = (*s - max).exp());
            totals.push(head.iter().sum::<f32>());
        }
        for (head, total) in scores.chunks_exact_mut(seen).zip(&totals) {
            head.iter_mut().for_each(|s| *s /= total);
        }
        let weights: Vec<&[f32]> = scores.chunks_exact(seen).collect();
        math::weighted_sums(&weights, &kv.values, &starts, out);
    }

    /// Logits `rows × vocab` for hidden states `rows × hidden`.
    pub fn logits(&self, hidden: &[f32]) -> Result<Vec<f32>, ModelError> {
        let output = self.output.as_ref().unwrap_or(&self.embed);
        output.forward(&Input::new(hidden, self.cfg.hidden))
    }
}
