//! Llama (2, 3, 3.1, 3.2), and the families that share its file layout: Mistral, SmolLM2,
//! TinyLlama. SiLU MLP, RoPE on adjacent pairs (llama.cpp's converter permutes Q and K
//! for it), and Llama 3.1's frequency factors from the `rope_freqs` tensor. Full attention
//! on every layer, as llama.cpp runs these files.

use super::{Architecture, Defaults, Metadata, decoder};
use crate::error::ModelError;
use crate::transformer::{Blueprint, RopeLayout};

/// `llama`.
#[derive(Debug)]
pub(crate) struct Llama;

impl Architecture for Llama {
    fn name(&self) -> &'static str {
        "llama"
    }

    fn blueprint(&self, md: &Metadata<'_>) -> Result<Blueprint, ModelError> {
        // Llama 3.1's scaling comes as the `rope_freqs` tensor, which the transformer
        // applies; the metadata names it `llama3` or leaves it out. llama.cpp runs `llama`
        // files on full attention even where the metadata names a window (Mistral 7B
        // v0.1's 4096), and so does dial.
        let defaults = Defaults {
            eps: 1e-5,
            context: 4096,
            rope_base: 1e4,
        };
        decoder(md, defaults, RopeLayout::Adjacent, &["llama3"])
    }
}
