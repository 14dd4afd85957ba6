//! Phi-3 (mini, medium): Llama's block with queries, keys and values in one matrix
//! (`attn_qkv`) and the MLP's gate and up in one (`ffn_up`, gate first), and RoPE on the
//! two halves of each head. llama.cpp runs Phi-3 without its sliding window, and so does
//! dial. The 128k variants' LongRoPE factors are refused, not approximated.

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
        decoder(md, defaults, RopeLayout::Halves, &[])
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
