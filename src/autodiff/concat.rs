//! Traced `concat` and `stack`, of traced and constant parts alike.
//!
//! The forward is the tensor op ([`Tensor::try_concat`], [`Tensor::try_stack`]) on the
//! parts' views, with its rules ([`CanConcat`], [`SumOf`], [`CountsParts`]) as the bounds.
//! The backward hands each traced part its block of the output gradient: the gradient is
//! read through the output's row-major strides from the block's first element and added
//! into the part's node through the part's own strides (a transposed part included); a
//! constant part gets nothing.
//!
//! ```
//! use shapecheck::autodiff::{Param, Tape};
//! use shapecheck::prelude::*;
//! let x = Param::new(Tensor::<(D<2>, D<2>)>::ones());
//! let tape = Tape::new();
//! let cls = tape.constant(Tensor::<(D<1>, D<2>)>::zeros()); // a constant part
//! let y: Var<(D<3>, D<2>)> = cls.concat(A0, &tape.param(&x));
//! let w = tape.constant(Tensor::<(D<3>, D<2>)>::from_fn(|[i, j]| (2 * i + j) as f32));
//! let g = (&y * &w).sum_all().backward();
//! assert_eq!(g.of(&x).unwrap().to_vec(), [2., 3., 4., 5.]); // rows 1 and 2 of w
//! ```

use super::strided::{contiguous, for_each_pair, remove};
use super::tape::GradSink;
use super::var::{one_tape, record, Handle, Var};
use crate::dim::Dim;
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::shape::{Axis, CanConcat, CountsParts, HasAxis, InsertAxis, ReplaceAxis, Shape, SumOf};
use crate::tensor::{Tensor, TensorView};

