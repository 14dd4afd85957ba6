use super::{Applied, ApplyResult, Ctx, KnobImpl, KnobKind, KnobSpec, Phase, check_ids};
use crate::error::ParamError;
use crate::params::{Field, FieldKind, Range, SamplingParams, Tokenize};
use crate::work::{Snapshot, Work};

/// Sequence bias: for each token sequence `s` with bias `b`, add `b` to the logit of `s`'s
/// last token whenever the context ends with the rest of `s`.
///
/// Follows HF's `SequenceBiasLogitsProcessor`: the context is the prompt and the generated
/// tokens; a one-token sequence is biased at every step; biases on the same token add up.
/// Edges: biases must be finite (ban with `bad_words` or `banned_tokens`); an empty
/// sequence is an error.
///
/// # Example
/// ```
/// use dial_sampling::{Knobs, Sampler, SequenceBias};
/// let bias = SequenceBias::new(vec![(vec![1, 2], 20.0)])?;
/// let knobs = Knobs { sequence_bias: Some(bias), ..Knobs::default() };
/// let mut sampler = Sampler::new(knobs, 0)?;
/// sampler.set_prompt(&[0, 1]); // ends with the prefix [1]: token 2 gets +20
/// assert!(sampler.explain(&[0.0; 3])?.probability(2) > 0.99);
/// sampler.set_prompt(&[1, 0]);
/// assert!(sampler.explain(&[0.0; 3])?.probability(2) < 0.34);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SequenceBias {
    biases: Vec<(Vec<u32>, f32)>,
}

/// Whether `context` ends with all of `sequence` but its last token.
pub(crate) fn prefix_matches(context: &[u32], sequence: &[u32]) -> bool {
    match sequence.split_last() {
        Some((_, prefix)) => context.ends_with(prefix),
        None => false,
    }
}

impl SequenceBias {
    /// `(token sequence, bias)` pairs: sequences non-empty, biases finite.
    pub fn new(biases: Vec<(Vec<u32>, f32)>) -> Result<Self, ParamError> {
        if let Some((seq, b)) = biases.iter().find(|(s, b)| s.is_empty() || !b.is_finite()) {
            return Err(ParamError::new(
                "sequence_bias",
                "sequence_bias",
                format!("{seq:?}: {b}"),
                "non-empty token sequences with finite biases",
            ));
        }
        Ok(SequenceBias { biases })
    }

    /// The `(sequence, bias)` pairs.
    pub fn biases(&self) -> &[(Vec<u32>, f32)] {
        &self.biases
    }

    /// The bias each token gets after `context`, by id.
    pub fn active(&self, context: &[u32]) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = Vec::new();
        for (seq, b) in &self.biases {
            let Some(&last) = seq.last() else { continue };
            if prefix_matches(context, seq) {
                match out.iter_mut().find(|(id, _)| *id == last) {
                    Some(entry) => entry.1 += b,
                    None => out.push((last, *b)),
                }
            }
        }
        out
    }
}

impl KnobImpl for SequenceBias {
    const SPEC: &'static KnobSpec = &KnobSpec::new(
        KnobKind::SequenceBias,
        "Biases a token sequence's last token wherever the context ends with the rest of it (HF's sequence_bias).",
        Phase::Edit(8),
        &[Field {
            range: Some(Range::closed(-100.0, 100.0)),
            ..Field::other(
                "sequence_bias",
                FieldKind::SequenceBiases,
                "a list of [[token ids], bias] pairs, biases in [-100, 100]",
                "Bias the last token of a sequence when the context ends with the rest: [[[IDS], BIAS]], or \"ID ID=BIAS\" on the command line.",
            )
        }],
    );

    fn from_params(
        params: &SamplingParams,
        _tokenize: Option<Tokenize<'_>>,
    ) -> Result<Option<Self>, ParamError> {
        match params.sequence_biases("sequence_bias") {
            Some(b) if !b.is_empty() => SequenceBias::new(b.to_vec()).map(Some),
            _ => Ok(None),
        }
    }

    fn apply(&mut self, w: &mut Work, input: &[f32], ctx: &mut Ctx<'_>) -> ApplyResult {
        let active = self.active(&ctx.history.window(true, None));
        if active.is_empty() {
            return Ok(Applied::default());
        }
        let ids: Vec<u32> = active.iter().map(|&(id, _)| id).collect();
        check_ids(&ids, w.vocab, "sequence_bias")?;
        w.make_editable(input);
        for &(id, b) in &active {
            w.edit(id, |x| x + b);
        }
        w.rescan_edited("sequence_bias")?;
        Ok(Applied::default())
    }

    fn setting(&self) -> String {
        format!("{} sequences", self.biases.len())
    }

    fn cut_reason(&self, _i: usize, _input: &Snapshot) -> String {
        "a sequence bias took it to −inf".into()
    }
}
