//! The output of a matmul, shared by the parallel tasks that each write their own columns
//! of it (tiles of 16 rows, panels of 8).

/// A pointer to the output.
#[derive(Clone, Copy)]
pub(crate) struct Target(pub(crate) *mut f32);

impl Target {
    /// (A method, so that closures capture the whole `Target`, which is `Sync`.)
    pub(crate) fn pointer(self) -> *mut f32 {
        self.0
    }
}
// SAFETY: every task writes a disjoint set of columns (see `Tiles::matmul` and
// `Panels::matmul`).
unsafe impl Send for Target {}
// SAFETY: as above.
unsafe impl Sync for Target {}
