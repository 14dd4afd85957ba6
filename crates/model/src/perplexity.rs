//! Perplexity with llama.cpp's `llama-perplexity` protocol: the text is tokenized (with
//! BOS where the model adds one) and cut into chunks of `n_ctx` tokens (the remainder is
//! dropped); where the model adds BOS, each chunk starts with BOS in place of its first
//! token; only its second half is scored: the predictions at positions
//! `n_ctx/2 … n_ctx−2` of the tokens that follow them.

use crate::error::ModelError;
use crate::model::{Model, Session};

/// The result of [`Model::perplexity`].
#[derive(Debug, Clone, PartialEq)]
pub struct Perplexity {
    /// `exp(mean NLL)`.
    pub ppl: f64,
    /// Standard error of the PPL, llama.cpp's estimate: `PPL · sd(NLL) / √n`.
    pub ppl_error: f64,
    /// Chunks evaluated.
    pub chunks: usize,
    /// Tokens scored.
    pub scored: usize,
    /// Tokens in the text (with BOS, where the model adds one).
    pub tokens: usize,
    /// Running PPL after each chunk.
    pub per_chunk: Vec<f64>,
}

/// Rows of logits turned into log-probabilities at a time (each row is the vocabulary).
const ROWS_PER_BATCH: usize = 32;

impl Model {
    /// Perplexity of `text` at context `n_ctx`; `on_chunk(done, total)` reports progress.
    pub fn perplexity(
        &self,
        text: &str,
        n_ctx: usize,
        mut on_chunk: impl FnMut(usize, usize),
    ) -> Result<Perplexity, ModelError> {
        if n_ctx < 4 {
            return Err(ModelError::BadMetadata(
                "n_ctx".into(),
                format!("{n_ctx} is too small (at least 4)"),
            ));
        }
        if n_ctx > self.context_length() {
            return Err(ModelError::ContextFull {
                needed: n_ctx,
                context: self.context_length(),
            });
        }
        let tokens = self.tokenizer().encode(text, true);
        let chunks = tokens.len() / n_ctx;
        if chunks == 0 {
            return Err(ModelError::TextTooShort {
                tokens: tokens.len(),
                n_ctx,
            });
        }
        let bos = self
            .tokenizer()
            .bos()
            .filter(|_| self.tokenizer().adds_bos());
        let first = n_ctx / 2;
        let (mut sum, mut sum_sq, mut n) = (0f64, 0f64, 0usize);
        let mut session = self.session()?;
        let mut per_chunk = Vec::with_capacity(chunks);
        for c in 0..chunks {
            let mut chunk = tokens[c * n_ctx..(c + 1) * n_ctx].to_vec();
            if let Some(bos) = bos {
                chunk[0] = bos;
            }
            for nll in self.chunk_nlls(&mut session, &chunk, first)? {
                sum += nll;
                sum_sq += nll * nll;
                n += 1;
            }
            per_chunk.push((sum / n as f64).exp());
            on_chunk(c + 1, chunks);
        }
        let mean = sum / n as f64;
        let var = (sum_sq / n as f64 - mean * mean).max(0.0);
        let ppl = mean.exp();
        Ok(Perplexity {
            ppl,
            ppl_error: ppl * (var / (n as f64 - 1.0).max(1.0)).sqrt(),
            chunks,
            scored: n,
            tokens: tokens.len(),
            per_chunk,
        })
    }
}

impl Model {
    /// The negative log-likelihood of each token of `continuation` after `prompt` (token
    /// ids, the prompt with BOS if the model wants one), at T = 1 with no knobs: what a
    /// generation's [`token_nll`]s are when it draws these tokens. Gemma 3 scores the
    /// whole text in one pass.
    pub fn continuation_nlls(
        &self,
        prompt: &[u32],
        continuation: &[u32],
    ) -> Result<Vec<f64>, ModelError> {
        if prompt.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        let text: Vec<u32> = prompt.iter().chain(continuation).copied().collect();
        crate::error::check_tokens(&text, self.vocab_size())?;
        if text.len() > self.context_length() {
            return Err(ModelError::ContextFull {
                needed: text.len(),
                context: self.context_length(),
            });
        }
        if continuation.is_empty() {
            return Ok(Vec::new());
        }
        let mut session = self.session()?;
        // The last token predicts nothing that is scored.
        self.chunk_nlls(&mut session, &text[..], prompt.len() - 1)
    }

    /// NLLs of `chunk[first + 1..]`, each predicted from the tokens before it.
    fn chunk_nlls(
        &self,
        session: &mut Session,
        chunk: &[u32],
        first: usize,
    ) -> Result<Vec<f64>, ModelError> {
        session.reset()?;
        let mut out = Vec::with_capacity(chunk.len() - 1 - first);
        let hidden = session.hidden_states(chunk)?;
        let mut row = first;
        while row < chunk.len() - 1 {
            let rows = ROWS_PER_BATCH.min(chunk.len() - 1 - row);
            let logits = session.logits(&hidden.narrow(row, rows))?;
            out.extend(nlls(&logits, &chunk[row + 1..row + 1 + rows])?);
            row += rows;
        }
        Ok(out)
    }
}

/// `−log softmax(row)[target]` for each row of `logits`, in f64.
fn nlls(rows: &[Vec<f32>], targets: &[u32]) -> Result<Vec<f64>, ModelError> {
    Ok(rows
        .iter()
        .zip(targets)
        .map(|(row, &t)| token_nll(row, t))
        .collect())
}

/// `−ln softmax(row)[target]`: the negative log-likelihood of `target` under a row of
/// logits at T = 1, `ln Σ_j exp(x_j) − x_target`, with the sum in one vectorised pass of
/// dial's `exp` (`dial_sampling::kernels::log_sum_exp`). `+inf` for an out-of-range
/// target.
pub fn token_nll(row: &[f32], target: u32) -> f64 {
    let Some(&x) = row.get(target as usize) else {
        return f64::INFINITY;
    };
    let isa = dial_sampling::Isa::chosen();
    dial_sampling::kernels::log_sum_exp(row, 1.0, isa) - f64::from(x)
}
