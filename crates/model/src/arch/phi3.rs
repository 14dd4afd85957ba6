//! Phi-3 (mini, medium, Phi-3.5): Llama's block with queries, keys and values in one
//! matrix (`attn_qkv`) and the MLP's gate and up in one (`ffn_up`, gate first), and RoPE on
//! the two halves of each head. llama.cpp runs Phi-3 without its sliding window, and so
//! does dial.
//!
//! The 128k variants' LongRoPE divides each frequency by a factor from the file, long or
//! short, and multiplies the rotation by `rope.scaling.attn_factor`. llama.cpp takes the
//! long factors when a sequence's context is longer than
//! `rope.scaling.original_context_length`; dial gives each sequence the file's whole
//! context, so it takes them whenever `context_length` is longer.

use super::{Architecture, Defaults, Metadata, decoder};
use crate::error::ModelError;
use crate::transformer::{Blueprint, RopeLayout};

/// `phi3`.
#[derive(Debug)]
pub(crate) struct Phi3;

impl Architecture for Phi3 {
    fn name(&self) -> &'static str {
        "phi3"
    }

    fn blueprint(&self, md: &Metadata<'_>) -> Result<Blueprint, ModelError> {
        let defaults = Defaults {
            eps: 1e-5,
            context: 4096,
            rope_base: 1e4,
        };
        // A type, where a converter wrote one, names what the factor tensors do.
        let blueprint = decoder(md, defaults, RopeLayout::Halves, &["longrope", "su"])?;
        let original = md.int_or("rope.scaling.original_context_length", blueprint.context)?;
        Ok(Blueprint {
            rope_factors: if blueprint.context > original {
                "rope_factors_long.weight"
            } else {
                "rope_factors_short.weight"
            },
            ..blueprint
        })
    }
}
