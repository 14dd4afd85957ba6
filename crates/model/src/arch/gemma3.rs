//! Gemma 3: GELU MLP, q/k norms, norms after attention and the MLP, embeddings scaled by
//! `√hidden`, and 5 sliding-window layers to each global one, with their own RoPE base.
//! (GGUF stores Gemma's RMSNorm weights with its `+1` already added.)

use super::{Architecture, Metadata};
use crate::error::ModelError;
use crate::transformer::{Activation, Blueprint, RopeFrequencies, RopeLayout, Windows};

/// `gemma3`.
#[derive(Debug)]
pub(crate) struct Gemma3;

impl Architecture for Gemma3 {
    fn name(&self) -> &'static str {
        "gemma3"
    }

    fn blueprint(&self, md: &Metadata<'_>) -> Result<Blueprint, ModelError> {
        let head_dim = md.int("attention.key_length")?;
        let attn_factor = md.rope_attn_factor()?;
        Ok(Blueprint {
            hidden: md.int("embedding_length")?,
            n_head: md.int("attention.head_count")?,
            n_kv_head: md.int("attention.head_count_kv")?,
            head_dim,
            n_layer: md.int("block_count")?,
            eps: md.float_or("attention.layer_norm_rms_epsilon", 1e-6)?,
            context: md.int_or("context_length", 32_768)?,
            rope_layout: RopeLayout::Halves,
            rope: RopeFrequencies {
                base: md.float_or("rope.freq_base", 1e6)?,
                scale: md.float_or("rope.scaling.factor", 1.0)?.max(1.0),
                attn_factor,
            },
            rope_factors: "rope_freqs.weight",
            rope_local: Some(RopeFrequencies {
                base: md.float_or("rope.local_freq_base", 1e4)?,
                scale: 1.0,
                attn_factor,
            }),
            windows: Windows::GlobalEvery {
                window: md.int_or("attention.sliding_window", 512)?.max(1),
                every: 6,
            },
            activation: Activation::GeluTanh,
            qk_norm: true,
            post_norms: true,
            embed_scale: true,
            // Gemma 3 sets query_pre_attn_scalar to the head width (llama.cpp does too).
            attn_scale: 1.0 / (head_dim as f64).sqrt(),
            attn_softcap: None,
            final_softcap: None,
        })
    }
}
