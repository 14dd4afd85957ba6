//! The decoder every native architecture runs, on dial's own kernels, over a batch of
//! sequences at once. What varies between families is a [`Blueprint`] of small named
//! choices, which each architecture (`arch/`) reads from its GGUF metadata.
//!
//! - Every linear layer runs as one matmul over all of a step's rows, on dial-quant's
//!   kernels (the weights stay in the mapped file), and attention per sequence over its own
//!   KV cache.
//! - Every row is computed the same way whatever else is in the batch and however a prompt
//!   is split into chunks: the kernels quantize each row alone and reduce in a fixed order,
//!   and every f32 step here has one order (`math.rs`). So prefill, token-by-token decode
//!   and any batch give the same bits.
//! - Sliding-window layers mask as llama.cpp and HF do (a key is visible iff
//!   `q − k < window`) and keep their KV cache in a ring of `window + PREFILL_CHUNK`
//!   positions.
//! - Query heads are grouped over shared KV heads without copying the cache.

use crate::error::ModelError;
use crate::linear::{Input, Linear, Source};
use crate::math;
use rayon::prelude::*;

/// Most new tokens one sequence may bring to one forward pass (a prefill chunk).
pub const MAX_ROWS_PER_SEQUENCE: usize = crate::model::PREFILL_CHUNK;

/// Which pairs of a head's values RoPE rotates together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// Adjacent values `(x₂ᵢ, x₂ᵢ₊₁)`: llama.cpp's normal mode (Llama, whose converter
    /// permutes Q and K for it).
    Adjacent,
    /// The two halves `(xᵢ, xᵢ₊d/2)`: NeoX mode (Gemma, Qwen, Phi-3).
    Halves,
}

/// RoPE's frequencies: `θᵢ = base^(−2i/d) / (scale · factorᵢ)`, `factorᵢ` from the file's
/// factors tensor where it has one ([`Blueprint::rope_factors`]: Llama 3.1's scaling,
/// Phi-3's LongRoPE), and the rotation `(cos θ, sin θ)` times `attn_factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeFrequencies {
    /// The base.
    pub base: f64,
    /// Linear position scaling (1 = none).
    pub scale: f64,
    /// What cos and sin are multiplied by (ggml's `mscale`; LongRoPE's
    /// `rope.scaling.attn_factor`), so every query·key score is scaled by its square.
    pub attn_factor: f64,
}

/// The gated MLP's activation on the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x · σ(x)` (Llama, Qwen, Phi-3).
    Silu,
    /// GELU, tanh form (Gemma).
    GeluTanh,
}

impl Activation {
    fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Silu => x / (1.0 + (-x).exp()),
            Activation::GeluTanh => math::gelu(x),
        }
    }
}

/// Which layers attend through a sliding window, and how wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Windows {
    /// Every layer sees the whole context.
    None,
    /// Every layer slides (Mistral).
    Every {
        /// Positions seen, the query's own included.
        window: usize,
    },
    /// Every `every`-th layer is global, the rest slide (Gemma 3: 6).
    GlobalEvery {
        /// Positions seen by a local layer.
        window: usize,
        /// Layers `every − 1, 2·every − 1, …` are global.
        every: usize,
    },
}

impl Windows {
    /// Layer `i`'s window; `None` for a global layer.
    pub fn of(self, i: usize) -> Option<usize> {
        match self {
            Windows::None => None,
            Windows::Every { window } => Some(window),
            Windows::GlobalEvery { window, every } => {
                (!(i + 1).is_multiple_of(every)).then_some(window)
            }
        }
    }
}

