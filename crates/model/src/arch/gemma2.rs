//! Gemma 2: Gemma's block (GELU MLP, norms after attention and the MLP, embeddings scaled
//! by `√hidden`) with every other layer on a sliding window, and soft-capping: each
//! attention score and each output logit passes through `c·tanh(x / c)`. (GGUF stores
//! Gemma's RMSNorm weights with its `+1` already added.)

use super::{Architecture, Defaults, Metadata, decoder};
use crate::error::ModelError;
use crate::transformer::{Activation, Blueprint, RopeLayout, Windows};

/// `gemma2`.
#[derive(Debug)]
pub(crate) struct Gemma2;

impl Architecture for Gemma2 {
    fn name(&self) -> &'static str {
        "gemma2"
    }

    fn blueprint(&self, md: &Metadata<'_>) -> Result<Blueprint, ModelError> {
        let defaults = Defaults {
            eps: 1e-6,
            context: 8192,
            rope_base: 1e4,
        };
        let base = decoder(md, defaults, RopeLayout::Halves, &[])?;
        // Gemma 2 27B scales queries by (hidden / heads)^−½, the others by head_dim^−½;
        // GGUF does not carry `query_pre_attn_scalar`, so llama.cpp tells 27B by its 46
        // layers, and so does dial.
        let query_width = if base.n_layer == 46 {
            base.hidden / base.n_head.max(1)
        } else {
            base.head_dim
        };
        Ok(Blueprint {
            windows: Windows::GlobalEvery {
                window: md.int_or("attention.sliding_window", 4096)?.max(1),
                every: 2,
            },
            activation: Activation::GeluTanh,
            post_norms: true,
            embed_scale: true,
            attn_scale: 1.0 / (query_width as f64).sqrt(),
            attn_softcap: Some(md.float_or("attn_logit_softcapping", 50.0)? as f32),
            final_softcap: Some(md.float_or("final_logit_softcapping", 30.0)? as f32),
            ..base
        })
    }
}
