//! Weight bytes, owned or mapped from the model file.

use std::ops::{Deref, Range};
use std::sync::Arc;

/// A matrix's bytes: a vector, or a range of a memory-mapped file (so loading a model
/// copies nothing and its pages are shared with the page cache).
#[derive(Debug, Clone)]
pub enum WeightBytes {
    /// Bytes in memory.
    Owned(Vec<u8>),
    /// `range` of `map`.
    Mapped {
        /// The mapped file.
        map: Arc<memmap2::Mmap>,
        /// Where the matrix lies in it.
        range: Range<usize>,
    },
}

impl WeightBytes {
    /// `range` of `map`, or `None` when it lies outside the map.
    pub fn mapped(map: Arc<memmap2::Mmap>, range: Range<usize>) -> Option<Self> {
        (range.start <= range.end && range.end <= map.len())
            .then_some(WeightBytes::Mapped { map, range })
    }
}

impl WeightBytes {
    /// Lets the kernel drop the resident pages of `range` (relative to these bytes) when
    /// they are mapped: the tiles hold what they held, and a later read (a scalar
    /// kernel, an embedding row) faults them back in from the file. Owned bytes stay.
    pub fn release(&self, range: Range<usize>) {
        if let WeightBytes::Mapped { map, range: whole } = self {
            const PAGE: usize = 4096;
            let start = (whole.start + range.start).div_ceil(PAGE) * PAGE;
            let end = (whole.start + range.end.min(whole.len())) / PAGE * PAGE;
            if start < end {
                // SAFETY: the map is read-only and file-backed, so dropped pages read back
                // the same bytes; nothing holds a reference into them across this call
                // that relies on residency.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        start,
                        end - start,
                    )
                };
            }
        }
    }
}

impl From<Vec<u8>> for WeightBytes {
    fn from(bytes: Vec<u8>) -> Self {
        WeightBytes::Owned(bytes)
    }
}

impl Deref for WeightBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            WeightBytes::Owned(bytes) => bytes,
            WeightBytes::Mapped { map, range } => &map[range.clone()],
        }
    }
}
