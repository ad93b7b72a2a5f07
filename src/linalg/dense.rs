//! The plain row-major matrices the factorisations work on, and their doors to GEMM: the
//! crate's one entry (`crate::kernel::Gemm`) for a new product and for the update
//! `C −= A·B` in place, so every product here runs on the same lowering as user code.
//! A matrix window is the kernel's strided operand, [`MatRef`].

use crate::element::Float;
use crate::kernel::Gemm;
pub(crate) use crate::kernel::MatRef;

/// `A·B` as a new row-major buffer.
pub(crate) fn gemm<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>) -> Vec<T> {
    debug_assert_eq!(a.ncols(), b.nrows());
    Gemm::new().to_vec(a, b)
}

/// `C −= A·B` in place, where `C` is the `a.rows × b.cols` block at the start of `c` with
/// row stride `rsc` (column stride 1).
pub(crate) fn gemm_sub<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>, c: &mut [T], rsc: usize) {
    debug_assert_eq!(a.ncols(), b.nrows());
    // One thread, as the SVD's blocked updates have always run it.
    Gemm::new()
        .threads(1)
        .alpha(-T::ONE)
        .beta(T::ONE)
        .to_slice(a, b, c, rsc);
}

/// The transpose of a row-major `rows × cols` matrix, row-major.
pub(crate) fn transpose<T: Float>(a: &[T], rows: usize, cols: usize) -> Vec<T> {
    debug_assert_eq!(a.len(), rows * cols);
    let mut out = vec![T::ZERO; a.len()];
    // Tiles keep both the reads and the writes within a few cache lines.
    const TILE: usize = 32;
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                for j in j0..(j0 + TILE).min(cols) {
                    out[j * rows + i] = a[i * cols + j];
                }
            }
        }
    }
    out
}
