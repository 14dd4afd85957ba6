//! The real loading code on a tiny Gemma 3 that the test writes as a GGUF file: random
//! weights, a small vocabulary with merges, specials and byte fallback. The forward pass
//! is checked against a plain-Rust reference of the same math, in prefill and token by
//! token, past the sliding window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_gguf::{GgmlType, TensorData, Value};
use dial_model::{GenerateOptions, Model, ModelError};
use dial_sampling::{DialRng, Knobs, Temperature, TopK};
use std::path::PathBuf;

const HIDDEN: usize = 32;
const HEADS: usize = 2;
const KV_HEADS: usize = 1;
const HEAD_DIM: usize = 16;
const FFN: usize = 64;
const LAYERS: usize = 6;
const WINDOW: usize = 4;
const CONTEXT: usize = 64;
const EPS: f32 = 1e-6;

/// The vocabulary: specials, user-defined whitespace, 256 byte tokens, then pieces with
/// scores `−rank`.
fn vocab() -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut tokens: Vec<(String, f32, i32)> = vec![
        ("<pad>".into(), 0.0, 3),
        ("<eos>".into(), 0.0, 3),
        ("<bos>".into(), 0.0, 3),
        ("<unk>".into(), 0.0, 3),
        ("<start_of_turn>".into(), 0.0, 3),
        ("<end_of_turn>".into(), 0.0, 3),
        ("\n".into(), 0.0, 4),
        ("\n\n".into(), 0.0, 4),
        ("  ".into(), 0.0, 4),
    ];
    for b in 0..=255u8 {
        tokens.push((format!("<0x{b:02X}>"), 0.0, 6));
    }
    let pieces = [
        "▁", "a", "b", "c", "h", "i", "ab", "▁a", "▁ab", "abc", "hi", "▁hi", "▁c",
    ];
    for (rank, p) in pieces.iter().enumerate() {
        // Merges rank by score: "ab" (rank 6) beats "▁a" (rank 7).
        tokens.push(((*p).into(), -(rank as f32), 1));
    }
    let (mut t, mut s, mut ty) = (vec![], vec![], vec![]);
    for (a, b, c) in tokens {
        t.push(a);
        s.push(b);
        ty.push(c);
    }
    (t, s, ty)
}

fn id(tokens: &[String], text: &str) -> u32 {
    tokens.iter().position(|t| t == text).unwrap() as u32
}

struct Weights {
    embed: Vec<f32>,
    norm: Vec<f32>,
    layers: Vec<LayerW>,
}

struct LayerW {
    attn_norm: Vec<f32>,
    q_norm: Vec<f32>,
    k_norm: Vec<f32>,
    post_attn_norm: Vec<f32>,
    ffn_norm: Vec<f32>,
    post_ffn_norm: Vec<f32>,
    wq: Vec<f32>,
    wk: Vec<f32>,
    wv: Vec<f32>,
    wo: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    down: Vec<f32>,
}

fn random(rng: &mut DialRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.uniform() as f32 * 2.0 - 1.0) * scale)
        .collect()
}

fn weights(vocab: usize, seed: u64) -> Weights {
    let mut r = DialRng::new(seed);
    let norm = |r: &mut DialRng, n| random(r, n, 0.3).into_iter().map(|x| 1.0 + x).collect();
    Weights {
        embed: random(&mut r, vocab * HIDDEN, 0.5),
        norm: norm(&mut r, HIDDEN),
        layers: (0..LAYERS)
            .map(|_| LayerW {
                attn_norm: norm(&mut r, HIDDEN),
                q_norm: norm(&mut r, HEAD_DIM),
                k_norm: norm(&mut r, HEAD_DIM),
                post_attn_norm: norm(&mut r, HIDDEN),
                ffn_norm: norm(&mut r, HIDDEN),
                post_ffn_norm: norm(&mut r, HIDDEN),
                wq: random(&mut r, HEADS * HEAD_DIM * HIDDEN, 0.3),
                wk: random(&mut r, KV_HEADS * HEAD_DIM * HIDDEN, 0.3),
                wv: random(&mut r, KV_HEADS * HEAD_DIM * HIDDEN, 0.3),
                wo: random(&mut r, HIDDEN * HEADS * HEAD_DIM, 0.3),
                gate: random(&mut r, FFN * HIDDEN, 0.3),
                up: random(&mut r, FFN * HIDDEN, 0.3),
                down: random(&mut r, HIDDEN * FFN, 0.3),
            })
            .collect(),
    }
}

/// Writes the tiny model; `dtype` is the type of the matrices (norms stay f32).
fn write_model(name: &str, arch: &str, dtype: GgmlType) -> (PathBuf, Weights, Vec<String>) {
    let (tokens, scores, types) = vocab();
    let w = weights(tokens.len(), 7);
    let q = |name: String, data: &[f32], shape: (usize, usize)| matrix(name, data, shape, dtype);
    let mut tensors = vec![
        q("token_embd.weight".into(), &w.embed, (tokens.len(), HIDDEN)),
        vector("output_norm.weight".into(), &w.norm),
    ];
    for (i, l) in w.layers.iter().enumerate() {
        let p = |s: &str| format!("blk.{i}.{s}.weight");
        tensors.push(vector(p("attn_norm"), &l.attn_norm));
        tensors.push(vector(p("attn_q_norm"), &l.q_norm));
        tensors.push(vector(p("attn_k_norm"), &l.k_norm));
        tensors.push(vector(p("post_attention_norm"), &l.post_attn_norm));
        tensors.push(vector(p("ffn_norm"), &l.ffn_norm));
        tensors.push(vector(p("post_ffw_norm"), &l.post_ffn_norm));
        tensors.push(q(p("attn_q"), &l.wq, (HEADS * HEAD_DIM, HIDDEN)));
        tensors.push(q(p("attn_k"), &l.wk, (KV_HEADS * HEAD_DIM, HIDDEN)));
        tensors.push(q(p("attn_v"), &l.wv, (KV_HEADS * HEAD_DIM, HIDDEN)));
        tensors.push(q(p("attn_output"), &l.wo, (HIDDEN, HEADS * HEAD_DIM)));
        tensors.push(q(p("ffn_gate"), &l.gate, (FFN, HIDDEN)));
        tensors.push(q(p("ffn_up"), &l.up, (FFN, HIDDEN)));
        tensors.push(q(p("ffn_down"), &l.down, (HIDDEN, FFN)));
    }
    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
    let md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("gemma3.embedding_length".into(), Value::U32(HIDDEN as u32)),
        (
            "gemma3.attention.head_count".into(),
            Value::U32(HEADS as u32),
        ),
        (
            "gemma3.attention.head_count_kv".into(),
            Value::U32(KV_HEADS as u32),
        ),
        (
            "gemma3.attention.key_length".into(),
            Value::U32(HEAD_DIM as u32),
        ),
        (
            "gemma3.attention.value_length".into(),
            Value::U32(HEAD_DIM as u32),
        ),
        ("gemma3.block_count".into(), Value::U32(LAYERS as u32)),
        ("gemma3.feed_forward_length".into(), Value::U32(FFN as u32)),
        (
            "gemma3.attention.layer_norm_rms_epsilon".into(),
            Value::F32(EPS),
        ),
        (
            "gemma3.attention.sliding_window".into(),
            Value::U32(WINDOW as u32),
        ),
        ("gemma3.context_length".into(), Value::U32(CONTEXT as u32)),
        ("gemma3.rope.freq_base".into(), Value::F32(1e6)),
        ("tokenizer.ggml.model".into(), Value::String("llama".into())),
        ("tokenizer.ggml.tokens".into(), strings(&tokens)),
        (
            "tokenizer.ggml.scores".into(),
            Value::Array(scores.iter().map(|&s| Value::F32(s)).collect()),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(types.iter().map(|&t| Value::I32(t)).collect()),
        ),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(true)),
        ("tokenizer.ggml.add_space_prefix".into(), Value::Bool(false)),
    ];
    let path = write_gguf(name, &md, &tensors);
    (path, w, tokens)
}

