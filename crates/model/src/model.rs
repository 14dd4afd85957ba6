//! A loaded model, shared by every sequence, and the per-sequence [`Session`].

use crate::error::ModelError;
use crate::hidden::Hidden;
use crate::prompt_logprob::{PromptLogprob, PromptScoring};
use crate::tokenizer::Tokenizer;
use crate::transformer::{KvCache, Transformer};
use dial_gguf::Gguf;
use dial_sampling::{Knobs, SamplingParams};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    arch: String,
    /// The weights, immutable once loaded.
    net: Transformer,
    tokenizer: Tokenizer,
    /// `tokenizer.chat_template`, when the file has one.
    chat_template: Option<String>,
    /// Every token's text, built once, on first use (explain shows token texts).
    texts: OnceLock<Vec<String>>,
}

/// A GGUF model ready to run: weights and tokenizer behind an `Arc`, so clones are cheap
/// and every thread can hold one. Each sequence runs in its own [`Session`].
#[derive(Debug, Clone)]
pub struct Model {
    shared: Arc<Shared>,
}

// One model serves concurrent requests: it must stay shareable across threads.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Model>();
    shareable::<Session>();
};

/// Prompt tokens run per forward pass during a chunked prefill.
pub const PREFILL_CHUNK: usize = 256;