/// The named choices that make a transformer family, read from GGUF metadata by each
/// architecture (`arch/`).
#[derive(Debug, Clone, PartialEq)]
pub struct Blueprint {
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
    /// Trained context length.
    pub context: usize,
    /// RoPE's pairing.
    pub rope_layout: RopeLayout,
    /// RoPE of the global layers.
    pub rope: RopeFrequencies,
    /// The tensor of per-frequency divisors, used where the file has it (`rope_freqs.weight`;
    /// Phi-3's long or short LongRoPE factors).
    pub rope_factors: &'static str,
    /// RoPE of the sliding-window layers, where it differs (Gemma 3).
    pub rope_local: Option<RopeFrequencies>,
    /// Sliding-window layers.
    pub windows: Windows,
    /// The gated MLP's activation.
    pub activation: Activation,
    /// RMSNorm on each query and key head before RoPE (Qwen 3, Gemma 3).
    pub qk_norm: bool,
    /// RMSNorm on the attention and MLP outputs before the residual add (Gemma 2, 3).
    pub post_norms: bool,
    /// Embeddings multiplied by `√hidden` (Gemma).
    pub embed_scale: bool,
    /// Multiplier on queries (`head_dim^−½` unless the family says otherwise).
    pub attn_scale: f64,
    /// `c` of `s ← c·tanh(s / c)` on every attention score before the softmax (Gemma 2).
    pub attn_softcap: Option<f32>,
    /// `c` of `x ← c·tanh(x / c)` on every output logit (Gemma 2).
    pub final_softcap: Option<f32>,
}

impl Blueprint {
    /// Checks the head shapes.
    pub fn check(&self, arch: &str) -> Result<(), ModelError> {
        if self.n_head == 0
            || self.n_kv_head == 0
            || !self.n_head.is_multiple_of(self.n_kv_head)
            || self.head_dim == 0
            || !self.head_dim.is_multiple_of(2)
            || self.hidden == 0
            || self.n_layer == 0
        {
            return Err(ModelError::BadMetadata(
                format!("{arch}.attention"),
                format!(
                    "{} heads over {} KV heads of width {}, hidden {}, {} layers",
                    self.n_head, self.n_kv_head, self.head_dim, self.hidden, self.n_layer
                ),
            ));
        }
        Ok(())
    }
}

/// One head's RoPE angles.
#[derive(Debug, Clone)]
struct Rope {
    layout: RopeLayout,
    attn_factor: f32,
    inv_freq: Vec<f32>,
}

impl Rope {
    fn new(
        layout: RopeLayout,
        f: RopeFrequencies,
        head_dim: usize,
        factors: Option<&[f32]>,
    ) -> Self {
        Rope {
            layout,
            attn_factor: f.attn_factor as f32,
            inv_freq: (0..head_dim / 2)
                .map(|i| {
                    let factor = factors
                        .and_then(|f| f.get(i))
                        .map_or(1.0, |&v| f64::from(v));
                    (1.0 / (f.base.powf(2.0 * i as f64 / head_dim as f64) * f.scale * factor))
                        as f32
                })
                .collect(),
        }
    }

    /// cos and sin of `position · θ_i`, times the attention factor (as ggml: after the
    /// cosine, in f32; a factor of 1 changes no bit).
    fn at(&self, position: usize) -> (Vec<f32>, Vec<f32>) {
        let angles = self.inv_freq.iter().map(|f| position as f32 * f);
        (
            angles.clone().map(|a| a.cos() * self.attn_factor).collect(),
            angles.map(|a| a.sin() * self.attn_factor).collect(),
        )
    }

    fn rotate(&self, head: &mut [f32], (cos, sin): &(Vec<f32>, Vec<f32>)) {
        match self.layout {
            RopeLayout::Halves => math::rope(head, cos, sin),
            RopeLayout::Adjacent => math::rope_adjacent(head, cos, sin),
        }
    }
}

/// A linear layer and the bias some families add after it (Qwen 2's Q, K and V).
#[derive(Debug)]
struct Projection {
    weight: Linear,
    bias: Option<Vec<f32>>,
}

impl Projection {
    fn forward(&self, x: &Input<'_>) -> Result<Vec<f32>, ModelError> {
        let mut y = self.weight.forward(x)?;
        if let Some(bias) = &self.bias {
            for row in y.chunks_exact_mut(bias.len()) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
        }
        Ok(y)
    }
}