/// Adds the block of `g` that starts at `offset` and is read with `strides` (over `x`'s
/// dims) into `x`'s gradient, through `x`'s layout. Nothing for a constant.
fn add_block<S: Shape, T: Float>(
    x: &Handle<S, T>,
    g: &[T],
    offset: usize,
    strides: &[usize],
    sink: &mut GradSink<'_, T>,
) {
    let Some(id) = x.id else { return };
    let buf = sink.buf(id);
    let dims = x.shape.dims();
    for_each_pair(
        &dims,
        (x.offset, &x.strides),
        (offset, strides),
        |_, ox, og| {
            buf[ox] += g[og];
        },
    );
}

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// `self` and `other` laid end to end along axis `I` ([`Tensor::concat`]: the other
    /// dims must be the same types, [`CanConcat`]; the joined dim `C` comes from the result
    /// type and must be the sum, [`SumOf`]). Either side may be traced or constant.
    ///
    /// # Panics
    ///
    /// When a runtime dim on another axis differs, with the message of
    /// [`try_concat`](Self::try_concat).
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let a = tape.constant(Tensor::<(D<2>, D<1>)>::zeros());
    /// let b = tape.constant(Tensor::<(D<2>, D<2>)>::ones());
    /// let c: Var<(D<2>, D<3>)> = a.concat(A1, &b);
    /// assert_eq!(c.value().to_vec(), [0., 1., 1., 0., 1., 1.]);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<3>, D<2>)>::zeros());
    /// let y = tape.constant(Tensor::<(D<4>, D<2>)>::zeros());
    /// let z: Var<(D<8>, D<2>)> = x.concat(A0, &y); // 3 + 4 is not 8
    /// ```
    #[track_caller]
    pub fn concat<const I: usize, R, C>(
        &self,
        axis: Axis<I>,
        other: &Var<'t, R, T>,
    ) -> Var<'t, <S as ReplaceAxis<I, C>>::Output, T>
    where
        R: HasAxis<I>,
        S: CanConcat<I, R> + ReplaceAxis<I, C>,
        C: SumOf<<S as HasAxis<I>>::Dim, <R as HasAxis<I>>::Dim>,
    {
        self.try_concat(axis, other).or_panic()
    }

    /// [`concat`](Self::concat) for any dims, checked at run time: the `Err` of
    /// [`Tensor::try_concat`].
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let a = tape.constant(Tensor::<(Dyn, D<2>)>::ones_with((Dyn::new(1), D)));
    /// let b = tape.constant(Tensor::<(Dyn, D<2>)>::zeros_with((Dyn::new(2), D)));
    /// let c: Var<(Dyn, D<2>)> = a.try_concat(A0, &b).unwrap();
    /// assert_eq!(c.value().to_vec(), [1., 1., 0., 0., 0., 0.]);
    /// assert!(a.try_concat::<1, _, Dyn>(A1, &b).is_err()); // 1 row and 2 rows
    /// ```
    pub fn try_concat<const I: usize, R, C>(
        &self,
        axis: Axis<I>,
        other: &Var<'t, R, T>,
    ) -> Result<Var<'t, <S as ReplaceAxis<I, C>>::Output, T>, ShapeError>
    where
        R: Shape,
        S: CanConcat<I, R> + ReplaceAxis<I, C>,
        C: Dim,
    {
        let value: Tensor<<S as ReplaceAxis<I, C>>::Output, T> =
            self.value().try_concat(axis, &other.value())?;
        let (a, b) = (self.h.clone(), other.h.clone());
        let traced = a.is_traced() || b.is_traced();
        let tape = one_tape("concat", &[self.tape, other.tape]);
        Ok(record(tape, value, traced, move |out| {
            let gs = contiguous(&out.shape.dims());
            let b_offset = a.shape.dims()[I] * gs[I];
            Box::new(move |g, sink| {
                add_block(&a, g, 0, &gs, sink);
                add_block(&b, g, b_offset, &gs, sink);
            })
        }))
    }

    /// `N` values of the same shape lined up along a new axis `I` ([`Tensor::stack`]: the
    /// new dim `K` comes from the result type and must have size `N`, [`CountsParts`]).
    /// Parts may be traced or constant.
    ///
    /// # Panics
    ///
    /// When a runtime dim differs between parts, with the message of
    /// [`try_stack`](Self::try_stack).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let p = Param::new(Tensor::<(D<2>,)>::ones());
    /// let tape = Tape::new();
    /// let (a, z) = (tape.param(&p), tape.constant(Tensor::<(D<2>,)>::zeros()));
    /// let s: Var<(D<2>, D<3>)> = Var::stack(A1, [&a, &z, &a]);
    /// assert_eq!(s.value().to_vec(), [1., 0., 1., 1., 0., 1.]);
    /// let g = s.sum_all().backward();
    /// assert_eq!(g.of(&p).unwrap().to_vec(), [2., 2.]); // used twice
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let h = tape.constant(Tensor::<(D<2>,)>::zeros());
    /// let s: Var<(D<4>, D<2>)> = Var::stack(A0, [&h, &h, &h]); // 3 parts, not 4
    /// ```
    #[track_caller]
    pub fn stack<const I: usize, const N: usize, P, K>(
        axis: Axis<I>,
        parts: [&Var<'t, P, T>; N],
    ) -> Self
    where
        P: InsertAxis<I, K, Output = S>,
        K: CountsParts<N>,
    {
        Self::try_stack::<I, P, K>(axis, &parts).or_panic()
    }

    /// [`stack`](Self::stack) of a count known at run time, for any dims: the `Err` of
    /// [`Tensor::try_stack`] (parts of different sizes, no part, or a new dim that cannot
    /// have the count as its size).
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let rows: Vec<Var<(D<2>,)>> = (0..3).map(|k| tape.constant(Tensor::full(k as f32))).collect();
    /// let parts: Vec<&Var<(D<2>,)>> = rows.iter().collect();
    /// let m: Var<(Dyn, D<2>)> = Var::try_stack(A0, &parts).unwrap();
    /// assert_eq!(m.value().to_vec(), [0., 0., 1., 1., 2., 2.]);
    /// ```
    pub fn try_stack<const I: usize, P, K>(
        axis: Axis<I>,
        parts: &[&Var<'t, P, T>],
    ) -> Result<Self, ShapeError>
    where
        P: InsertAxis<I, K, Output = S>,
        K: Dim,
    {
        let views: Vec<TensorView<'_, P, T>> = parts.iter().map(|p| p.value()).collect();
        let refs: Vec<&TensorView<'_, P, T>> = views.iter().collect();
        let value = Tensor::<S, T>::try_stack::<I, TensorView<'_, P, T>, K>(axis, &refs)?;
        // `try_stack` has returned `Err` for no part, so there is a first one.
        let tapes: Vec<_> = parts.iter().map(|p| p.tape).collect();
        let tape = one_tape("stack", &tapes);
        let hs: Vec<Handle<P, T>> = parts.iter().map(|p| p.h.clone()).collect();
        let traced = hs.iter().any(Handle::is_traced);
        Ok(record(tape, value, traced, move |out| {
            let gs = contiguous(&out.shape.dims());
            let step = gs[I];
            let part_strides = remove(&gs, I);
            Box::new(move |g, sink| {
                for (k, h) in hs.iter().enumerate() {
                    add_block(h, g, k * step, &part_strides, sink);
                }
            })
        }))
    }
}
