//! The sampler's view of a model's next token, without generating.

use crate::error::ModelError;
use crate::model::Model;
use dial_sampling::{ExplainReport, Sampler};

impl Model {
    /// Explains the token that would follow `prompt`: runs the prompt on a fresh session
    /// and reports what `sampler` does to the next-token logits, listing at most `rows`
    /// tokens. When the sampler has no history yet, the prompt becomes its history, so
    /// penalties and DRY see it as they would while generating. With guidance, the
    /// negative prompt runs too, for the unconditional row.
    pub fn explain_next(
        &self,
        prompt: &[u32],
        sampler: &mut Sampler,
        rows: usize,
    ) -> Result<ExplainReport, ModelError> {
        let logits = self.session()?.prefill(prompt, &|| false)?;
        self.explain_logits(prompt, &logits, sampler, rows)
    }

    /// [`Model::explain_next`] on logits already computed for `prompt` (a cached prefill).
    pub fn explain_logits(
        &self,
        prompt: &[u32],
        logits: &[f32],
        sampler: &mut Sampler,
        rows: usize,
    ) -> Result<ExplainReport, ModelError> {
        if sampler.history().is_empty() {
            sampler.set_prompt(prompt);
        }
        // Guidance's unconditional row: the negative prompt's next-token logits.
        if let Some(guidance) = sampler.knobs().guidance.as_ref().filter(|g| g.is_active()) {
            let negative =
                crate::generate::Generation::unconditional_prompt(self, prompt, guidance);
            let unconditional = self.session()?.prefill(&negative, &|| false)?;
            sampler.set_unconditional(&unconditional);
        }
        let report = sampler.explain_report(logits, rows)?;
        Ok(report.with_texts(|id| self.token_text(id).map(str::to_string)))
    }
}
