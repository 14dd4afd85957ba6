//! The tokens a stateful knob looks back on: the prompt and what has been generated.

/// Prompt and generated tokens, as fed by `Sampler::set_prompt` and `Sampler::accept`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    prompt: Vec<u32>,
    generated: Vec<u32>,
}

impl History {
    /// The prompt tokens.
    pub fn prompt(&self) -> &[u32] {
        &self.prompt
    }

    /// The generated (accepted) tokens.
    pub fn generated(&self) -> &[u32] {
        &self.generated
    }

    /// No prompt and nothing generated.
    pub fn is_empty(&self) -> bool {
        self.prompt.is_empty() && self.generated.is_empty()
    }

    pub(crate) fn set_prompt(&mut self, tokens: &[u32]) {
        self.prompt.clear();
        self.prompt.extend_from_slice(tokens);
        self.generated.clear();
    }

    pub(crate) fn push(&mut self, token: u32) {
        self.generated.push(token);
    }

    /// Forgets every generated token after the first `generated` (a rewind).
    pub(crate) fn truncate(&mut self, generated: usize) {
        self.generated.truncate(generated);
    }

    /// The last `window` tokens (all when `None`) of the generated tokens, preceded by the
    /// prompt when `with_prompt`.
    pub fn window(&self, with_prompt: bool, window: Option<usize>) -> Vec<u32> {
        let prompt: &[u32] = if with_prompt { &self.prompt } else { &[] };
        let total = prompt.len() + self.generated.len();
        let skip = window.map_or(0, |n| total.saturating_sub(n));
        prompt
            .iter()
            .chain(&self.generated)
            .skip(skip)
            .copied()
            .collect()
    }
}