/// A `rows × cols` matrix of `ty` (F32, or Q8_0 by ggml's `quantize_row_q8_0_ref`).
fn matrix(name: String, data: &[f32], (rows, cols): (usize, usize), ty: GgmlType) -> TensorData {
    assert_eq!(data.len(), rows * cols);
    let dims = [cols as u64, rows as u64];
    if ty == GgmlType::F32 {
        return TensorData::f32(name, &dims, data).unwrap();
    }
    assert_eq!(ty, GgmlType::Q8_0, "the tests write F32 and Q8_0");
    let bytes = data
        .chunks_exact(32)
        .flat_map(|block| {
            let amax = block.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / 127.0;
            let inverse = if d == 0.0 { 0.0 } else { 1.0 / d };
            let mut out = half::f16::from_f32(d).to_le_bytes().to_vec();
            out.extend(block.iter().map(|v| (v * inverse).round() as i8 as u8));
            out
        })
        .collect();
    TensorData::new(name, &dims, ty, bytes).unwrap()
}

/// An F32 vector.
fn vector(name: String, data: &[f32]) -> TensorData {
    TensorData::f32(name, &[data.len() as u64], data).unwrap()
}

/// Writes a GGUF file into this test run's temporary directory.
fn write_gguf(name: &str, md: &[(String, Value)], tensors: &[TensorData]) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-tiny-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let md_refs: Vec<(&str, Value)> = md.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    dial_gguf::write(&mut f, &md_refs, tensors).unwrap();
    path
}

// ---- the reference: the same math in plain Rust ----

fn matvec(w: &[f32], x: &[f32], out_dim: usize) -> Vec<f32> {
    let n = x.len();
    (0..out_dim)
        .map(|o| (0..n).map(|i| w[o * n + i] * x[i]).sum())
        .collect()
}

fn rms_norm(x: &[f32], w: &[f32]) -> Vec<f32> {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let r = 1.0 / (ms + EPS).sqrt();
    x.iter().zip(w).map(|(v, g)| v * r * g).collect()
}

fn rope(x: &mut [f32], pos: usize, base: f64) {
    let half = x.len() / 2;
    for i in 0..half {
        let theta = pos as f64 / base.powf(2.0 * i as f64 / x.len() as f64);
        let (s, c) = (theta.sin() as f32, theta.cos() as f32);
        let (a, b) = (x[i], x[i + half]);
        x[i] = a * c - b * s;
        x[i + half] = b * c + a * s;
    }
}

