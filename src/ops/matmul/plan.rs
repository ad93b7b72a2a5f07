//! The plan of one matrix product, worked out here and only here: how the operands' axes map
//! to GEMM extents and strides, and how the batch is walked. The tensor product
//! ([`ops::matmul`](super)) and the traced one (`autodiff::matmul`, forward and backward)
//! both read it.
//!
//! Batch axes follow NumPy: aligned on the last batch axis, each pair of sizes is equal or
//! one of them is 1, and an operand with fewer batch axes (a `(K, N)` right operand, a
//! `(M, K)` left one) is read as if its missing leading axes were 1. A size-1 axis that is
//! stretched is read with stride 0: the broadcast operand is never copied.
//!
//! The plan does not choose threads: the GEMM decides them from the operand sizes
//! (`crate::parallel::threads`), capped by [`with_threads`](crate::with_threads).

use super::Form;
use crate::kernel::MatRef;

/// Batch axes a product may have (the `MatMul` impls go up to four).
pub(crate) const MAX_BATCH: usize = 4;

/// The GEMM view of `A · B`: extents `m × k · k × n`, each operand's row and column strides,
/// and the product's batch axes with each operand's stride along them (0 where the operand
/// is broadcast).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Rows of `A` and of the product.
    pub(crate) m: usize,
    /// The inner extent.
    pub(crate) k: usize,
    /// Columns of `B` and of the product.
    pub(crate) n: usize,
    /// `A`'s row and column strides.
    a_rc: (usize, usize),
    /// `B`'s row and column strides.
    b_rc: (usize, usize),
    /// How many batch axes the product has.
    nb: usize,
    /// The product's batch dims (the broadcast of the operands').
    batch: [usize; MAX_BATCH],
    /// `A`'s strides along the product's batch axes.
    a_bs: [usize; MAX_BATCH],
    /// `B`'s strides along the product's batch axes.
    b_bs: [usize; MAX_BATCH],
    /// The product's own (row-major) strides along its batch axes.
    c_bs: [usize; MAX_BATCH],
    /// Whether some batch axis of size > 1 is read with stride 0 by an operand that has it
    /// with size 1 or lacks it: that operand's gradient sums over the axis.
    a_stretched: bool,
    b_stretched: bool,
}

impl Plan {
    /// The plan of `lhs · rhs` for the operands' dims and strides, read as `form` says.
    /// `Err` holds what disagrees (the inner dims, or batch dims that do not broadcast), for
    /// the caller's `ShapeError`.
    pub(crate) fn new(
        form: Form,
        (ld, ls): (&[usize], &[usize]),
        (rd, rs): (&[usize], &[usize]),
    ) -> Result<Plan, String> {
        let mut plan = Plan {
            m: 1,
            k: 0,
            n: 1,
            a_rc: (0, 0),
            b_rc: (0, 0),
            nb: 0,
            batch: [1; MAX_BATCH],
            a_bs: [0; MAX_BATCH],
            b_bs: [0; MAX_BATCH],
            c_bs: [0; MAX_BATCH],
            a_stretched: false,
            b_stretched: false,
        };
        let k2;
        match form {
            Form::MatMat => {
                (plan.m, plan.k, k2, plan.n) = (ld[0], ld[1], rd[0], rd[1]);
                (plan.a_rc, plan.b_rc) = ((ls[0], ls[1]), (rs[0], rs[1]));
            }
            Form::MatVec => {
                (plan.m, plan.k, k2) = (ld[0], ld[1], rd[0]);
                (plan.a_rc, plan.b_rc) = ((ls[0], ls[1]), (rs[0], 1));
            }
            Form::VecMat => {
                (plan.k, k2, plan.n) = (ld[0], rd[0], rd[1]);
                (plan.a_rc, plan.b_rc) = ((1, ls[0]), (rs[0], rs[1]));
            }
            Form::SharedRhs | Form::Batched => {
                let (r, rr) = (ld.len(), rd.len());
                (plan.m, plan.k, k2, plan.n) = (ld[r - 2], ld[r - 1], rd[rr - 2], rd[rr - 1]);
                (plan.a_rc, plan.b_rc) = ((ls[r - 2], ls[r - 1]), (rs[rr - 2], rs[rr - 1]));
                plan.batch_axes((&ld[..r - 2], &ls[..r - 2]), (&rd[..rr - 2], &rs[..rr - 2]))?;
            }
        }
        if plan.k != k2 {
            return Err(format!(
                "the inner dims differ ({} on the left, {k2} on the right)",
                plan.k
            ));
        }
        Ok(plan)
    }

    /// Broadcasts the operands' batch axes (trailing alignment) into the product's.
    fn batch_axes(
        &mut self,
        (ad, as_): (&[usize], &[usize]),
        (bd, bs): (&[usize], &[usize]),
    ) -> Result<(), String> {
        let nb = ad.len().max(bd.len());
        assert!(nb <= MAX_BATCH, "at most {MAX_BATCH} batch axes");
        let (pa, pb) = (nb - ad.len(), nb - bd.len());
        for j in 0..nb {
            // A missing leading axis reads as size 1, stride 0.
            let (da, sa) = if j < pa {
                (1, 0)
            } else {
                (ad[j - pa], as_[j - pa])
            };
            let (db, sb) = if j < pb {
                (1, 0)
            } else {
                (bd[j - pb], bs[j - pb])
            };
            let d = match (da, db) {
                _ if da == db => da,
                (1, _) => db,
                (_, 1) => da,
                _ => {
                    return Err(format!(
                        "the batch dims differ ({ad:?} on the left, {bd:?} on the right)"
                    ))
                }
            };
            self.batch[j] = d;
            self.a_bs[j] = if da == 1 { 0 } else { sa };
            self.b_bs[j] = if db == 1 { 0 } else { sb };
            self.a_stretched |= da == 1 && d > 1;
            self.b_stretched |= db == 1 && d > 1;
        }
        self.nb = nb;
        let mut acc = self.m * self.n;
        for j in (0..nb).rev() {
            self.c_bs[j] = acc;
            acc = acc.saturating_mul(self.batch[j]);
        }
        Ok(())
    }

