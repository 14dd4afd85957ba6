//! Qwen 3 (dense): Qwen 2's block without the biases, with an RMSNorm over each query and
//! key head before RoPE, and a head width of its own (`attention.key_length`, 128, which
//! need not be the hidden width over the head count).

use super::{Architecture, Metadata};
use crate::error::ModelError;
use crate::transformer::{Activation, Blueprint, RopeFrequencies, RopeLayout, Windows};

/// `qwen3`.
#[derive(Debug)]
pub(crate) struct Qwen3;

impl Architecture for Qwen3 {
    fn name(&self) -> &'static str {
        "qwen3"
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
            context: md.int_or("context_length", 40_960)?,
            rope_layout: RopeLayout::Halves,
            rope: RopeFrequencies {
                base: md.float_or("rope.freq_base", 1e6)?,
                scale: md.linear_rope_scale(&[])?,
            },
            rope_local: None,
            windows: Windows::None,
            activation: Activation::Silu,
            qk_norm: true,
            post_norms: false,
            embed_scale: false,
            attn_scale: 1.0 / (head_dim as f64).sqrt(),
            attn_softcap: None,
            final_softcap: None,
        })
    }
}
