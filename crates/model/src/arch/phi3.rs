//! Phi-3 (mini, medium): Llama's block with queries, keys and values in one matrix
//! (`attn_qkv`) and the MLP's gate and up in one (`ffn_up`, gate first), and RoPE on the
//! two halves of each head. llama.cpp runs Phi-3 without its sliding window, and so does
//! dial. The 128k variants' LongRoPE factors are refused, not approximated.

use super::{Architecture, Metadata};
use crate::error::ModelError;
use crate::transformer::{Activation, Blueprint, RopeFrequencies, RopeLayout, Windows};

/// `phi3`.
#[derive(Debug)]
pub(crate) struct Phi3;

impl Architecture for Phi3 {
    fn name(&self) -> &'static str {
        "phi3"
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
            eps: md.float_or("attention.layer_norm_rms_epsilon", 1e-5)?,
            context: md.int_or("context_length", 4096)?,
            rope_layout: RopeLayout::Halves,
            rope: RopeFrequencies {
                base: md.float_or("rope.freq_base", 1e4)?,
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

    fn refused_tensors(&self) -> &'static [(&'static str, &'static str)] {
        &[
            (
                "rope_factors_long.weight",
                "LongRoPE (Phi-3 128k) is not supported yet",
            ),
            (
                "rope_factors_short.weight",
                "LongRoPE (Phi-3 128k) is not supported yet",
            ),
        ]
    }
}