fn gelu_tanh(x: f32) -> f32 {
    0.5 * x * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

/// Logits after each of `tokens`.
fn reference(w: &Weights, vocab: usize, tokens: &[u32]) -> Vec<Vec<f32>> {
    let mut keys: Vec<Vec<Vec<f32>>> = vec![Vec::new(); LAYERS];
    let mut values: Vec<Vec<Vec<f32>>> = vec![Vec::new(); LAYERS];
    let mut out = Vec::new();
    for (pos, &t) in tokens.iter().enumerate() {
        let mut x: Vec<f32> = w.embed[t as usize * HIDDEN..(t as usize + 1) * HIDDEN]
            .iter()
            .map(|v| v * (HIDDEN as f32).sqrt())
            .collect();
        for (li, l) in w.layers.iter().enumerate() {
            let global = (li + 1) % 6 == 0;
            let base = if global { 1e6 } else { 1e4 };
            let h = rms_norm(&x, &l.attn_norm);
            let q = matvec(&l.wq, &h, HEADS * HEAD_DIM);
            let mut k = rms_norm(&matvec(&l.wk, &h, HEAD_DIM), &l.k_norm);
            let v = matvec(&l.wv, &h, HEAD_DIM);
            rope(&mut k, pos, base);
            keys[li].push(k);
            values[li].push(v);
            let mut attn = vec![0f32; HEADS * HEAD_DIM];
            for head in 0..HEADS {
                let mut qh = rms_norm(&q[head * HEAD_DIM..(head + 1) * HEAD_DIM], &l.q_norm);
                rope(&mut qh, pos, base);
                let visible: Vec<usize> =
                    (0..=pos).filter(|&j| global || pos - j < WINDOW).collect();
                let scores: Vec<f32> = visible
                    .iter()
                    .map(|&j| {
                        qh.iter().zip(&keys[li][j]).map(|(a, b)| a * b).sum::<f32>()
                            / (HEAD_DIM as f32).sqrt()
                    })
                    .collect();
                let m = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f32 = e.iter().sum();
                for (&j, ej) in visible.iter().zip(&e) {
                    for d in 0..HEAD_DIM {
                        attn[head * HEAD_DIM + d] += ej / z * values[li][j][d];
                    }
                }
            }
            let o = rms_norm(&matvec(&l.wo, &attn, HIDDEN), &l.post_attn_norm);
            x = x.iter().zip(&o).map(|(a, b)| a + b).collect();
            let h = rms_norm(&x, &l.ffn_norm);
            let g = matvec(&l.gate, &h, FFN);
            let u = matvec(&l.up, &h, FFN);
            let gu: Vec<f32> = g.iter().zip(&u).map(|(a, b)| gelu_tanh(*a) * b).collect();
            let d = rms_norm(&matvec(&l.down, &gu, HIDDEN), &l.post_ffn_norm);
            x = x.iter().zip(&d).map(|(a, b)| a + b).collect();
        }
        let xn = rms_norm(&x, &w.norm);
        out.push(matvec(&w.embed, &xn, vocab));
    }
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_tokenizer_comes_from_the_metadata() {
    let (path, _, tokens) = write_model("tok.gguf", "gemma3", GgmlType::F32);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let t = m.tokenizer();
    let ids = |s: &[&str]| -> Vec<u32> { s.iter().map(|x| id(&tokens, x)).collect() };
    // BOS, then "ab" merges first (higher score), then "▁" + "ab" → "▁ab".
    assert_eq!(t.encode(" ab", true), ids(&["<bos>", "▁ab"]));
    assert_eq!(t.encode("abc", false), ids(&["abc"]));
    // Specials and user-defined tokens are matched on raw text, longest first.
    assert_eq!(
        t.encode("<start_of_turn>hi\n\n\n  c", false),
        ids(&["<start_of_turn>", "hi", "\n\n", "\n", "  ", "c"])
    );
    // No vocabulary entry: byte fallback, UTF-8 bytes one by one.
    assert_eq!(t.encode("é", false), ids(&["<0xC3>", "<0xA9>"]));
    assert_eq!(t.decode(&t.encode("é hi", true)), "é hi");
    assert!(t.encode("", true) == ids(&["<bos>"]));
    assert_eq!(t.stop_tokens(), &ids(&["<eos>", "<end_of_turn>"])[..]);
}

#[test]
fn the_forward_pass_matches_the_reference_in_prefill_and_decode() {
    let (path, w, tokens) = write_model("fwd.gguf", "gemma3", GgmlType::F32);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let mut s = m.session().unwrap();
    let seq: Vec<u32> = [2u32, 270, 271, 272, 273, 274, 275, 276, 277, 278, 279, 280]
        .iter()
        .map(|&t| t.min(tokens.len() as u32 - 1))
        .collect();
    let want = reference(&w, tokens.len(), &seq);
    // Prefill: all positions at once, longer than the window of 4.
    let hidden = s.hidden_states(&seq).unwrap();
    let got = s.logits(&hidden).unwrap();
    for (i, (g, r)) in got.iter().zip(&want).enumerate() {
        assert!(
            max_diff(g, r) < 2e-3,
            "prefill position {i}: {}",
            max_diff(g, r)
        );
    }
    // Token by token through the cache (local layers trimmed to the window).
    s.reset().unwrap();
    for (i, &t) in seq.iter().enumerate() {
        let g = s.next_logits(&[t]).unwrap();
        assert!(
            max_diff(&g, &want[i]) < 2e-3,
            "decode position {i}: {}",
            max_diff(&g, &want[i])
        );
    }
    // Prefill in two chunks, the second starting mid-window.
    s.reset().unwrap();
    s.hidden_states(&seq[..5]).unwrap();
    let h = s.hidden_states(&seq[5..]).unwrap();
    let got = s.logits(&h).unwrap();
    for (i, g) in got.iter().enumerate() {
        assert!(
            max_diff(g, &want[5 + i]) < 2e-3,
            "chunked prefill position {}",
            5 + i
        );
    }
}

#[test]
fn prompt_logprobs_score_each_token_as_the_reference_does_in_any_chunking() {
    use dial_model::step_batch;
    let (path, w, tokens) = write_model("scored.gguf", "gemma3", GgmlType::F32);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let prompt: Vec<u32> = [2u32, 270, 271, 272, 273, 274, 275, 276, 277, 278, 279, 280]
        .iter()
        .map(|&t| t.min(tokens.len() as u32 - 1))
        .collect();
    let want = reference(&w, tokens.len(), &prompt);
    let options = || GenerateOptions {
        max_tokens: 0,
        prompt_logprobs: Some(3),
        ..GenerateOptions::default()
    };
    let mut alone = m.generate_from(&prompt, options()).unwrap();
    assert!(alone.next().is_none(), "max_tokens 0 generates nothing");
    let scores = alone.prompt_logprobs().to_vec();
    assert_eq!(scores.len(), prompt.len() - 1);
    for (i, s) in scores.iter().enumerate() {
        let row = &want[i];
        let z: f64 = row.iter().map(|&x| f64::from(x).exp()).sum();
        let target = prompt[i + 1];
        assert_eq!(s.token, target);
        assert!((s.logprob - (f64::from(row[target as usize]) - z.ln())).abs() < 1e-3);
        let above = row
            .iter()
            .filter(|&&x| x > row[target as usize] + 1e-3)
            .count();
        assert!(
            s.rank > above,
            "position {i}: rank {} with {above} above",
            s.rank
        );
        assert_eq!(s.top.len(), 3);
        let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert!((s.top[0].1 - (f64::from(best) - z.ln())).abs() < 1e-3);
    }
    // Three tokens per pass, beside another sequence: the same scores, bit for bit.
    let mut chunked = m.generate_from(&prompt, options()).unwrap();
    let mut other = m.generate("ab c", GenerateOptions::default()).unwrap();
    while !chunked.has_seen_prompt() {
        let step = step_batch(&m, &mut [&mut chunked, &mut other], 4);
        assert!(step.outcomes.iter().all(|o| o.error.is_none()));
    }
    assert_eq!(chunked.prompt_logprobs(), scores.as_slice());
    assert!(
        other.prompt_logprobs().is_empty(),
        "only asked-for prompts are scored"
    );
}

#[test]
fn quantized_weights_load_and_stay_close() {
    let (path, w, tokens) = write_model("q8.gguf", "gemma3", GgmlType::Q8_0);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let mut s = m.session().unwrap();
    let seq = [2u32, 270, 271, 272, 273, 274];
    let want = reference(&w, tokens.len(), &seq);
    let got = s.next_logits(&seq).unwrap();
    let scale = want[5].iter().map(|v| v.abs()).fold(0.0, f32::max);
    assert!(got.iter().all(|v| v.is_finite()));
    assert!(
        max_diff(&got, &want[5]) < 0.05 * scale,
        "Q8_0 drift {}",
        max_diff(&got, &want[5])
    );
}

#[test]
fn generation_is_reproducible_and_greedy_matches_top_k_1() {
    let (path, _, _) = write_model("gen.gguf", "gemma3", GgmlType::F32);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let run = |m: &Model, knobs: Knobs, seed: u64| -> Vec<u32> {
        let opts = GenerateOptions {
            knobs,
            seed,
            max_tokens: 20,
            ..GenerateOptions::default()
        };
        m.generate("ab c", opts)
            .unwrap()
            .map(|s| s.unwrap().token)
            .collect()
    };
    let greedy = Knobs {
        temperature: Some(Temperature::new(0.0).unwrap()),
        ..Knobs::default()
    };
    let top1 = Knobs {
        top_k: Some(TopK::new(1)),
        ..Knobs::default()
    };
    let a = run(&m, greedy, 1);
    assert!(!a.is_empty());
    assert_eq!(a, run(&m, top1, 99));
    let hot = Knobs {
        temperature: Some(Temperature::new(1.5).unwrap()),
        ..Knobs::default()
    };
    let x = run(&m, hot.clone(), 5);
    assert_eq!(x, run(&m, hot.clone(), 5), "a seed reproduces its tokens");
    assert_ne!(x, run(&m, hot, 6));
}

#[test]
fn min_tokens_ignore_eos_and_stop_token_ids_decide_where_generation_ends() {
    use dial_model::FinishReason;
    use dial_sampling::{KnobKind, SamplingParams, Value as Field};
    let (path, _, tokens) = write_model("ends.gguf", "gemma3", GgmlType::F32);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let eos = id(&tokens, "<eos>");
    let other = id(&tokens, "a");
    // Returns the tokens, the finish reason and the tokens that yielded.
    let run = |fields: &[(&str, Field)]| {
        let mut params = SamplingParams::default();
        for (name, value) in fields {
            params.set(name, value.clone()).unwrap();
        }
        let opts = GenerateOptions {
            knobs: m.knobs(&params).unwrap(),
            seed: 3,
            max_tokens: 12,
            ..GenerateOptions::default()
        };
        let mut g = m.generate("ab c", opts).unwrap();
        let steps: Vec<_> = g.by_ref().map(|s| s.unwrap()).collect();
        let ids: Vec<u32> = steps.iter().map(|s| s.token).collect();
        let yielded: Vec<Vec<KnobKind>> = steps.iter().map(|s| s.yielded.clone()).collect();
        (ids, g.finish_reason().unwrap(), yielded)
    };
    let push_eos = ("logit_bias", Field::TokenBiases(vec![(eos, 60.0)]));
    let (ids, finish, _) = run(std::slice::from_ref(&push_eos));
    assert_eq!((ids, finish), (vec![eos], FinishReason::Stop));
    // min_tokens: no end before the fifth token, then the pushed end comes at once.
    let (ids, finish, _) = run(&[push_eos.clone(), ("min_tokens", Field::Integer(5))]);
    assert_eq!(ids.len(), 6, "{ids:?}");
    assert!(!ids[..5].contains(&eos) && ids[5] == eos && finish == FinishReason::Stop);
    // ignore_eos: never an end; max_tokens decides.
    let (ids, finish, _) = run(&[push_eos.clone(), ("ignore_eos", Field::Bool(true))]);
    assert_eq!((ids.len(), finish), (12, FinishReason::Length));
    assert!(!ids.contains(&eos));
    // stop_token_ids end the choice like an end, and min_tokens holds them back too.
    let push_other = ("logit_bias", Field::TokenBiases(vec![(other, 60.0)]));
    let stop_other = ("stop_token_ids", Field::TokenIds(vec![other]));
    let (ids, finish, _) = run(&[push_other.clone(), stop_other.clone()]);
    assert_eq!((ids, finish), (vec![other], FinishReason::Stop));
    let (ids, _, _) = run(&[push_other, stop_other, ("min_tokens", Field::Integer(3))]);
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(ids[3], other);
    // A knob built by hand without the model's ends still lets them end the generation.
    let knobs = dial_sampling::Knobs {
        logit_bias: Some(dial_sampling::LogitBias::new([(eos, 60.0)]).unwrap()),
        end_of_generation: Some(dial_sampling::EndOfGeneration::new(
            0,
            false,
            vec![other],
            vec![],
        )),
        ..dial_sampling::Knobs::default()
    };
    let opts = GenerateOptions {
        knobs,
        max_tokens: 12,
        ..GenerateOptions::default()
    };
    let ids: Vec<u32> = m
        .generate("ab c", opts)
        .unwrap()
        .map(|s| s.unwrap().token)
        .collect();
    assert_eq!(ids, vec![eos]);
    // Where a mask allows only an end, min_tokens yields, and the step says so.
    let only_eos = ("allowed_tokens", Field::TokenIds(vec![eos]));
    let (ids, finish, yielded) = run(&[only_eos, ("min_tokens", Field::Integer(5))]);
    assert_eq!((ids, finish), (vec![eos], FinishReason::Stop));
    assert_eq!(yielded, vec![vec![KnobKind::EndOfGeneration]]);
}

/// Steps `generations` together (the engine's step, `step_tokens` rows) until all end;
/// each one's steps.
fn run_together(
    m: &Model,
    generations: &mut [dial_model::Generation],
    step_tokens: usize,
) -> Vec<Vec<dial_model::Step>> {
    let mut out: Vec<Vec<dial_model::Step>> = vec![Vec::new(); generations.len()];
    while generations.iter().any(|g| g.finish_reason().is_none()) {
        let mut live: Vec<_> = generations
            .iter_mut()
            .zip(out.iter_mut())
            .filter(|(g, _)| g.finish_reason().is_none())
            .collect();
        let mut gs: Vec<&mut dial_model::Generation> =
            live.iter_mut().map(|(g, _)| &mut **g).collect();
        let step = dial_model::step_batch(m, &mut gs, step_tokens);
        drop(gs);
        for ((_, steps), outcome) in live.iter_mut().zip(step.outcomes) {
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
            steps.extend(outcome.steps);
        }
    }
    out
}

#[test]
fn banned_strings_rewind_past_every_spelling_and_stay_reproducible() {
    use dial_model::FinishReason;
    use dial_sampling::{KnobKind, SamplingParams, Value as Field};
    let (path, _, tokens) = write_model("banned.gguf", "gemma3", GgmlType::F32);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let eos = id(&tokens, "<eos>");
    let options = |fields: &[(&str, Field)], seed: u64| {
        let mut params = SamplingParams::default();
        params.set("temperature", Field::Number(1.0)).unwrap();
        // No end, and the pieces with "a" in them made likely.
        let mut bias = vec![(eos, -100.0)];
        bias.extend(["a", "ab", "▁a", "▁ab", "abc", "hi"].map(|t| (id(&tokens, t), 4.0)));
        params.set("logit_bias", Field::TokenBiases(bias)).unwrap();
        for (name, value) in fields {
            params.set(name, value.clone()).unwrap();
        }
        GenerateOptions {
            knobs: m.knobs(&params).unwrap(),
            seed,
            max_tokens: 40,
            logprobs: true,
            ..GenerateOptions::default()
        }
    };
    let text = |fields: &[(&str, Field)], seed: u64| {
        let mut g = m.generate("ab c", options(fields, seed)).unwrap();
        let steps: Vec<_> = g.by_ref().map(|s| s.unwrap()).collect();
        let text: String = steps.iter().map(|s| s.text.as_str()).collect();
        (text, steps, g.rewinds(), g.finish_reason())
    };
    // "a" is a token, a piece of "ab", "▁a", "abc", and a byte token: every spelling goes.
    let free: String = (0..6).map(|seed| text(&[], seed).0).collect();
    assert!(free.matches('a').count() >= 30, "{free:?}");
    let bans = [(
        "banned_strings",
        Field::Strings(vec!["a".into(), "hi".into()]),
    )];
    let mut rewinds = 0;
    for seed in 0..6 {
        let (t, steps, r, finish) = text(&bans, seed);
        assert!(!t.contains('a') && !t.contains("hi"), "seed {seed}: {t:?}");
        assert_eq!((steps.len(), finish), (40, Some(FinishReason::Length)));
        assert_eq!(text(&bans, seed).1, steps, "seed {seed} reproduces");
        rewinds += r;
    }
    assert!(rewinds >= 10, "{rewinds} rewinds");
    // Ignoring case, "A" bans "a" too; matching case, it bans nothing here.
    let upper = |insensitive: bool| {
        [
            ("banned_strings", Field::Strings(vec!["A".into()])),
            ("banned_strings_case_insensitive", Field::Bool(insensitive)),
        ]
    };
    assert!(!text(&upper(true), 1).0.contains('a'));
    assert_eq!(text(&upper(false), 1).0, text(&[], 1).0);
    // Alone and batched with others, the same bits and the same rewinds.
    let alone: Vec<_> = (0..4).map(|seed| text(&bans, seed)).collect();
    let mut generations: Vec<_> = (0..4)
        .map(|seed| m.generate("ab c", options(&bans, seed)).unwrap())
        .collect();
    let batched = run_together(&m, &mut generations, 64);
    for (k, (a, (g, b))) in alone
        .iter()
        .zip(generations.iter().zip(&batched))
        .enumerate()
    {
        assert_eq!((&a.1, a.2), (b, g.rewinds()), "seed {k}");
    }
    // Where only a banned token may follow, the ban yields and says so.
    let only_a = [
        ("banned_strings", Field::Strings(vec!["a".into()])),
        ("allowed_tokens", Field::TokenIds(vec![id(&tokens, "a")])),
    ];
    let (t, steps, _, _) = text(&only_a, 0);
    assert!(t.starts_with('a'));
    assert!(steps[0].yielded.contains(&KnobKind::BannedStrings));
    // Phrases that ban everything there is to say fail with a typed error, not a hang:
    // each of the 40 positions bans all 52 letters before its ban yields.
    let letters: Vec<u8> = (b'a'..=b'z').chain(b'A'..=b'Z').collect();
    let everything = [
        (
            "banned_strings",
            Field::Strings(letters.iter().map(|&b| (b as char).to_string()).collect()),
        ),
        (
            "allowed_tokens",
            Field::TokenIds(
                letters
                    .iter()
                    .map(|b| id(&tokens, &format!("<0x{b:02X}>")))
                    .collect(),
            ),
        ),
    ];
    let mut g = m.generate("ab c", options(&everything, 0)).unwrap();
    let failure = g.find_map(Result::err).unwrap();
    assert!(
        matches!(failure, ModelError::TooManyRewinds(_)),
        "{failure}"
    );
    assert!(failure.is_caller_fault());
    // A session goes back, never forward, and a rerun after going back has the same bits.
    let mut s = m.session().unwrap();
    let first = s.next_logits(&[2, 270, 271, 272]).unwrap();
    assert!(s.truncate(5).is_err());
    s.truncate(3).unwrap();
    assert_eq!(s.position(), 3);
    assert_eq!(s.next_logits(&[272]).unwrap(), first);
}

#[test]
fn guidance_runs_a_second_sequence_scale_one_is_plain_and_zero_is_the_negative_prompt() {
    use dial_sampling::{SamplingParams, Value as Field};
    let (path, _, _) = write_model("guided.gguf", "gemma3", GgmlType::F32);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let options = |fields: &[(&str, Field)], seed: u64| {
        let mut params = SamplingParams::default();
        for (name, value) in fields {
            params.set(name, value.clone()).unwrap();
        }
        GenerateOptions {
            knobs: m.knobs(&params).unwrap(),
            seed,
            max_tokens: 20,
            logprobs: true,
            ..GenerateOptions::default()
        }
    };
    let run = |prompt: &str, fields: &[(&str, Field)], seed: u64| -> Vec<dial_model::Step> {
        m.generate(prompt, options(fields, seed))
            .unwrap()
            .map(|s| s.unwrap())
            .collect()
    };
    let negative = ("negative_prompt", Field::Text("hi hi c".into()));
    for seed in 0..4 {
        // Scale 1 is no guidance, bit for bit.
        let plain = run("ab c", &[], seed);
        let one = run(
            "ab c",
            &[("guidance_scale", Field::Number(1.0)), negative.clone()],
            seed,
        );
        assert_eq!(one, plain, "seed {seed}");
        // Scale 0 draws from the negative prompt alone.
        let zero = run(
            "ab c",
            &[("guidance_scale", Field::Number(0.0)), negative.clone()],
            seed,
        );
        let alone = run("hi hi c", &[], seed);
        let tokens = |s: &[dial_model::Step]| s.iter().map(|s| s.token).collect::<Vec<_>>();
        assert_eq!(tokens(&zero), tokens(&alone), "seed {seed}");
        for (z, a) in zero.iter().zip(&alone) {
            assert!(
                (z.logprob - a.logprob).abs() < 1e-4,
                "{} against {}",
                z.logprob,
                a.logprob
            );
        }
        assert_ne!(tokens(&zero), tokens(&plain), "seed {seed}");
    }
    // Guided (HF's default negative: the last prompt token), alone and batched: same bits.
    let guided = [("guidance_scale", Field::Number(1.5))];
    let alone: Vec<_> = (0..3).map(|seed| run("ab c", &guided, seed)).collect();
    let mut generations: Vec<_> = (0..3)
        .map(|seed| m.generate("ab c", options(&guided, seed)).unwrap())
        .collect();
    let batched = run_together(&m, &mut generations, 5);
    assert_eq!(alone, batched);
    assert_ne!(alone[0], run("ab c", &[], 0), "guidance changed the draws");
    // Its own sequence is counted in the KV cache it needs.
    let o = options(&guided, 0);
    let prompt = m.tokenizer().encode("ab c", true);
    assert!(
        dial_model::Generation::kv_bytes_needed(&m, &prompt, &o)
            > dial_model::Generation::kv_bytes_needed(&m, &prompt, &options(&[], 0))
    );
}

#[test]
fn bad_requests_are_typed_errors() {
    let (path, _, tokens) = write_model("bad.gguf", "gemma3", GgmlType::F32);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let mut s = m.session().unwrap();
    assert!(matches!(s.next_logits(&[]), Err(ModelError::EmptyPrompt)));
    let vocab = tokens.len() as u32;
    assert!(matches!(
        s.next_logits(&[2, vocab]),
        Err(ModelError::TokenOutOfRange { token, .. }) if token == vocab
    ));
    assert!(matches!(
        m.perplexity("ab", 8, |_, _| {}),
        Err(ModelError::TextTooShort { n_ctx: 8, .. })
    ));
    let long = vec![2u32; CONTEXT + 1];
    assert!(matches!(
        s.next_logits(&long),
        Err(ModelError::ContextFull { .. })
    ));
    // Generation stops cleanly at the context.
    let opts = GenerateOptions {
        max_tokens: 1000,
        ..GenerateOptions::default()
    };
    let mut g = m.generate("ab", opts).unwrap();
    let mut n = 0;
    for step in g.by_ref() {
        step.unwrap();
        n += 1;
    }
    assert!(n <= CONTEXT);
    let (other, _, _) = write_model("llama4.gguf", "llama4", GgmlType::F32);
    let err = Model::load(&other, |_, _| {}).unwrap_err();
    assert!(
        matches!(err, ModelError::UnsupportedArchitecture(ref a) if a == "llama4"),
        "{err}"
    );
    // The message names the file's architecture and every one dial runs.
    assert!(
        err.to_string()
            .contains("\"llama4\": dial runs llama, qwen2, qwen3, gemma2, gemma3, phi3"),
        "{err}"
    );
    // A tensor type dial does not read is named, with its tensor.
    let mut iq2 = b"GGUF".to_vec();
    iq2.extend(3u32.to_le_bytes());
    iq2.extend(1u64.to_le_bytes()); // tensors
    iq2.extend(0u64.to_le_bytes()); // metadata
    iq2.extend(17u64.to_le_bytes());
    iq2.extend(b"token_embd.weight");
    iq2.extend(2u32.to_le_bytes());
    iq2.extend(256u64.to_le_bytes());
    iq2.extend(1u64.to_le_bytes());
    iq2.extend(16u32.to_le_bytes()); // IQ2_XXS
    iq2.extend(0u64.to_le_bytes());
    iq2.resize(iq2.len().next_multiple_of(32) + 66, 0);
    let iq2_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-iq2-{}.gguf", std::process::id()));
    std::fs::write(&iq2_path, &iq2).unwrap();
    let err = Model::load(&iq2_path, |_, _| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor token_embd.weight: its type IQ2_XXS is not one dial reads"
    );
    // A partly downloaded file: its header names tensors whose data is not there.
    let whole = std::fs::read(&path).unwrap();
    let cut = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-cut-{}.gguf", std::process::id()));
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let err = Model::load(&cut, |_, _| {}).unwrap_err();
    assert!(
        matches!(err, ModelError::Tensor { ref reason, .. } if reason == "its data runs past the end of the file"),
        "{err}"
    );
    std::fs::write(&cut, &whole[..40]).unwrap();
    let err = Model::load(&cut, |_, _| {}).unwrap_err();
    assert!(
        matches!(err, ModelError::NotGguf { ref reason, .. } if reason.starts_with("the tensor table: ") && reason.ends_with("items cannot fit in the 16 bytes left")),
        "{err}"
    );
    let missing = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dial-no-such-model.gguf");
    assert!(matches!(
        Model::load(&missing, |_, _| {}),
        Err(ModelError::Io { .. })
    ));
    let not_gguf = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-not-gguf-{}", std::process::id()));
    std::fs::write(&not_gguf, b"hello").unwrap();
    let err = Model::load(&not_gguf, |_, _| {}).unwrap_err();
    assert!(matches!(err, ModelError::NotGguf { .. }), "{err}");
    assert!(
        err.to_string().ends_with(
            "is not a valid GGUF file: it starts with the bytes [68, 65, 6c, 6c], not \"GGUF\""
        ),
        "{err}"
    );
    for written in [&iq2_path, &cut, &not_gguf] {
        std::fs::remove_file(written).unwrap();
    }
}

// ---- llama, qwen2 and qwen3, on dial's engine against a plain-Rust reference ----

const SMALL_LAYERS: usize = 2;

/// Weights of a llama-family model.
struct CausalW {
    embed: Vec<f32>,
    output: Vec<f32>,
    norm: Vec<f32>,
    layers: Vec<LayerW>,
}

/// GPT-2's printable character for each byte.
fn byte_char(b: u8) -> char {
    let mut next = 256u32;
    for x in 0..=255u8 {
        let printable = (33..=126).contains(&x) || (161..=172).contains(&x) || x >= 174;
        if x == b {
            return if printable {
                char::from(x)
            } else {
                char::from_u32(next).unwrap()
            };
        }
        if !printable {
            next += 1;
        }
    }
    unreachable!()
}

/// 256 byte tokens, five merges, three control tokens.
fn bpe_vocab() -> (Vec<String>, Vec<i32>, Vec<String>) {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    let mut types = vec![1; 256];
    let merges = ["Ġ t", "h e", "Ġt he", "c a", "ca t"];
    for m in merges {
        tokens.push(m.replace(' ', ""));
        types.push(1);
    }
    for s in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
        tokens.push(s.into());
        types.push(3);
    }
    (
        tokens,
        types,
        merges.iter().map(|m| m.to_string()).collect(),
    )
}

/// What distinguishes the three families here.
struct CausalCfg {
    arch: &'static str,
    heads: usize,
    kv: usize,
    head_dim: usize,
    /// q, k, v biases (qwen2).
    bias: bool,
    /// RMSNorm on each query and key head (qwen3).
    qk_norm: bool,
    /// RoPE on pairs `(2i, 2i + 1)` (llama), else on halves (qwen).
    interleaved: bool,
    /// A SentencePiece vocabulary (llama), else byte-level BPE.
    spm: bool,
}

fn write_causal(cfg: &CausalCfg) -> (PathBuf, CausalW, Vec<Vec<f32>>, Vec<String>) {
    let (tokens, scores, types, merges) = if cfg.spm {
        let (t, s, ty) = vocab();
        (t, s, ty, Vec::new())
    } else {
        let (t, ty, m) = bpe_vocab();
        let s = vec![0.0; t.len()];
        (t, s, ty, m)
    };
    let v = tokens.len();
    let mut r = DialRng::new(33);
    let norm = |r: &mut DialRng, n| -> Vec<f32> {
        random(r, n, 0.3).into_iter().map(|x| 1.0 + x).collect()
    };
    let (q_out, kv_out) = (cfg.heads * cfg.head_dim, cfg.kv * cfg.head_dim);
    let w = CausalW {
        embed: random(&mut r, v * HIDDEN, 0.5),
        output: random(&mut r, v * HIDDEN, 0.3),
        norm: norm(&mut r, HIDDEN),
        layers: (0..SMALL_LAYERS)
            .map(|_| LayerW {
                attn_norm: norm(&mut r, HIDDEN),
                q_norm: norm(&mut r, cfg.head_dim),
                k_norm: norm(&mut r, cfg.head_dim),
                post_attn_norm: Vec::new(),
                ffn_norm: norm(&mut r, HIDDEN),
                post_ffn_norm: Vec::new(),
                wq: random(&mut r, q_out * HIDDEN, 0.3),
                wk: random(&mut r, kv_out * HIDDEN, 0.3),
                wv: random(&mut r, kv_out * HIDDEN, 0.3),
                wo: random(&mut r, HIDDEN * q_out, 0.3),
                gate: random(&mut r, FFN * HIDDEN, 0.3),
                up: random(&mut r, FFN * HIDDEN, 0.3),
                down: random(&mut r, HIDDEN * FFN, 0.3),
            })
            .collect(),
    };
    // Biases of q, k, v per layer (qwen2).
    let biases: Vec<Vec<f32>> = (0..SMALL_LAYERS * 3)
        .map(|i| random(&mut r, if i % 3 == 0 { q_out } else { kv_out }, 0.2))
        .collect();
    let q = |name: String, data: &[f32], shape: (usize, usize)| {
        matrix(name, data, shape, GgmlType::F32)
    };
    let mut tensors = vec![
        q("token_embd.weight".into(), &w.embed, (v, HIDDEN)),
        q("output.weight".into(), &w.output, (v, HIDDEN)),
        vector("output_norm.weight".into(), &w.norm),
    ];
    for (i, l) in w.layers.iter().enumerate() {
        let p = |s: &str| format!("blk.{i}.{s}");
        tensors.push(vector(p("attn_norm.weight"), &l.attn_norm));
        tensors.push(vector(p("ffn_norm.weight"), &l.ffn_norm));
        tensors.push(q(p("attn_q.weight"), &l.wq, (q_out, HIDDEN)));
        tensors.push(q(p("attn_k.weight"), &l.wk, (kv_out, HIDDEN)));
        tensors.push(q(p("attn_v.weight"), &l.wv, (kv_out, HIDDEN)));
        tensors.push(q(p("attn_output.weight"), &l.wo, (HIDDEN, q_out)));
        tensors.push(q(p("ffn_gate.weight"), &l.gate, (FFN, HIDDEN)));
        tensors.push(q(p("ffn_up.weight"), &l.up, (FFN, HIDDEN)));
        tensors.push(q(p("ffn_down.weight"), &l.down, (HIDDEN, FFN)));
        if cfg.bias {
            tensors.push(vector(p("attn_q.bias"), &biases[3 * i]));
            tensors.push(vector(p("attn_k.bias"), &biases[3 * i + 1]));
            tensors.push(vector(p("attn_v.bias"), &biases[3 * i + 2]));
        }
        if cfg.qk_norm {
            tensors.push(vector(p("attn_q_norm.weight"), &l.q_norm));
            tensors.push(vector(p("attn_k_norm.weight"), &l.k_norm));
        }
    }
    let a = cfg.arch;
    let md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(a.into())),
        (format!("{a}.embedding_length"), Value::U32(HIDDEN as u32)),
        (
            format!("{a}.attention.head_count"),
            Value::U32(cfg.heads as u32),
        ),
        (
            format!("{a}.attention.head_count_kv"),
            Value::U32(cfg.kv as u32),
        ),
        (
            format!("{a}.attention.key_length"),
            Value::U32(cfg.head_dim as u32),
        ),
        (
            format!("{a}.attention.value_length"),
            Value::U32(cfg.head_dim as u32),
        ),
        (format!("{a}.block_count"), Value::U32(SMALL_LAYERS as u32)),
        (format!("{a}.feed_forward_length"), Value::U32(FFN as u32)),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            Value::F32(EPS),
        ),
        (format!("{a}.rope.freq_base"), Value::F32(10_000.0)),
        (format!("{a}.context_length"), Value::U32(CONTEXT as u32)),
        // A window llama.cpp ignores for these three families (Mistral's files carry one):
        // the full-attention references below fail if dial applied it.
        (format!("{a}.attention.sliding_window"), Value::U32(2)),
        (
            format!("{a}.rope.dimension_count"),
            Value::U32(cfg.head_dim as u32),
        ),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.iter().map(|s| Value::String(s.clone())).collect()),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(types.iter().map(|&t| Value::I32(t)).collect()),
        ),
    ];
    let mut md = md;
    if cfg.spm {
        md.extend([
            ("tokenizer.ggml.model".into(), Value::String("llama".into())),
            (
                "tokenizer.ggml.scores".into(),
                Value::Array(scores.iter().map(|&s| Value::F32(s)).collect()),
            ),
            ("tokenizer.ggml.bos_token_id".into(), Value::U32(2)),
            ("tokenizer.ggml.eos_token_id".into(), Value::U32(1)),
        ]);
    } else {
        md.extend([
            ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
            ("tokenizer.ggml.pre".into(), Value::String("qwen2".into())),
            (
                "tokenizer.ggml.merges".into(),
                Value::Array(merges.iter().map(|s| Value::String(s.clone())).collect()),
            ),
            (
                "tokenizer.ggml.eos_token_id".into(),
                Value::U32(v as u32 - 3),
            ),
        ]);
    }
    let path = write_gguf(&format!("{a}.gguf"), &md, &tensors);
    (path, w, biases, tokens)
}

