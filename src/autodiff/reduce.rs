//! Traced reductions: sum, mean and max along an axis, and the whole-tensor sum and mean
//! (rank-0 results, the shape a loss has).
//!
//! The gradient of a sum is the output gradient read back over the reduced axis (stride
//! 0); of a mean, that divided by the axis length; of a max, the output gradient routed to
//! the element that won (the first one, on ties, as `argmax` picks it; NaN never wins).

use super::strided::{contiguous, for_each_pair, insert_zero, remove};
use super::var::{record, Var};
use crate::element::Float;
use crate::ops::Reductions;
use crate::shape::{HasAxis, Shape};
use crate::tensor::Tensor;

/// The gradient `g` of a reduction along `axis` (row-major over the reduced dims) read
/// back over `self`'s dims and scaled, row-major over `self`'s dims.
fn spread<T: Float>(dims: &[usize], axis: usize, g: &[T], scale: T) -> Vec<T> {
    let gs = insert_zero(&contiguous(&remove(dims, axis)), axis);
    let zeros = vec![0usize; dims.len()];
    let mut d = Vec::with_capacity(dims.iter().product());
    for_each_pair(dims, (0, &gs), (0, &zeros), |_, og, _| {
        d.push(g[og] * scale)
    });
    d
}

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    fn along<const I: usize>(
        &self,
        value: Tensor<<S as HasAxis<I>>::Removed, T>,
        mean: bool,
    ) -> Var<'t, <S as HasAxis<I>>::Removed, T>
    where
        S: HasAxis<I>,
    {
        let x = self.h.clone();
        record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| {
                let dims = x.shape.dims();
                let scale = if mean {
                    T::ONE / T::from_usize(dims[I])
                } else {
                    T::ONE
                };
                let d = spread(&dims, I, g, scale);
                sink.add(&x, &d);
            })
        })
    }

    /// Sum along axis `I`, which leaves the type.
    pub fn sum<const I: usize>(&self) -> Var<'t, <S as HasAxis<I>>::Removed, T>
    where
        S: HasAxis<I>,
    {
        self.along::<I>(self.value().sum::<I>(), false)
    }

    /// Mean along axis `I`, which leaves the type.
    pub fn mean<const I: usize>(&self) -> Var<'t, <S as HasAxis<I>>::Removed, T>
    where
        S: HasAxis<I>,
    {
        self.along::<I>(self.value().mean::<I>(), true)
    }

    /// Maximum along axis `I` (NaN ignored); the gradient goes to the first maximal
    /// element of each lane.
    pub fn max<const I: usize>(&self) -> Var<'t, <S as HasAxis<I>>::Removed, T>
    where
        S: HasAxis<I>,
    {
        let v = self.value();
        let (value, winners) = (v.max::<I>(), v.argmax::<I>());
        let x = self.h.clone();
        record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| {
                let dims = x.shape.dims();
                let xs = contiguous(&dims);
                let win = winners.as_slice();
                let gi = insert_zero(&contiguous(&remove(&dims, I)), I);
                let mut d = vec![T::ZERO; x.shape.num_elements()];
                for_each_pair(&dims, (0, &xs), (0, &gi), |k, _, og| {
                    if (k / xs[I]) % dims[I] == win[og] {
                        d[k] = g[og];
                    }
                });
                sink.add(&x, &d);
            })
        })
    }

    /// Sum of all elements, as a scalar `Var`.
    pub fn sum_all(&self) -> Var<'t, (), T> {
        self.whole(self.value().sum_all(), false)
    }

    /// Mean of all elements, as a scalar `Var`.
    pub fn mean_all(&self) -> Var<'t, (), T> {
        self.whole(self.value().mean_all(), true)
    }

    fn whole(&self, value: T, mean: bool) -> Var<'t, (), T> {
        let x = self.h.clone();
        let value = Tensor::from_parts((), vec![value]);
        record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| {
                let dims = x.shape.dims();
                let n = x.shape.num_elements();
                let d = if mean { g[0] / T::from_usize(n) } else { g[0] };
                let xs = x.strides.clone();
                sink.add_with(&x, &dims, &xs, |_, _| d);
            })
        })
    }
}
