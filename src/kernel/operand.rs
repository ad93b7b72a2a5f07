//! [`MatRef`]: one strided matrix, or a batch of them, inside a slice.
#![deny(unsafe_code)]

use crate::tensor::layout::max_offset;

/// A `rows × cols` matrix read through strides from a slice, optionally one per index of
/// up to six batch axes (see the [module](super) documentation for the format).
///
/// The invariant, checked by every constructor before any pointer is formed: every offset
/// `offset + Σ idx[a]·batch_strides[a] + i·rs + j·cs` (each `idx[a] < batch_dims[a]`,
/// `i < rows`, `j < cols`) lies in `data` and fits in `isize`, or the operand has no element
/// at all. [`t`](Self::t), [`item`](Self::item) and [`block`](Self::block) reach a subset of
/// the same offsets, so they keep it without a new check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a, T> {
    data: &'a [T],
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    batch_dims: &'a [usize],
    batch_strides: &'a [usize],
}

/// Batch axes an operand may have (six: a rank-8 layout, as einsum's steps allow).
const MAX_BATCH: usize = 6;

impl<'a, T> MatRef<'a, T> {
    /// The `rows × cols` matrix whose element `(i, j)` is `data[offset + i·rs + j·cs]`.
    ///
    /// # Panics
    ///
    /// When an element lies outside `data` (a bug of the caller).
    #[inline]
    pub(crate) fn new(
        data: &'a [T],
        offset: usize,
        (rows, cols): (usize, usize),
        (rs, cs): (usize, usize),
    ) -> Self {
        Self::batched(data, offset, (&[], &[]), (rows, cols), (rs, cs))
    }

    /// A contiguous row-major `rows × cols` matrix at the start of `data`.
    ///
    /// # Panics
    ///
    /// When `data` is shorter than `rows · cols`.
    #[inline]
    pub(crate) fn rows(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::new(data, 0, (rows, cols), (cols, 1))
    }

    /// One matrix per index of the batch axes `batch_dims`, item `idx` starting at
    /// `offset + Σ idx[a]·batch_strides[a]`.
    ///
    /// # Panics
    ///
    /// When an element lies outside `data`, when there is not one stride per batch axis, or
    /// more than six batch axes (bugs of the caller).
    pub(crate) fn batched(
        data: &'a [T],
        offset: usize,
        (batch_dims, batch_strides): (&'a [usize], &'a [usize]),
        (rows, cols): (usize, usize),
        (rs, cs): (usize, usize),
    ) -> Self {
        assert_eq!(
            batch_dims.len(),
            batch_strides.len(),
            "one stride per batch axis"
        );
        assert!(batch_dims.len() <= MAX_BATCH, "at most six batch axes");
        let m = MatRef {
            data,
            offset,
            rows,
            cols,
            rs,
            cs,
            batch_dims,
            batch_strides,
        };
        m.check();
        m
    }

    /// Asserts the invariant (see the type's documentation).
    fn check(&self) {
        let nb = self.batch_dims.len();
        let mut dims = [0usize; MAX_BATCH + 2];
        let mut strides = [0usize; MAX_BATCH + 2];
        dims[..nb].copy_from_slice(self.batch_dims);
        strides[..nb].copy_from_slice(self.batch_strides);
        dims[nb..nb + 2].copy_from_slice(&[self.rows, self.cols]);
        strides[nb..nb + 2].copy_from_slice(&[self.rs, self.cs]);
        if let Some(max) = max_offset(self.offset, &dims[..nb + 2], &strides[..nb + 2]) {
            assert!(
                max < self.data.len(),
                "GEMM operand reaches past its buffer"
            );
            assert!(
                max <= isize::MAX as usize,
                "GEMM operand offsets must fit in isize"
            );
        }
    }

    /// The transpose: rows and columns swapped, with their strides. No copy.
    #[inline]
    pub(crate) fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Batch item `idx` (one index per batch axis), as a matrix without batch axes.
    ///
    /// # Panics
    ///
    /// When `idx` has the wrong length or an index is out of range.
    #[inline]
    pub(crate) fn item(self, idx: &[usize]) -> MatRef<'a, T> {
        assert_eq!(idx.len(), self.batch_dims.len(), "one index per batch axis");
        let mut offset = self.offset;
        for ((&i, &d), &s) in idx.iter().zip(self.batch_dims).zip(self.batch_strides) {
            assert!(i < d, "batch index out of range");
            offset += i * s;
        }
        MatRef {
            offset,
            batch_dims: &[],
            batch_strides: &[],
            ..self
        }
    }

    /// Rows `r0..r0 + rows` and columns `c0..c0 + cols` (of every batch item).
    ///
    /// # Panics
    ///
    /// When the block does not lie inside the matrix.
    #[inline]
    pub(crate) fn block(
        self,
        (r0, rows): (usize, usize),
        (c0, cols): (usize, usize),
    ) -> MatRef<'a, T> {
        assert!(
            r0 + rows <= self.rows && c0 + cols <= self.cols,
            "block outside the matrix"
        );
        // An empty block may keep any offset: it reaches no element. A non-empty one starts
        // at an element of the matrix, so the sum does not overflow.
        let offset = if rows == 0 || cols == 0 {
            self.offset
        } else {
            self.offset + r0 * self.rs + c0 * self.cs
        };
        MatRef {
            offset,
            rows,
            cols,
            ..self
        }
    }

    /// Rows of the matrix.
    #[inline]
    pub(crate) fn nrows(&self) -> usize {
        self.rows
    }

    /// Columns of the matrix.
    #[inline]
    pub(crate) fn ncols(&self) -> usize {
        self.cols
    }

    /// The row and column strides.
    #[inline]
    pub(crate) fn strides(&self) -> (usize, usize) {
        (self.rs, self.cs)
    }

    /// The batch axes' sizes.
    #[inline]
    pub(crate) fn batch_dims(&self) -> &'a [usize] {
        self.batch_dims
    }

    /// Whether the operand has no element.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.rows == 0 || self.cols == 0 || self.batch_dims.contains(&0)
    }

    /// The offset of batch item `idx`'s first element (`idx` in row-major order of the batch
    /// axes), inside `data` when the operand has an element.
    #[inline]
    pub(super) fn item_offset(&self, idx: &[usize]) -> usize {
        self.offset
            + idx
                .iter()
                .zip(self.batch_strides)
                .map(|(i, s)| i * s)
                .sum::<usize>()
    }

    /// A pointer to the element at `offset` (an item's first element), or to the slice's
    /// start when the operand has no element (then nothing is read through it).
    #[inline]
    pub(super) fn ptr_at(&self, offset: usize) -> *const T {
        if self.is_empty() {
            self.data.as_ptr()
        } else {
            // `offset` is an item's first element, inside `data` by the invariant, so the
            // index is in bounds.
            self.data[offset..].as_ptr()
        }
    }
}