fn causal_reference(
    cfg: &CausalCfg,
    w: &CausalW,
    b: &[Vec<f32>],
    vocab: usize,
    tokens: &[u32],
) -> Vec<Vec<f32>> {
    let hd = cfg.head_dim;
    let group = cfg.heads / cfg.kv;
    let add = |x: Vec<f32>, bias: &[f32]| -> Vec<f32> {
        if cfg.bias {
            x.iter().zip(bias).map(|(a, b)| a + b).collect()
        } else {
            x
        }
    };
    let mut keys: Vec<Vec<Vec<f32>>> = vec![Vec::new(); SMALL_LAYERS];
    let mut values: Vec<Vec<Vec<f32>>> = vec![Vec::new(); SMALL_LAYERS];
    let mut out = Vec::new();
    for (pos, &t) in tokens.iter().enumerate() {
        let mut x = w.embed[t as usize * HIDDEN..(t as usize + 1) * HIDDEN].to_vec();
        for (li, l) in w.layers.iter().enumerate() {
            let h = rms_norm(&x, &l.attn_norm);
            let q = add(matvec(&l.wq, &h, cfg.heads * hd), &b[3 * li]);
            let mut k = add(matvec(&l.wk, &h, cfg.kv * hd), &b[3 * li + 1]);
            for kv in 0..cfg.kv {
                let head = &mut k[kv * hd..(kv + 1) * hd];
                if cfg.qk_norm {
                    let n = rms_norm(head, &l.k_norm);
                    head.copy_from_slice(&n);
                }
                if cfg.interleaved {
                    rope_interleaved(head, pos);
                } else {
                    rope(head, pos, 10_000.0);
                }
            }
            keys[li].push(k);
            values[li].push(add(matvec(&l.wv, &h, cfg.kv * hd), &b[3 * li + 2]));
            let mut attn = vec![0f32; cfg.heads * hd];
            for head in 0..cfg.heads {
                let kv = head / group;
                let mut qh = q[head * hd..(head + 1) * hd].to_vec();
                if cfg.qk_norm {
                    qh = rms_norm(&qh, &l.q_norm);
                }
                if cfg.interleaved {
                    rope_interleaved(&mut qh, pos);
                } else {
                    rope(&mut qh, pos, 10_000.0);
                }
                let scores: Vec<f32> = (0..=pos)
                    .map(|j| {
                        let kj = &keys[li][j][kv * hd..(kv + 1) * hd];
                        qh.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() / (hd as f32).sqrt()
                    })
                    .collect();
                let m = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f32 = e.iter().sum();
                for (j, ej) in e.iter().enumerate() {
                    for d in 0..hd {
                        attn[head * hd + d] += ej / z * values[li][j][kv * hd + d];
                    }
                }
            }
            let o = matvec(&l.wo, &attn, HIDDEN);
            x = x.iter().zip(&o).map(|(a, b)| a + b).collect();
            let h = rms_norm(&x, &l.ffn_norm);
            let g = matvec(&l.gate, &h, FFN);
            let u = matvec(&l.up, &h, FFN);
            let gu: Vec<f32> = g
                .iter()
                .zip(&u)
                .map(|(a, b)| a / (1.0 + (-a).exp()) * b)
                .collect();
            let d = matvec(&l.down, &gu, HIDDEN);
            x = x.iter().zip(&d).map(|(a, b)| a + b).collect();
        }
        out.push(matvec(&w.output, &rms_norm(&x, &w.norm), vocab));
    }
    out
}

