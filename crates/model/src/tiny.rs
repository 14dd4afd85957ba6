//! A tiny random Gemma 3 written as a real GGUF file: for tests of the layers above the
//! model (the server, the CLI) that need real weights but not a real language.

use crate::error::ModelError;
use dial_gguf::{TensorData, Value};
use dial_sampling::DialRng;
use std::path::Path;

const HIDDEN: usize = 32;
const HEADS: usize = 2;
const KV_HEADS: usize = 1;
const HEAD_DIM: usize = 16;
const FFN: usize = 64;
const LAYERS: usize = 2;
const WINDOW: usize = 16;

/// What to write.
#[derive(Debug, Clone)]
pub struct TinyGemma3 {
    /// The context length in the metadata.
    pub context: usize,
    /// A `tokenizer.chat_template` to store, if any.
    pub chat_template: Option<String>,
    /// Seed of the random weights.
    pub seed: u64,
}

impl Default for TinyGemma3 {
    fn default() -> Self {
        TinyGemma3 {
            context: 2048,
            chat_template: None,
            seed: 7,
        }
    }
}

/// Specials, the 256 byte tokens, every printable ASCII character, and a few words.
fn vocabulary() -> (Vec<String>, Vec<f32>, Vec<i32>) {
    const CONTROL: i32 = 3;
    const BYTE: i32 = 6;
    const NORMAL: i32 = 1;
    let mut tokens: Vec<(String, f32, i32)> = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<start_of_turn>",
        "<end_of_turn>",
    ]
    .iter()
    .map(|s| (s.to_string(), 0.0, CONTROL))
    .collect();
    for b in 0..=255u8 {
        tokens.push((format!("<0x{b:02X}>"), 0.0, BYTE));
    }
    let mut pieces: Vec<String> = vec!["▁".into()];
    pieces.extend((b'!'..=b'~').map(|b| (b as char).to_string()));
    for word in [
        "the", "cat", "sat", "on", "mat", "hello", "world", "user", "model",
    ] {
        pieces.push(word.into());
        pieces.push(format!("▁{word}"));
    }
    for (rank, p) in pieces.into_iter().enumerate() {
        tokens.push((p, -(rank as f32), NORMAL));
    }
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for (t, s, ty) in tokens {
        out.0.push(t);
        out.1.push(s);
        out.2.push(ty);
    }
    out
}

fn random(rng: &mut DialRng, n: usize, scale: f32, offset: f32) -> Vec<f32> {
    (0..n)
        .map(|_| offset + (rng.uniform() as f32 * 2.0 - 1.0) * scale)
        .collect()
}

impl TinyGemma3 {
    /// Writes the model to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ModelError> {
        let (tokens, scores, types) = vocabulary();
        let vocab = tokens.len();
        let mut rng = DialRng::new(self.seed);
        let mut tensors: Vec<TensorData> = Vec::new();
        // `shape` row major, as `[rows, row length]`; GGUF lists it the other way round.
        let mut add = |name: String, data: Vec<f32>, shape: &[usize]| -> Result<(), ModelError> {
            let dims: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
            tensors.push(TensorData::f32(name, &dims, &data).map_err(ModelError::WriteGguf)?);
            Ok(())
        };
        add(
            "token_embd.weight".into(),
            random(&mut rng, vocab * HIDDEN, 0.5, 0.0),
            &[vocab, HIDDEN],
        )?;
        add(
            "output_norm.weight".into(),
            random(&mut rng, HIDDEN, 0.3, 1.0),
            &[HIDDEN],
        )?;
        for i in 0..LAYERS {
            let name = |s: &str| format!("blk.{i}.{s}.weight");
            for (norm, n) in [
                ("attn_norm", HIDDEN),
                ("attn_q_norm", HEAD_DIM),
                ("attn_k_norm", HEAD_DIM),
                ("post_attention_norm", HIDDEN),
                ("ffn_norm", HIDDEN),
                ("post_ffw_norm", HIDDEN),
            ] {
                add(name(norm), random(&mut rng, n, 0.3, 1.0), &[n])?;
            }
            for (matrix, rows, cols) in [
                ("attn_q", HEADS * HEAD_DIM, HIDDEN),
                ("attn_k", KV_HEADS * HEAD_DIM, HIDDEN),
                ("attn_v", KV_HEADS * HEAD_DIM, HIDDEN),
                ("attn_output", HIDDEN, HEADS * HEAD_DIM),
                ("ffn_gate", FFN, HIDDEN),
                ("ffn_up", FFN, HIDDEN),
                ("ffn_down", HIDDEN, FFN),
            ] {
                add(
                    name(matrix),
                    random(&mut rng, rows * cols, 0.3, 0.0),
                    &[rows, cols],
                )?;
            }
        }
        let u32_of = |n: usize| Value::U32(n as u32);
        let mut metadata: Vec<(&str, Value)> = vec![
            ("general.architecture", Value::String("gemma3".into())),
            ("gemma3.embedding_length", u32_of(HIDDEN)),
            ("gemma3.attention.head_count", u32_of(HEADS)),
            ("gemma3.attention.head_count_kv", u32_of(KV_HEADS)),
            ("gemma3.attention.key_length", u32_of(HEAD_DIM)),
            ("gemma3.attention.value_length", u32_of(HEAD_DIM)),
            ("gemma3.block_count", u32_of(LAYERS)),
            ("gemma3.feed_forward_length", u32_of(FFN)),
            ("gemma3.attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
            ("gemma3.attention.sliding_window", u32_of(WINDOW)),
            ("gemma3.context_length", u32_of(self.context)),
            ("gemma3.rope.freq_base", Value::F32(1e6)),
            ("tokenizer.ggml.model", Value::String("llama".into())),
            (
                "tokenizer.ggml.tokens",
                Value::Array(tokens.into_iter().map(Value::String).collect()),
            ),
            (
                "tokenizer.ggml.scores",
                Value::Array(scores.into_iter().map(Value::F32).collect()),
            ),
            (
                "tokenizer.ggml.token_type",
                Value::Array(types.into_iter().map(Value::I32).collect()),
            ),
            ("tokenizer.ggml.bos_token_id", Value::U32(2)),
            ("tokenizer.ggml.eos_token_id", Value::U32(1)),
            ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
            ("tokenizer.ggml.add_space_prefix", Value::Bool(false)),
        ];
        if let Some(template) = &self.chat_template {
            metadata.push(("tokenizer.chat_template", Value::String(template.clone())));
        }
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::create(path).map_err(io)?;
        dial_gguf::write(&mut std::io::BufWriter::new(&mut file), &metadata, &tensors)
            .map_err(ModelError::WriteGguf)
    }
}
