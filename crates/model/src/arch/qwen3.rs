//! Qwen 3 (dense): Qwen 2's block without the biases, with an RMSNorm over each query and
//! key head before RoPE, and a head width of its own (`attention.key_length`, 128, which
//! need not be the hidden width over the head count).

use super::{Architecture, Defaults, Metadata, decoder};
use crate::error::ModelError;
use crate::transformer::{Blueprint, RopeLayout};

/// `qwen3`.
#[derive(Debug)]
pub(crate) struct Qwen3;

impl Architecture for Qwen3 {
    fn name(&self) -> &'static str {
        "qwen3"
    }

    fn blueprint(&self, md: &Metadata<'_>) -> Result<Blueprint, ModelError> {
        let defaults = Defaults {
            eps: 1e-6,
            context: 40_960,
            rope_base: 1e6,
        };
        Ok(Blueprint {
            qk_norm: true,
            ..decoder(md, defaults, RopeLayout::Halves, &[])?
        })
    }
}
