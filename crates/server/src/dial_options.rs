//! dial's extension object, `"dial": {...}`, on every generation endpoint.

use serde::{Deserialize, Serialize};

/// Which distribution `logprobs` report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogprobsMode {
    /// The model's distribution, `softmax(logits)`, before any knob (OpenAI's meaning).
    #[default]
    Raw,
    /// The distribution the token was actually drawn from, after every knob.
    Processed,
}

/// What dial reports beyond the OpenAI shape.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DialOptions {
    /// `raw` (default) or `processed` log-probabilities.
    #[serde(default)]
    pub logprobs: LogprobsMode,
    /// Each token's per-stage trace: what every knob kept.
    #[serde(default)]
    pub trace: bool,
    /// Each token's entropy before and after the chain, in bits.
    #[serde(default)]
    pub entropy: bool,
}

impl DialOptions {
    /// Whether any per-token report is asked for.
    pub fn per_token(&self) -> bool {
        self.trace || self.entropy
    }
}
