//! The plain row-major matrices the factorisations work on, and their one door to GEMM: the
//! crate's own typed `matmul` on `(Dyn, Dyn)` views, so every product here runs on the same
//! strided `matrixmultiply` lowering as user code.

use crate::dim::Dyn;
use crate::element::Float;
use crate::tensor::TensorView;

/// A strided `rows × cols` window of a slice.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    data: &'a [T],
    off: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T: Float> MatRef<'a, T> {
    pub(crate) fn new(
        data: &'a [T],
        off: usize,
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
    ) -> Self {
        MatRef {
            data,
            off,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// A contiguous row-major matrix.
    pub(crate) fn rows(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::new(data, 0, rows, cols, cols, 1)
    }

    /// The transpose, as a view.
    pub(crate) fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    fn view(&self) -> TensorView<'a, (Dyn, Dyn), T> {
        TensorView::from_parts(
            self.data,
            self.off,
            (Dyn::new(self.rows), Dyn::new(self.cols)),
            &[self.rs, self.cs],
        )
        .expect("linalg: a matrix window reaches outside its buffer")
    }
}

/// `A·B` as a new row-major buffer.
pub(crate) fn gemm<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>) -> Vec<T> {
    debug_assert_eq!(a.cols, b.rows);
    a.view().matmul(&b.view()).into_vec()
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