/// Queries, keys and values: three matrices, or one whose rows are all three, in that
/// order (Phi-3's `attn_qkv`).
// One per layer: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum QkvWeights {
    Separate {
        q: Projection,
        k: Projection,
        v: Projection,
    },
    Fused(Projection),
}

impl QkvWeights {
    /// `[q, k, v]` for the rows of `x`.
    fn forward(
        &self,
        x: &Input<'_>,
        q_width: usize,
        kv_width: usize,
    ) -> Result<[Vec<f32>; 3], ModelError> {
        match self {
            QkvWeights::Separate { q, k, v } => Ok([q.forward(x)?, k.forward(x)?, v.forward(x)?]),
            QkvWeights::Fused(qkv) => {
                let all = qkv.forward(x)?;
                let width = q_width + 2 * kv_width;
                let rows = all.len() / width;
                let (mut q, mut k, mut v) = (
                    Vec::with_capacity(rows * q_width),
                    Vec::with_capacity(rows * kv_width),
                    Vec::with_capacity(rows * kv_width),
                );
                for row in all.chunks_exact(width) {
                    q.extend_from_slice(&row[..q_width]);
                    k.extend_from_slice(&row[q_width..q_width + kv_width]);
                    v.extend_from_slice(&row[q_width + kv_width..]);
                }
                Ok([q, k, v])
            }
        }
    }

    /// Output widths of q, k and v as loaded.
    fn widths(&self) -> Vec<usize> {
        match self {
            QkvWeights::Separate { q, k, v } => vec![q.weight.n(), k.weight.n(), v.weight.n()],
            QkvWeights::Fused(qkv) => vec![qkv.weight.n()],
        }
    }
}

#[derive(Debug)]
struct Layer {
    attn_norm: Vec<f32>,
    /// Per-head query and key norms, with [`Blueprint::qk_norm`].
    qk_norm: Option<(Vec<f32>, Vec<f32>)>,
    /// Attention and MLP output norms, with [`Blueprint::post_norms`].
    post_norms: Option<(Vec<f32>, Vec<f32>)>,
    ffn_norm: Vec<f32>,
    qkv: QkvWeights,
    wo: Linear,
    /// `None`: the gate is the first half of each row of `up` (Phi-3's fused `ffn_up`).
    gate: Option<Linear>,
    up: Linear,
    down: Linear,
    window: Option<usize>,
}

/// One layer's keys and values: position `p` in slot `p` (global layers) or `p mod ring`
/// (sliding-window layers), `n_kv_head · head_dim` values each.
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
pub struct KvCache {
    layers: Vec<LayerKv>,
    pos: usize,
}

impl KvCache {
    /// Tokens held.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Forgets every position from `position` on (a rewind). The next token goes to
    /// `position`, and sees the same keys and values as it would have the first time. A
    /// sliding-window layer's ring still holds the positions such a token sees only when
    /// it goes back at most [`MAX_ROWS_PER_SEQUENCE`] positions.
    pub fn truncate(&mut self, position: usize) -> Result<(), ModelError> {
        let back = self.pos.saturating_sub(position);
        if position > self.pos
            || (back > MAX_ROWS_PER_SEQUENCE && self.layers.iter().any(|l| l.ring.is_some()))
        {
            return Err(ModelError::Compute(format!(
                "a rewind from position {} to {position}: at most {MAX_ROWS_PER_SEQUENCE} back, never forward",
                self.pos
            )));
        }
        self.pos = position;
        Ok(())
    }

    /// Bytes its keys and values take now.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| (l.keys.capacity() + l.values.capacity()) * 4)
            .sum()
    }
}

/// A transformer's weights: immutable once loaded, shared by every sequence.
#[derive(Debug)]
pub struct Transformer {
    arch: &'static str,
    cfg: Blueprint,
    embed: Linear,
    /// `None`: tied to the embedding.
    output: Option<Linear>,
    norm: Vec<f32>,
    layers: Vec<Layer>,
    vocab: usize,
    rope: Rope,
    rope_local: Rope,
}

