//! The architectures dial runs on its own engine. Each is one implementation of
//! [`Architecture`]: it reads its family's GGUF metadata into a [`Blueprint`] for the shared
//! [`Transformer`](crate::transformer::Transformer).

mod gemma2;
mod gemma3;
mod llama;
mod phi3;
mod qwen2;
mod qwen3;

use crate::error::ModelError;
use crate::transformer::{Activation, Blueprint, RopeFrequencies, RopeLayout, Windows};
use dial_gguf::{Gguf, Value};

/// One transformer family, as GGUF names it in `general.architecture`.
pub(crate) trait Architecture: Sync {
    /// The `general.architecture` value.
    fn name(&self) -> &'static str;

    /// The family's choices for this file.
    fn blueprint(&self, metadata: &Metadata<'_>) -> Result<Blueprint, ModelError>;
}

/// Every architecture dial runs natively.
const NATIVE: &[&dyn Architecture] = &[
    &llama::Llama,
    &qwen2::Qwen2,
    &qwen3::Qwen3,
    &gemma2::Gemma2,
    &gemma3::Gemma3,
    &phi3::Phi3,
];

/// The architecture named `name`, if dial runs it.
pub(crate) fn find(name: &str) -> Option<&'static dyn Architecture> {
    NATIVE.iter().copied().find(|a| a.name() == name)
}

/// The names of the architectures dial runs natively.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    NATIVE.iter().map(|a| a.name())
}

/// A family's defaults for keys its files may leave out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Defaults {
    pub eps: f64,
    pub context: usize,
    pub rope_base: f64,
}

/// The decoder most families start from, read the way llama.cpp reads them: widths,
/// heads (`key_length`, else hidden / heads), layers, epsilon, context, RoPE base and
/// linear scale (the types in `scaling_elsewhere` applied apart); full attention, a SiLU
/// MLP, queries scaled by `head_dim^−½`, and nothing else. Each family changes what
/// differs.
pub(crate) fn decoder(
    md: &Metadata<'_>,
    defaults: Defaults,
    rope_layout: RopeLayout,
    scaling_elsewhere: &[&str],
) -> Result<Blueprint, ModelError> {
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
        eps: md.float_or("attention.layer_norm_rms_epsilon", defaults.eps)?,
        context: md.int_or("context_length", defaults.context)?,
        rope_layout,
        rope: RopeFrequencies {
            base: md.float_or("rope.freq_base", defaults.rope_base)?,
            scale: md.linear_rope_scale(scaling_elsewhere)?,
            attn_factor: md.rope_attn_factor()?,
        },
        rope_factors: "rope_freqs.weight",
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

/// A file's metadata under its architecture's prefix (`llama.block_count`, …).
#[derive(Debug)]
pub(crate) struct Metadata<'a> {
    content: &'a Gguf,
    prefix: &'static str,
}

impl<'a> Metadata<'a> {
    pub(crate) fn new(content: &'a Gguf, prefix: &'static str) -> Self {
        Metadata { content, prefix }
    }

    fn key(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }

    fn value(&self, key: &str) -> Option<&Value> {
        self.content.get(&self.key(key))
    }

    /// A required integer.
    pub(crate) fn int(&self, key: &str) -> Result<usize, ModelError> {
        let value = self
            .value(key)
            .ok_or_else(|| ModelError::MissingMetadata(self.key(key)))?;
        value.as_usize().ok_or_else(|| {
            ModelError::BadMetadata(self.key(key), format!("{value:?} is not a count"))
        })
    }

    /// An optional integer.
    pub(crate) fn int_or(&self, key: &str, default: usize) -> Result<usize, ModelError> {
        match self.value(key) {
            None => Ok(default),
            Some(_) => self.int(key),
        }
    }

    /// An optional number.
    pub(crate) fn float_or(&self, key: &str, default: f64) -> Result<f64, ModelError> {
        match self.value(key) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| {
                ModelError::BadMetadata(self.key(key), format!("{v:?} is not a number"))
            }),
        }
    }

    /// An optional string.
    pub(crate) fn text(&self, key: &str) -> Option<&str> {
        self.value(key).and_then(Value::as_str)
    }

    /// RoPE's linear position scale from `rope.scaling.type` and `.factor`: 1 for `none`
    /// (or no key) and for the types in `applied_elsewhere` (Llama 3's comes as the
    /// `rope_freqs` tensor); any other type (YaRN) is an error, not a guess. Phi-3's
    /// LongRoPE has no type: its factors are tensors.
    pub(crate) fn linear_rope_scale(&self, applied_elsewhere: &[&str]) -> Result<f64, ModelError> {
        match self.text("rope.scaling.type") {
            None | Some("none") => Ok(1.0),
            Some("linear") => Ok(self.float_or("rope.scaling.factor", 1.0)?.max(1.0)),
            Some(t) if applied_elsewhere.contains(&t) => Ok(1.0),
            Some(other) => Err(ModelError::BadMetadata(
                self.key("rope.scaling.type"),
                format!(
                    "{other:?}; dial knows none, linear{}",
                    applied_elsewhere
                        .iter()
                        .map(|t| format!(", {t}"))
                        .collect::<String>()
                ),
            )),
        }
    }

    /// `rope.scaling.attn_factor` (1 where absent), which llama.cpp applies to every
    /// family's rotation.
    pub(crate) fn rope_attn_factor(&self) -> Result<f64, ModelError> {
        let factor = self.float_or("rope.scaling.attn_factor", 1.0)?;
        if factor.is_finite() && factor > 0.0 {
            Ok(factor)
        } else {
            Err(ModelError::BadMetadata(
                self.key("rope.scaling.attn_factor"),
                format!("{factor} is not a positive number"),
            ))
        }
    }

    /// The head width every value of which RoPE rotates: partial rotation is refused.
    pub(crate) fn whole_head_rotation(&self, head_dim: usize) -> Result<(), ModelError> {
        let rotated = self.int_or("rope.dimension_count", head_dim)?;
        if rotated == head_dim {
            Ok(())
        } else {
            Err(ModelError::BadMetadata(
                self.key("rope.dimension_count"),
                format!("{rotated} of {head_dim} values rotated; dial rotates whole heads"),
            ))
        }
    }
}
