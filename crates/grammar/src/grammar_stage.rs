//! One sequence's constraint: the chain's `grammar` stage.

use crate::CompiledGrammar;
use crate::model_tok_env::ModelTokEnv;
use dial_sampling::{SampleError, StageId, TokenConstraint, TokenSet};
use llguidance::Matcher;
use std::sync::Arc;

/// How much of the output a cut reason quotes.
const QUOTED_TAIL: usize = 24;

/// The `grammar` stage of one sequence: the tokens that keep its output inside the
/// constraint's language. Once the output is complete, only end-of-generation tokens
/// are allowed (every one the model has).
#[derive(Clone)]
pub struct GrammarStage {
    matcher: Matcher,
    compiled: Arc<CompiledGrammar>,
    env: Arc<ModelTokEnv>,
    mask: TokenSet,
    /// `mask` is for the current position.
    fresh: bool,
    complete: bool,
    /// The output so far.
    output: Vec<u8>,
}

impl GrammarStage {
    pub(crate) fn new(
        matcher: Matcher,
        compiled: Arc<CompiledGrammar>,
        env: Arc<ModelTokEnv>,
    ) -> Self {
        GrammarStage {
            matcher,
            compiled,
            env,
            mask: TokenSet::default(),
            fresh: false,
            complete: false,
            output: Vec::new(),
        }
    }

    /// The compiled constraint it follows.
    pub fn compiled(&self) -> &Arc<CompiledGrammar> {
        &self.compiled
    }

    /// The output it has accepted, as bytes.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    fn error(message: impl Into<String>) -> SampleError {
        SampleError::Constraint {
            stage: StageId::Grammar,
            message: message.into(),
        }
    }

    fn quoted_tail(&self) -> String {
        let text = String::from_utf8_lossy(&self.output);
        let chars: Vec<char> = text.chars().collect();
        let tail: String = chars[chars.len().saturating_sub(QUOTED_TAIL)..]
            .iter()
            .collect();
        if chars.len() > QUOTED_TAIL {
            format!("…{tail}")
        } else {
            tail
        }
    }

    fn token_text(&self, token: u32) -> String {
        let trie = self.env.vocabulary().trie();
        if trie.is_special_token(token) {
            String::from_utf8_lossy(&trie.token(token)[1..]).into_owned()
        } else {
            format!("{:?}", String::from_utf8_lossy(trie.token(token)))
        }
    }

    fn is_end(&self, token: u32) -> bool {
        self.env.vocabulary().end_of_generation().contains(&token)
    }
}

impl TokenConstraint for GrammarStage {
    fn stage(&self) -> StageId {
        StageId::Grammar
    }

    fn setting(&self) -> String {
        self.compiled.summary().to_string()
    }

    fn compute_mask(&mut self) -> Result<(), SampleError> {
        if self.fresh {
            return Ok(());
        }
        let vob = self
            .matcher
            .compute_mask_or_eos()
            .map_err(|e| Self::error(format!("{e:#}")))?;
        let vocab = self.env.vocabulary().len();
        self.mask.clear(vocab);
        let words = self.mask.words_mut();
        let n = words.len().min(vob.as_slice().len());
        words[..n].copy_from_slice(&vob.as_slice()[..n]);
        if !vocab.is_multiple_of(32)
            && let Some(last) = words.last_mut()
        {
            *last &= (1u32 << (vocab % 32)) - 1;
        }
        let ends = self
            .env
            .vocabulary()
            .end_of_generation()
            .iter()
            .filter(|&&t| self.mask.contains(t))
            .count();
        let allowed = self.mask.len();
        if allowed == 0 {
            return Err(Self::error(format!(
                "no token can continue the output after `{}`",
                self.quoted_tail()
            )));
        }
        self.complete = allowed == ends;
        self.fresh = true;
        Ok(())
    }

    fn mask(&self) -> Option<&TokenSet> {
        self.fresh.then_some(&self.mask)
    }

    fn accept(&mut self, token: u32, _p: Option<f64>) -> Result<(), SampleError> {
        if self.fresh && !self.mask.contains(token) {
            return Err(Self::error(format!(
                "token {token} ({}) is not allowed: {}",
                self.token_text(token),
                self.cut_reason(token)
            )));
        }
        // A parser that can go no further has stopped itself; the end token is its end.
        let ends_stopped = self.is_end(token) && self.matcher.is_stopped();
        if !ends_stopped {
            self.matcher
                .consume_token(token)
                .map_err(|e| Self::error(format!("{e:#}")))?;
        }
        if !self.is_end(token) {
            self.output
                .extend_from_slice(self.env.vocabulary().trie().token(token));
        }
        self.fresh = false;
        Ok(())
    }

    fn is_complete(&self) -> bool {
        self.complete
    }

    fn cut_reason(&self, token: u32) -> String {
        if self.is_end(token) {
            return "the output is not complete yet".into();
        }
        if self.complete {
            return "the output is complete: only end-of-generation may follow".into();
        }
        if self.output.is_empty() {
            format!("{} cannot begin the output", self.token_text(token))
        } else {
            format!(
                "{} cannot follow {:?}",
                self.token_text(token),
                self.quoted_tail()
            )
        }
    }

    fn boxed_clone(&self) -> Box<dyn TokenConstraint> {
        Box::new(self.clone())
    }
}

impl std::fmt::Debug for GrammarStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrammarStage")
            .field("constraint", &self.compiled.summary())
            .field("output_bytes", &self.output.len())
            .field("complete", &self.complete)
            .finish_non_exhaustive()
    }
}