impl Transformer {
    /// Loads the weights of `blueprint`'s layers from GGUF's usual tensor names; the
    /// quantized matrices stay in `source`'s memory map.
    pub(crate) fn load(
        arch: &'static str,
        cfg: Blueprint,
        source: &Source<'_>,
        on_tensor: &mut impl FnMut(),
    ) -> Result<Self, ModelError> {
        cfg.check(arch)?;
        let has = |name: &str| source.has(name);
        let (vocab, width) = source.dims("token_embd.weight")?;
        if width != cfg.hidden {
            return Err(ModelError::Tensor {
                name: "token_embd.weight".into(),
                reason: format!("width {width}, expected {}", cfg.hidden),
            });
        }
        on_tensor();
        let embed = source.linear("token_embd.weight")?;
        let output = if has("output.weight") {
            on_tensor();
            Some(source.linear("output.weight")?)
        } else {
            None
        };
        on_tensor();
        let norm = source.dense("output_norm.weight")?;
        let factors = if has(cfg.rope_factors) {
            on_tensor();
            let factors = source.dense(cfg.rope_factors)?;
            if factors.len() != cfg.head_dim / 2 {
                return Err(ModelError::Tensor {
                    name: cfg.rope_factors.into(),
                    reason: format!(
                        "{} factors, expected one per frequency ({})",
                        factors.len(),
                        cfg.head_dim / 2
                    ),
                });
            }
            Some(factors)
        } else {
            None
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let name = |suffix: &str| format!("blk.{i}.{suffix}");
            let mut dense = |suffix: &str| {
                on_tensor();
                source.dense(&name(suffix))
            };
            let attn_norm = dense("attn_norm.weight")?;
            let qk_norm = if cfg.qk_norm {
                Some((dense("attn_q_norm.weight")?, dense("attn_k_norm.weight")?))
            } else {
                None
            };
            let post_attn_norm = cfg
                .post_norms
                .then(|| dense("post_attention_norm.weight"))
                .transpose()?;
            let ffn_norm = dense("ffn_norm.weight")?;
            let post_ffn_norm = cfg
                .post_norms
                .then(|| dense("post_ffw_norm.weight"))
                .transpose()?;
            let mut projection = |which: &str| -> Result<Projection, ModelError> {
                on_tensor();
                let weight = source.linear(&name(&format!("{which}.weight")))?;
                let bias_name = name(&format!("{which}.bias"));
                let bias = if source.has(&bias_name) {
                    on_tensor();
                    let bias = source.dense(&bias_name)?;
                    if bias.len() != weight.n() {
                        return Err(ModelError::Tensor {
                            name: bias_name,
                            reason: format!("{} values for {} outputs", bias.len(), weight.n()),
                        });
                    }
                    Some(bias)
                } else {
                    None
                };
                Ok(Projection { weight, bias })
            };
            let qkv = if has(&name("attn_qkv.weight")) {
                QkvWeights::Fused(projection("attn_qkv")?)
            } else {
                QkvWeights::Separate {
                    q: projection("attn_q")?,
                    k: projection("attn_k")?,
                    v: projection("attn_v")?,
                }
            };
            let fused_gate = !has(&name("ffn_gate.weight"));
            let mut linear = |suffix: &str| {
                on_tensor();
                source.linear(&name(&format!("{suffix}.weight")))
            };
            let layer = Layer {
                attn_norm,
                qk_norm,
                post_norms: post_attn_norm.zip(post_ffn_norm),
                ffn_norm,
                qkv,
                wo: linear("attn_output")?,
                gate: if fused_gate {
                    None
                } else {
                    Some(linear("ffn_gate")?)
                },
                up: linear("ffn_up")?,
                down: linear("ffn_down")?,
                window: cfg.windows.of(i),
            };
            let q_width = cfg.n_head * cfg.head_dim;
            let kv_width = cfg.n_kv_head * cfg.head_dim;
            let qkv_fits = match &layer.qkv {
                QkvWeights::Separate { .. } => layer.qkv.widths() == [q_width, kv_width, kv_width],
                QkvWeights::Fused(_) => layer.qkv.widths() == [q_width + 2 * kv_width],
            };
            let ffn = layer.down.k();
            let up_width = if layer.gate.is_some() { ffn } else { 2 * ffn };
            let gate_fits = layer.gate.as_ref().is_none_or(|g| g.n() == ffn);
            let shapes = [
                (&layer.wo, cfg.hidden),
                (&layer.down, cfg.hidden),
                (&layer.up, up_width),
            ];
            let norms_fit = layer
                .qk_norm
                .as_ref()
                .is_none_or(|(q, k)| q.len() == cfg.head_dim && k.len() == cfg.head_dim);
            if shapes.iter().any(|(m, n)| m.n() != *n) || !qkv_fits || !gate_fits || !norms_fit {
                return Err(ModelError::Tensor {
                    name: format!("blk.{i}"),
                    reason: "matrix shapes disagree with the metadata".into(),
                });
            }
            layers.push(layer);
        }
        let rope = Rope::new(cfg.rope_layout, cfg.rope, cfg.head_dim, factors.as_deref());
        let rope_local = match cfg.rope_local {
            Some(local) => Rope::new(cfg.rope_layout, local, cfg.head_dim, None),
            None => rope.clone(),
        };
        Ok(Transformer {
            arch,
            rope,
            rope_local,
            cfg,
            embed,
            output,
            norm,
            layers,
            vocab,
        })
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> &'static str {
        self.arch
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Blueprint {
        &self.cfg
    }

    /// Vocabulary size (rows of the embedding).
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Positions a sliding layer's ring holds: the window plus one chunk, so a chunk's own
    /// keys never overwrite ones its first rows still see.
    fn ring(window: usize) -> usize {
        window + MAX_ROWS_PER_SEQUENCE
    }

    /// An empty cache for one sequence.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: self
                .layers
                .iter()
                .map(|l| LayerKv {
                    ring: l.window.map(Self::ring),
                    ..LayerKv::default()
                })
                .collect(),
            pos: 0,
        }
    }

    /// Grows `cache` to hold `positions` tokens in all, exactly.
    pub fn reserve(&self, cache: &mut KvCache, positions: usize) {
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
            .map(|l| l.window.map_or(positions, |w| positions.min(Self::ring(w))) * per_position)
            .sum()
    }

    /// Runs each sequence's new tokens after its cache, all in one pass: the linear layers
    /// as one matmul over every row, attention per sequence. Returns the final hidden
    /// states, normed, `Σ tokens × hidden`, sequence after sequence.
    pub fn forward_batch(
        &self,
        batch: &mut [(&mut KvCache, &[u32])],
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
        let local_differs = self.cfg.rope_local.is_some();
        let ropes: Vec<[(Vec<f32>, Vec<f32>); 2]> = rows
            .par_iter()
            .map(|&(_, p)| {
                let global = self.rope.at(p);
                let local = if local_differs {
                    self.rope_local.at(p)
                } else {
                    global.clone()
                };
                [local, global]
            })
            .collect();
        let eps = cfg.eps as f32;
        for (li, layer) in self.layers.iter().enumerate() {
            let mut h = x.clone();
            math::rms_norm(&mut h, &layer.attn_norm, eps);
            let input = Input::new(&h, hidden);
            let [mut q, mut k, v] = layer.qkv.forward(&input, q_width, kv_width)?;
            let (rope, angles) = if layer.window.is_some() {
                (&self.rope_local, 0)
            } else {
                (&self.rope, 1)
            };
            let (q_norm, k_norm) = match &layer.qk_norm {
                Some((q, k)) => (Some(q.as_slice()), Some(k.as_slice())),
                None => (None, None),
            };
            let place = |values: &mut Vec<f32>, width: usize, norm: Option<&[f32]>| {
                values
                    .par_chunks_mut(width)
                    .zip(&ropes)
                    .for_each(|(row, r)| {
                        for head in row.chunks_exact_mut(hd) {
                            if let Some(norm) = norm {
                                math::rms_norm(head, norm, eps);
                            }
                            rope.rotate(head, &r[angles]);
                        }
                    });
            };
            place(&mut q, q_width, q_norm);
            place(&mut k, kv_width, k_norm);
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
                        self.attend(caches[s], layer.window, kv_head, p, queries, out);
                    });
            }
            let mut o = layer.wo.forward(&Input::new(&attended, q_width))?;
            if let Some((post_attn, _)) = &layer.post_norms {
                math::rms_norm(&mut o, post_attn, eps);
            }
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
            let mut h = x.clone();
            math::rms_norm(&mut h, &layer.ffn_norm, eps);
            let input = Input::new(&h, hidden);
            let ffn = layer.down.k();
            let activation = cfg.activation;
            let gate = match &layer.gate {
                Some(gate) => {
                    let mut gate = gate.forward(&input)?;
                    let up = layer.up.forward(&input)?;
                    gate.par_iter_mut()
                        .zip(&up)
                        .for_each(|(g, u)| *g = activation.apply(*g) * u);
                    gate
                }
                None => {
                    let fused = layer.up.forward(&input)?;
                    let mut gate = vec![0f32; rows.len() * ffn];
                    gate.par_chunks_mut(ffn)
                        .zip(fused.par_chunks(2 * ffn))
                        .for_each(|(out, row)| {
                            let (g, u) = row.split_at(ffn);
                            for ((o, g), u) in out.iter_mut().zip(g).zip(u) {
                                *o = activation.apply(*g) * u;
                            }
                        });
                    gate
                }
            };
            let mut down = layer.down.forward(&Input::new(&gate, ffn))?;
            if let Some((_, post_ffn)) = &layer.post_norms {
                math::rms_norm(&mut down, post_ffn, eps);
            }
            x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
        }
        for (cache, tokens) in batch.iter_mut() {
            cache.pos += tokens.len();
        }
        math::rms_norm(&mut x, &self.norm, eps);
        Ok(x)
    }

    /// The embedding rows of `ids` (times `√hidden` where the family scales them).
    fn embed_rows(&self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        let hidden = self.cfg.hidden;
        let scale = if self.cfg.embed_scale {
            (hidden as f32).sqrt()
        } else {
            1.0
        };
        let mut x = Vec::with_capacity(ids.len() * hidden);
        for &id in ids {
            let row = match &self.embed {
                Linear::Quant(m) => m.dequantize_row(id as usize),
                Linear::Half(m) => m.row(id as usize),
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
        window: Option<usize>,
        kv_head: usize,
        position: usize,
        queries: &[f32],
        out: &mut [f32],
    ) {
        let cfg = &self.cfg;
        let hd = cfg.head_dim;
        let heads = queries.len() / hd;
        let width = cfg.n_kv_head * hd;
        let first = window.map_or(0, |w| (position + 1).saturating_sub(w));
        let seen = position + 1 - first;
        let scale = cfg.attn_scale as f32;
        let q: Vec<f32> = queries.iter().map(|v| v * scale).collect();
        let at = |p: usize| kv.slot(p) * width + kv_head * hd;
        // scores[h · seen + (p − first)]
        let mut scores = vec![0f32; heads * seen];
        let per_head: Vec<&[f32]> = q.chunks_exact(hd).collect();
        let starts: Vec<usize> = (first..=position).map(at).collect();
        math::scores(&per_head, &kv.keys, &starts, &mut scores);
        if let Some(cap) = cfg.attn_softcap {
            let inverse = 1.0 / cap;
            scores
                .iter_mut()
                .for_each(|s| *s = (*s * inverse).tanh() * cap);
        }
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
        let mut logits = output.forward(&Input::new(hidden, self.cfg.hidden))?;
        if let Some(cap) = self.cfg.final_softcap {
            let inverse = 1.0 / cap;
            logits
                .par_iter_mut()
                .for_each(|x| *x = (*x * inverse).tanh() * cap);
        }
        Ok(logits)
    }
}