    /// The product's batch dims (empty for an unbatched product).
    pub(crate) fn batch_dims(&self) -> &[usize] {
        &self.batch[..self.nb]
    }

    /// Whether `A` is read with stride 0 along a batch axis of size > 1 (its gradient then
    /// sums over that axis).
    pub(crate) fn a_stretched(&self) -> bool {
        self.a_stretched
    }

    /// Whether `B` is read with stride 0 along a batch axis of size > 1.
    pub(crate) fn b_stretched(&self) -> bool {
        self.b_stretched
    }

    /// `A` inside `data` (its first element at `offset`), one matrix per batch item.
    ///
    /// # Panics
    ///
    /// When an element lies outside `data` (the plan was made for other dims or strides).
    pub(crate) fn a<'x, T>(&'x self, data: &'x [T], offset: usize) -> MatRef<'x, T> {
        MatRef::batched(
            data,
            offset,
            (self.batch_dims(), &self.a_bs[..self.nb]),
            (self.m, self.k),
            self.a_rc,
        )
    }

    /// `B` inside `data` (its first element at `offset`), one matrix per batch item.
    ///
    /// # Panics
    ///
    /// As [`a`](Self::a).
    pub(crate) fn b<'x, T>(&'x self, data: &'x [T], offset: usize) -> MatRef<'x, T> {
        MatRef::batched(
            data,
            offset,
            (self.batch_dims(), &self.b_bs[..self.nb]),
            (self.k, self.n),
            self.b_rc,
        )
    }

    /// The product (or its gradient) as a row-major buffer, batch items one after another.
    ///
    /// # Panics
    ///
    /// When `data` is shorter than the product.
    pub(crate) fn c<'x, T>(&'x self, data: &'x [T]) -> MatRef<'x, T> {
        MatRef::batched(
            data,
            0,
            (self.batch_dims(), &self.c_bs[..self.nb]),
            (self.m, self.n),
            (self.n, 1),
        )
    }

    /// For an operand of dims `dims` stored dense and row-major (its gradient), the stride
    /// along each of the product's batch axes: 0 where the operand lacks the axis or has it
    /// with size 1, so that every product item lands on the operand item it was read from.
    pub(crate) fn dense_batch_strides(&self, dims: &[usize]) -> [usize; MAX_BATCH] {
        let r = dims.len();
        let lead = self.nb + 2 - r;
        let mut out = [0; MAX_BATCH];
        let mut acc = dims[r - 2] * dims[r - 1];
        for j in (lead..self.nb).rev() {
            let d = dims[j - lead];
            out[j] = if d == 1 { 0 } else { acc };
            acc *= d;
        }
        out
    }
}

/// Whether the axes `..r-1` of a layout of rank `r` collapse into one axis of stride
/// `strides[r - 2]` (each laid out row-major over the next; size-1 axes do not matter), so
/// that the leading axes and the rows read as one matrix of their product rows.
pub(crate) fn rows_collapse(dims: &[usize], strides: &[usize]) -> bool {
    let r = dims.len();
    (0..r.saturating_sub(2)).all(|j| dims[j] <= 1 || strides[j] == dims[j + 1] * strides[j + 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_axes_broadcast_with_stride_zero() {
        // (2, 1, 3, 4) · (1, 5, 4, 6), both contiguous.
        let p = Plan::new(
            Form::Batched,
            (&[2, 1, 3, 4], &[12, 12, 4, 1]),
            (&[1, 5, 4, 6], &[120, 24, 6, 1]),
        )
        .unwrap();
        assert_eq!(p.batch_dims(), &[2, 5]);
        assert_eq!((&p.a_bs[..2], &p.b_bs[..2]), (&[12, 0][..], &[0, 24][..]));
        assert_eq!(&p.c_bs[..2], &[90, 18]);
        assert!(p.a_stretched() && p.b_stretched());
        assert_eq!(&p.dense_batch_strides(&[2, 1, 3, 4])[..2], &[12, 0]);
        assert_eq!(&p.dense_batch_strides(&[5, 4, 6])[..2], &[0, 24]);
        // A missing leading axis of the right operand.
        let p = Plan::new(
            Form::SharedRhs,
            (&[3, 2, 4], &[8, 4, 1]),
            (&[4, 5], &[5, 1]),
        )
        .unwrap();
        assert_eq!((p.batch_dims(), &p.b_bs[..1]), (&[3][..], &[0][..]));
        assert!(!p.a_stretched() && p.b_stretched());
        let err = Plan::new(
            Form::Batched,
            (&[2, 3, 4], &[12, 4, 1]),
            (&[3, 4, 5], &[20, 5, 1]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "the batch dims differ ([2] on the left, [3] on the right)"
        );
    }
}
