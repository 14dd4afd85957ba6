//! Llama (2, 3, 3.1, 3.2), and the families that share its file layout: Mistral, SmolLM2,
//! TinyLlama. SiLU MLP, RoPE on adjacent pairs (llama.cpp's converter permutes Q and K
//! for it), and Llama 3.1's frequency factors from the `rope_freqs` tensor. Full attention
//! on every layer, as llama.cpp runs these files.

use super::{Architecture, Metadata};
use crate::error::ModelError;
use crate::transformer::{Activation, Blueprint, RopeFrequencies, RopeLayout, Windows};

/// `llama`.
#[derive(Debug)]
pub(crate) struct Llama;

impl Architecture for Llama {
    fn name(&self) -> &'static str {
        "llama"
    }

    fn blueprint(&self, md: &Metadata<'_>) -> Result<Blueprint, ModelError> {
        let hidden = md.int("embedding_length")?;
        let n_head = md.int("attention.head_count")?;
        let head_dim = md.int_or("attention.key_length", hidden / n_head.max(1))?;
        // Llama 3.1's scaling comes as the `rope_freqs` tensor, which the transformer
        // applies; the metadata names it `llama3` or leaves it out.
        let scale = md.linear_rope_scale(&["llama3"])?;
        md.whole_head_rotation(head_dim)?;
        Ok(Blueprint {
            hidden,
            n_head,
            n_kv_head: md.int_or("attention.head_count_kv", n_head)?,
            head_dim,
            n_layer: md.int("block_count")?,
            eps: md.float_or("attention.layer_norm_rms_epsilon", 1e-5)?,
            context: md.int_or("context_length", 4096)?,
            rope_layout: RopeLayout::Adjacent,
            rope: RopeFrequencies {
                base: md.float_or("rope.freq_base", 1e4)?,
                scale,
            },
            rope_local: None,
            // llama.cpp runs `llama` files on full attention even where the metadata
            // names a window (Mistral 7B v0.1's 4096), and so does dial.
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
