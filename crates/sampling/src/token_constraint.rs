//! A chain stage that is not a request knob: built in code with the vocabulary at hand,
//! it sees token ids and says which may come next.

use crate::error::SampleError;
use crate::stage_id::StageId;
use crate::token_set::TokenSet;

/// A constraint on which tokens may come next (a grammar, in dial-grammar).
///
/// It runs before every knob: the chain's knobs then act on the model's distribution
/// renormalised over the allowed tokens,
///
/// `p'(i) = p(i) / Σ_{j ∈ A} p(j)` for `i ∈ A`, else 0,
///
/// so no truncation can leave zero tokens, and the processed log-probabilities are those
/// of the distribution actually drawn from.
///
/// The mask is computed apart from the draw ([`TokenConstraint::compute_mask`]), so an
/// engine can compute the masks of many sequences in parallel, or while the model runs.
pub trait TokenConstraint: Send + std::fmt::Debug {
    /// Which stage it is, for traces.
    fn stage(&self) -> StageId;

    /// A readable setting, e.g. `json schema (412 bytes)`.
    fn setting(&self) -> String;

    /// Computes the set of tokens allowed next, if not computed since the last accepted
    /// token. Idempotent until [`TokenConstraint::accept`].
    ///
    /// # Errors
    /// [`SampleError::Constraint`] when the constraint cannot go on.
    fn compute_mask(&mut self) -> Result<(), SampleError>;

    /// The allowed tokens, once computed (`None` before).
    fn mask(&self) -> Option<&TokenSet>;

    /// Advances past `token`, drawn with probability `p` from the processed distribution
    /// (`None` when the caller accepted a token it did not draw).
    ///
    /// # Errors
    /// [`SampleError::Constraint`] when the constraint does not allow `token`.
    fn accept(&mut self, token: u32, p: Option<f64>) -> Result<(), SampleError>;

    /// Whether the output so far is complete: only end-of-generation may follow.
    fn is_complete(&self) -> bool;

    /// Why it disallows `token` now, e.g. `` `"x` cannot follow `{"a":` ``.
    fn cut_reason(&self, token: u32) -> String;

    /// A copy with its own state, for explanations that must not change this one.
    fn boxed_clone(&self) -> Box<dyn TokenConstraint>;
}

impl Clone for Box<dyn TokenConstraint> {
    fn clone(&self) -> Self {
        self.boxed_clone()
    }
}