impl Model {
    /// Loads `path`; `on_progress(done, total)` is called as tensors are read (for a
    /// progress bar).
    pub fn load(
        path: &Path,
        mut on_progress: impl FnMut(usize, usize),
    ) -> Result<Self, ModelError> {
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; like llama.cpp, dial expects the model file not to
        // be rewritten while it is loaded.
        let map = std::sync::Arc::new(unsafe { memmap2::Mmap::map(&file) }.map_err(io)?);
        let content = Gguf::parse(&map[..]).map_err(|e| match e {
            dial_gguf::GgufError::Tensor { name, reason } => ModelError::Tensor { name, reason },
            other => ModelError::NotGguf {
                path: path.to_path_buf(),
                reason: other.to_string(),
            },
        })?;
        // A type dial cannot decode is named with its tensor before anything else.
        if let Some(t) = content
            .tensors()
            .iter()
            .find(|t| !crate::linear::decodable(t.ggml_type()))
        {
            return Err(ModelError::Tensor {
                name: t.name().into(),
                reason: format!("its type {} is not one dial reads", t.ggml_type()),
            });
        }
        let arch = content
            .get("general.architecture")
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| ModelError::MissingMetadata("general.architecture".into()))?;
        let tokenizer = Tokenizer::from_gguf(&content)?;
        let chat_template = content
            .get("tokenizer.chat_template")
            .and_then(|v| v.as_str().map(str::to_owned));
        let total = content.tensors().len();
        let mut done = 0;
        let mut on_tensor = || {
            done += 1;
            on_progress(done, total);
        };
        let architecture = crate::arch::find(&arch)
            .ok_or_else(|| ModelError::UnsupportedArchitecture(arch.clone()))?;
        let blueprint =
            architecture.blueprint(&crate::arch::Metadata::new(&content, architecture.name()))?;
        let source = crate::linear::Source {
            content: &content,
            map,
        };
        let net = Transformer::load(architecture.name(), blueprint, &source, &mut on_tensor)?;
        let model = Model {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                arch,
                net,
                tokenizer,
                chat_template,
                texts: OnceLock::new(),
            }),
        };
        if model.tokenizer().vocab_size() != model.vocab_size() {
            return Err(ModelError::BadMetadata(
                "tokenizer.ggml.tokens".into(),
                format!(
                    "{} tokens for an embedding of {} rows",
                    model.tokenizer().vocab_size(),
                    model.vocab_size()
                ),
            ));
        }
        Ok(model)
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> &str {
        &self.shared.arch
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.shared.tokenizer
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.shared.net.vocab_size()
    }

    /// The context the model can use.
    pub fn context_length(&self) -> usize {
        self.shared.net.config().context
    }

    /// The Jinja chat template in the file's `tokenizer.chat_template`, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.shared.chat_template.as_deref()
    }

    /// A token's text (lossy UTF-8), from a table built once per model.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        let texts = self.shared.texts.get_or_init(|| {
            (0..self.vocab_size() as u32)
                .map(|t| String::from_utf8_lossy(&self.tokenizer().token_bytes(t)).into_owned())
                .collect()
        });
        texts.get(id as usize).map(String::as_str)
    }

    /// The knobs `params` describe, with their text encoded by this model's tokenizer
    /// (DRY's sequence breakers) and its end-of-generation ids at hand (`min_tokens`).
    pub fn knobs(&self, params: &SamplingParams) -> Result<Knobs, ModelError> {
        Ok(params.knobs_with_tokenizer(self.tokenizer())?)
    }

    /// A new, empty sequence.
    pub fn session(&self) -> Result<Session, ModelError> {
        Ok(Session {
            model: self.clone(),
            cache: self.shared.net.new_cache(),
        })
    }

    /// Bytes of KV cache one sequence of `positions` tokens needs at most.
    pub fn kv_bytes(&self, positions: usize) -> usize {
        self.shared.net.kv_bytes(positions)
    }

    /// One engine step: runs each sequence's `tokens` after its cache, all of them in one
    /// forward pass, and returns the next-token logits of those that ask
    /// for them (`want_logits`). A sequence whose input is bad (out-of-range ids, no room)
    /// gets its own error and the others still run; an error inside the shared pass fails
    /// them all.
    pub fn step(&self, inputs: &mut [StepInput<'_>]) -> Vec<Result<Option<Vec<f32>>, ModelError>> {
        let mut results: Vec<Result<Option<Vec<f32>>, ModelError>> = inputs
            .iter()
            .map(|i| i.check(self).map(|()| None))
            .collect();
        let net = &self.shared.net;
        let mut batch = Vec::new();
        let mut which = Vec::new();
        let mut scorings = Vec::new();
        for (n, input) in inputs.iter_mut().enumerate() {
            if results[n].is_err() {
                continue;
            }
            batch.push((&mut input.session.cache, input.tokens));
            which.push((n, input.want_logits));
            scorings.push(input.scoring.as_mut());
        }
        if batch.is_empty() {
            return results;
        }
        // The whole pass on one of rayon's threads: its many small parallel loops then
        // split by work stealing, not by a cross-thread hand-off each.
        let outcome = rayon::scope(|_| {
            let hidden = net.forward_batch(&mut batch)?;
            let width = net.config().hidden;
            let mut start = 0;
            for ((_, tokens), scoring) in batch.iter().zip(scorings.iter_mut()) {
                if let Some(scoring) = scoring {
                    let rows = &hidden[start * width..(start + tokens.len()) * width];
                    score_rows(net, rows, scoring)?;
                }
                start += tokens.len();
            }
            let mut last_rows = Vec::new();
            let mut end = 0;
            for ((_, tokens), (_, want)) in batch.iter().zip(&which) {
                end += tokens.len();
                if *want {
                    last_rows.extend_from_slice(&hidden[(end - 1) * width..end * width]);
                }
            }
            if last_rows.is_empty() {
                return Ok(Vec::new());
            }
            net.logits(&last_rows)
        });
        match outcome {
            Ok(logits) => {
                let mut rows = logits.chunks_exact(net.vocab_size());
                for (n, want) in which {
                    results[n] = Ok(if want {
                        rows.next().map(<[f32]>::to_vec)
                    } else {
                        None
                    });
                }
            }
            Err(e) => {
                let message = e.to_string();
                let mut error = Some(e);
                for (n, _) in which {
                    results[n] = Err(error
                        .take()
                        .unwrap_or_else(|| ModelError::Compute(message.clone())));
                }
            }
        }
        results
    }
}

/// Rows whose logits are computed at once while scoring a prompt: the logits of 16 rows
/// of a 262,144-token vocabulary take 16 MiB.
const SCORED_ROWS_AT_ONCE: usize = 16;

/// Scores each row of `hidden` that has a target.
fn score_rows(
    net: &Transformer,
    hidden: &[f32],
    scoring: &mut PromptScoring<'_>,
) -> Result<(), ModelError> {
    let width = net.config().hidden;
    let vocab = net.vocab_size();
    let scored = scoring.targets.len().min(hidden.len() / width);
    for first in (0..scored).step_by(SCORED_ROWS_AT_ONCE) {
        let last = (first + SCORED_ROWS_AT_ONCE).min(scored);
        let logits = net.logits(&hidden[first * width..last * width])?;
        let rows: Vec<PromptLogprob> = logits
            .par_chunks_exact(vocab)
            .zip(&scoring.targets[first..last])
            .map(|(row, &target)| PromptLogprob::score(row, target, scoring.top))
            .collect();
        scoring.out.extend(rows);
    }
    Ok(())
}