fn check_qwen(cfg: CausalCfg) {
    let (path, w, biases, tokens) = write_causal(&cfg);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let mut s = m.session().unwrap();
    assert_eq!(m.architecture(), cfg.arch);
    let t = m.tokenizer();
    // Byte-level BPE: " the" merges fully; " cat" keeps its space apart (no "Ġ cat" merge).
    assert_eq!(
        t.encode(" the cat", true),
        vec![id(&tokens, "Ġthe"), id(&tokens, "Ġ"), id(&tokens, "cat")]
    );
    assert_eq!(
        t.encode("<|im_start|>hi", false),
        vec![
            id(&tokens, "<|im_start|>"),
            id(&tokens, "h"),
            id(&tokens, "i")
        ]
    );
    assert_eq!(t.decode(&t.encode("é the\n", false)), "é the\n");
    assert_eq!(
        t.stop_tokens(),
        &[id(&tokens, "<|endoftext|>"), id(&tokens, "<|im_end|>")][..]
    );
    let seq = [10u32, 256, 257, 258, 259, 65, 66];
    let want = causal_reference(&cfg, &w, &biases, tokens.len(), &seq);
    let got = s.next_logits(&seq).unwrap();
    assert!(
        max_diff(&got, &want[6]) < 2e-3,
        "{} prefill: {}",
        cfg.arch,
        max_diff(&got, &want[6])
    );
    s.reset().unwrap();
    let mut last = Vec::new();
    for (i, &tok) in seq.iter().enumerate() {
        last = s.next_logits(&[tok]).unwrap();
        assert!(
            max_diff(&last, &want[i]) < 2e-3,
            "{} decode {i}: {}",
            cfg.arch,
            max_diff(&last, &want[i])
        );
    }
    assert_eq!(
        got, last,
        "{}: prefill and decode give the same bits",
        cfg.arch
    );
}

