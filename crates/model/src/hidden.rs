//! Final hidden states of a run of positions.

/// `rows × width` hidden states, normed, ready for [`crate::Session::logits`].
#[derive(Debug, Clone, PartialEq)]
pub struct Hidden {
    width: usize,
    values: Vec<f32>,
}

impl Hidden {
    pub(crate) fn new(width: usize, values: Vec<f32>) -> Self {
        Hidden { width, values }
    }

    /// Positions held.
    pub fn rows(&self) -> usize {
        self.values.len() / self.width.max(1)
    }

    /// Rows `start .. start + n` (clamped to what there is).
    pub fn narrow(&self, start: usize, n: usize) -> Hidden {
        let end = (start + n).min(self.rows());
        let start = start.min(end);
        Hidden::new(
            self.width,
            self.values[start * self.width..end * self.width].to_vec(),
        )
    }

    pub(crate) fn values(&self) -> &[f32] {
        &self.values
    }

    pub(crate) fn append(&mut self, other: Hidden) {
        self.values.extend(other.values);
    }
}
