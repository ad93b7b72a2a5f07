//! The plain row-major matrices the factorisations work on, and their doors to GEMM: the
//! crate's own typed `matmul` on `(Dyn, Dyn)` views for a new product, and the strided
//! `C = α·A·B + β·C` entry of the matmul kernel for an update in place, so every product
//! here runs on the same `matrixmultiply` lowering as user code.

use crate::dim::Dyn;
use crate::element::Float;
use crate::ops::matmul::kernel::{gemm_acc, Operand};
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

    fn operand(&self) -> Operand<'a, T> {
        Operand {
            data: self.data,
            offset: self.off,
            batch_strides: &[],
            rs: self.rs,
            cs: self.cs,
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

/// `C −= A·B` in place, where `C` is the `a.rows × b.cols` block at the start of `c` with
/// row stride `rsc` (column stride 1).
pub(crate) fn gemm_sub<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>, c: &mut [T], rsc: usize) {
    debug_assert_eq!(a.cols, b.rows);
    gemm_acc(
        a.rows,
        a.cols,
        b.cols,
        -T::ONE,
        &a.operand(),
        &b.operand(),
        T::ONE,
        c,
        rsc,
    );
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
