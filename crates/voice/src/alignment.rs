//! Character timings for ElevenLabs' `with-timestamps`, from the model's own durations.
//!
//! - Phonemes: each phoneme's time is the sum of its ids' durations (its own id and the
//!   pad after it), offset by the sentences and silences before it. That is
//!   `normalized_alignment`, over the IPA dial spoke.
//! - Text: within a sentence, espeak's words (the IPA split at spaces) are matched to the
//!   text's whitespace-separated words. When the counts agree, each word spans its
//!   phonemes' time and its characters share it evenly; otherwise the sentence's
//!   characters share its speech evenly. Characters between words (spaces) span the gap.

use crate::voice::Take;

/// Characters with start and end times in seconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Alignment {
    /// One entry per character.
    pub characters: Vec<String>,
    /// Start times.
    pub character_start_times_seconds: Vec<f64>,
    /// End times.
    pub character_end_times_seconds: Vec<f64>,
}

impl Alignment {
    fn push(&mut self, c: char, start: f64, end: f64) {
        self.characters.push(c.to_string());
        self.character_start_times_seconds.push(start);
        self.character_end_times_seconds.push(end.max(start));
    }
}

/// Each sentence's start time in the take.
fn sentence_offsets(take: &Take) -> Vec<f64> {
    let rate = f64::from(take.sample_rate);
    let silence = Take::silence_samples(take.sample_rate);
    let mut t = 0.0;
    take.sentences
        .iter()
        .map(|s| {
            let at = t;
            t += (s.samples.len() + silence) as f64 / rate;
            at
        })
        .collect()
}

/// The IPA dial spoke, phoneme by phoneme.
pub fn phoneme_alignment(take: &Take) -> Alignment {
    let mut out = Alignment::default();
    for (s, offset) in take.sentences.iter().zip(sentence_offsets(take)) {
        for (c, start, end) in s.phoneme_times(take.sample_rate) {
            out.push(c, offset + start, offset + end);
        }
    }
    out
}

/// The text the take was made from, character by character.
pub fn text_alignment(text: &str, take: &Take) -> Alignment {
    // (byte range in `text`, start, end) for every word dial could place.
    let mut anchors: Vec<(std::ops::Range<usize>, f64, f64)> = Vec::new();
    for (s, offset) in take.sentences.iter().zip(sentence_offsets(take)) {
        let times = s.phoneme_times(take.sample_rate);
        let Some(span) = text.get(s.plan.text.clone()) else {
            continue;
        };
        let words: Vec<std::ops::Range<usize>> = span
            .split_whitespace()
            .map(|w| {
                let start = w.as_ptr() as usize - text.as_ptr() as usize;
                start..start + w.len()
            })
            .collect();
        let mut groups: Vec<(f64, f64)> = Vec::new();
        let mut current: Option<(f64, f64)> = None;
        for &(c, start, end) in &times {
            if c == ' ' {
                groups.extend(current.take());
            } else {
                current = Some(current.map_or((start, end), |(s0, _)| (s0, end)));
            }
        }
        groups.extend(current);
        if groups.len() == words.len() {
            for (w, (a, b)) in words.into_iter().zip(groups) {
                anchors.push((w, offset + a, offset + b));
            }
        } else if let (Some(first), Some(last)) = (times.first(), times.last()) {
            let trimmed = span.trim();
            let start = trimmed.as_ptr() as usize - text.as_ptr() as usize;
            anchors.push((
                start..start + trimmed.len(),
                offset + first.1,
                offset + last.2,
            ));
        }
    }
    let mut out = Alignment::default();
    let mut previous_end = 0.0;
    let mut next = 0;
    for (at, c) in text.char_indices() {
        while next < anchors.len() && anchors[next].0.end <= at {
            previous_end = anchors[next].2;
            next += 1;
        }
        match anchors.get(next) {
            Some((range, start, end)) if range.start <= at => {
                let chars = text[range.clone()].chars().count().max(1) as f64;
                let i = text[range.start..at].chars().count() as f64;
                let step = (end - start) / chars;
                out.push(c, start + i * step, start + (i + 1.0) * step);
            }
            Some((_, start, _)) => out.push(c, previous_end, *start),
            None => out.push(c, previous_end, previous_end),
        }
    }
    out
}
