//! Qwen 2 and 2.5: Llama's block with biases on Q, K and V (the transformer adds a bias
//! wherever the file has one) and RoPE on the two halves of each head (NeoX's layout).
//! llama.cpp runs every layer on full attention, whatever window the model was trained
//! with, and so does dial.

use super::{Architecture, Metadata};
use crate::error::ModelError;
use crate::transformer::{Activation, Blueprint, RopeFrequencies, RopeLayout, Windows};

/// `qwen2`.
#[derive(Debug)]
pub(crate) struct Qwen2;

impl Architecture for Qwen2 {
    fn name(&self) -> &'static str {
        "qwen2"
    }

    fn blueprint(&self, md: &Metadata<'_>) -> Result<Blueprint, ModelError> {
        let hidden = md.int("embedding_length")?;
        let n_head = md.int("attention.head_count")?;
        let head_dim = md.int_or("attention.key_length", hidden / n_head.max(1))?;
        md.whole_head_rotation(head_dim)?;
        Ok(Blueprint {
            hidden,
            n_head,
            n_kv_head: md.int_or("attention.head_count_kv", n_head)?,
            head_dim,
            n_layer: md.int("block_count")?,
            eps: md.float_or("attention.layer_norm_rms_epsilon", 1e-6)?,
            context: md.int_or("context_length", 32_768)?,
            rope_layout: RopeLayout::Halves,
            rope: RopeFrequencies {
                base: md.float_or("rope.freq_base", 1e6)?,
                scale: md.linear_rope_scale(&[])?,
            },
            rope_local: None,
            windows: Windows::None,
            activation: Activation::Silu,
            qk_norm: false,
            post_norms: false,
            embed_scale: false,
            attn_scale: 1.0 / (head_dim as f64).sqrt(),
            attn_softcap: None,
            final_softcap: None,
        })
    }
}