/// One sequence's part of a [`Model::step`].
#[derive(Debug)]
pub struct StepInput<'a> {
    /// The sequence.
    pub session: &'a mut Session,
    /// Tokens to run after its cache (at most [`PREFILL_CHUNK`]).
    pub tokens: &'a [u32],
    /// Whether to return the logits after them.
    pub want_logits: bool,
    /// Score every row against the token that follows it (prompt logprobs).
    pub scoring: Option<PromptScoring<'a>>,
}

impl StepInput<'_> {
    fn check(&self, model: &Model) -> Result<(), ModelError> {
        if self.tokens.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        if !std::sync::Arc::ptr_eq(&self.session.model.shared, &model.shared) {
            return Err(ModelError::Compute("a session of another model".into()));
        }
        crate::error::check_tokens(self.tokens, model.vocab_size())?;
        self.session.check_room(self.tokens.len())
    }
}

/// One sequence on a shared [`Model`]: its KV cache and position.
#[derive(Debug)]
pub struct Session {
    model: Model,
    cache: KvCache,
}

impl Session {
    /// The model it runs on.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Tokens in the KV cache.
    pub fn position(&self) -> usize {
        self.cache.position()
    }

    /// Empties the KV cache.
    pub fn reset(&mut self) -> Result<(), ModelError> {
        self.cache = self.model.shared.net.new_cache();
        Ok(())
    }

    /// Forgets the cache from `position` on: the next token runs at `position` as if what
    /// followed had never run (see [`crate::KvCache::truncate`] for how far back).
    pub fn truncate(&mut self, position: usize) -> Result<(), ModelError> {
        self.cache.truncate(position)
    }

    /// Runs `tokens` after the cache and returns the next-token logits.
    pub fn next_logits(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        self.check_room(tokens.len())?;
        if tokens.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        let model = self.model.clone();
        let mut last = None;
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            let mut input = [StepInput {
                session: self,
                tokens: chunk,
                want_logits: chunk.as_ptr_range().end == tokens.as_ptr_range().end,
                scoring: None,
            }];
            let [result] = <[_; 1]>::try_from(model.step(&mut input))
                .map_err(|_| ModelError::Compute("one input, one result".into()))?;
            last = result?;
        }
        last.ok_or(ModelError::EmptyPrompt)
    }

    /// Sets aside KV cache for `positions` tokens in all, so the cache takes what
    /// [`Model::kv_bytes`] promised and never grows past it on the way.
    pub fn reserve(&mut self, positions: usize) {
        self.model.shared.net.reserve(&mut self.cache, positions);
    }

    /// Bytes its KV cache takes now.
    pub fn kv_bytes(&self) -> usize {
        self.cache.bytes()
    }

    /// Runs `tokens` after the cache in chunks of [`PREFILL_CHUNK`], asking `cancelled`
    /// before each chunk, and returns the next-token logits. A cancelled prefill leaves the
    /// chunks it ran in the cache and returns [`ModelError::Cancelled`].
    pub fn prefill(
        &mut self,
        tokens: &[u32],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<f32>, ModelError> {
        self.check_room(tokens.len())?;
        let mut last = None;
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            if cancelled() {
                return Err(ModelError::Cancelled);
            }
            last = Some(self.next_logits(chunk)?);
        }
        last.ok_or(ModelError::EmptyPrompt)
    }

    /// Runs `tokens` after the cache and returns the final hidden states, one row per
    /// token; [`Session::logits`] turns rows of it into logits.
    pub fn hidden_states(&mut self, tokens: &[u32]) -> Result<Hidden, ModelError> {
        self.check_room(tokens.len())?;
        let net = &self.model.shared.net;
        let mut all = Hidden::new(net.config().hidden, Vec::new());
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            let values = net.forward_batch(&mut [(&mut self.cache, chunk)])?;
            all.append(Hidden::new(net.config().hidden, values));
        }
        Ok(all)
    }

    /// Logits of each row of `hidden`.
    pub fn logits(&self, hidden: &Hidden) -> Result<Vec<Vec<f32>>, ModelError> {
        let net = &self.model.shared.net;
        Ok(net
            .logits(hidden.values())?
            .chunks_exact(net.vocab_size())
            .map(<[f32]>::to_vec)
            .collect())
    }

    pub(crate) fn check_room(&self, n: usize) -> Result<(), ModelError> {
        let needed = self.position() + n;
        let context = self.model.context_length();
        if needed > context {
            return Err(ModelError::ContextFull { needed, context });
        }
        Ok(())
    }
}