#[test]
fn a_qwen2_file_matches_the_reference() {
    check_qwen(CausalCfg {
        arch: "qwen2",
        heads: 4,
        kv: 2,
        head_dim: HIDDEN / 4,
        bias: true,
        qk_norm: false,
        interleaved: false,
        spm: false,
    });
}

#[test]
fn a_qwen3_file_matches_the_reference() {
    check_qwen(CausalCfg {
        arch: "qwen3",
        heads: 4,
        kv: 2,
        head_dim: 16,
        bias: false,
        qk_norm: true,
        interleaved: false,
        spm: false,
    });
}

/// Interleaved RoPE, as GGUF llama weights expect: pairs `(2i, 2i + 1)`.
fn rope_interleaved(x: &mut [f32], pos: usize) {
    let d = x.len();
    for i in 0..d / 2 {
        let theta = pos as f64 / 10_000f64.powf(2.0 * i as f64 / d as f64);
        let (s, c) = (theta.sin() as f32, theta.cos() as f32);
        let (a, b) = (x[2 * i], x[2 * i + 1]);
        x[2 * i] = a * c - b * s;
        x[2 * i + 1] = b * c + a * s;
    }
}

#[test]
fn a_llama_file_runs_on_dial_s_engine_and_matches_the_reference() {
    let cfg = CausalCfg {
        arch: "llama",
        heads: 4,
        kv: 2,
        head_dim: HIDDEN / 4,
        bias: false,
        qk_norm: false,
        interleaved: true,
        spm: true,
    };
    let (path, w, biases, tokens) = write_causal(&cfg);
    let m = Model::load(&path, |_, _| {}).unwrap();
    let mut s = m.session().unwrap();
    assert_eq!(m.architecture(), "llama");
    // SentencePiece's default for llama files: a space before the text.
    assert_eq!(
        m.tokenizer().encode("ab", true),
        vec![2, id(&tokens, "▁ab")]
    );
    let seq = [2u32, 270, 271, 272, 273, 274, 275];
    let want = causal_reference(&cfg, &w, &biases, tokens.len(), &seq);
    // Prefill, then token by token.
    let got = s.next_logits(&seq).unwrap();
    assert!(
        max_diff(&got, &want[6]) < 2e-3,
        "prefill: {}",
        max_diff(&got, &want[6])
    );
    s.reset().unwrap();
    for (i, &t) in seq.iter().enumerate() {
        let g = s.next_logits(&[t]).unwrap();
        assert!(
            max_diff(&g, &want[i]) < 2e-3,
            "decode {i}: {}",
            max_diff(&g, &want[i])
        );
    }
    let p = m
        .perplexity("ab c hi ab c hi ab c hi ab c", 8, |_, _| {})
        .unwrap();
    assert!(p.ppl.is_finite() && p.ppl > 1.0 && p.scored > 0);
    // Every position's hidden state, and prefill and token-by-token decode give the same
    // bits.
    s.reset().unwrap();
    let whole = s.next_logits(&seq).unwrap();
    s.reset().unwrap();
    let mut last = Vec::new();
    for &t in &seq {
        last = s.next_logits(&[t]).unwrap();
    }
    assert_eq!(whole, last);
    s.reset().unwrap();
    let hidden = s.hidden_states(&seq).unwrap();
    assert_eq!(s.logits(&hidden).unwrap().len(), seq.len());
}
