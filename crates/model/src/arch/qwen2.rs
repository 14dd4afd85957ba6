//! Qwen 2 and 2.5: Llama's block with biases on Q, K and V (the transformer adds a bias
//! wherever the file has one) and RoPE on the two halves of each head (NeoX's layout).
//! llama.cpp runs every layer on full attention, whatever window the model was trained
//! with, and so does dial.

use super::{Architecture, Defaults, Metadata, decoder};
use crate::error::ModelError;
use crate::transformer::{Blueprint, RopeLayout};

/// `qwen2`.
#[derive(Debug)]
pub(crate) struct Qwen2;

impl Architecture for Qwen2 {
    fn name(&self) -> &'static str {
        "qwen2"
    }

    fn blueprint(&self, md: &Metadata<'_>) -> Result<Blueprint, ModelError> {
        let defaults = Defaults {
            eps: 1e-6,
            context: 32_768,
            rope_base: 1e6,
        };
        decoder(md, defaults, RopeLayout::Halves, &[])
    }
}
