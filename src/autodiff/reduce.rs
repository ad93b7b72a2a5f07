//! Traced reductions: sum, mean, max, var and norm along an axis (`op::<I>()`, and as on
//! tensors `op_keepdim::<I>()`, which keeps the axis as `D<1>`, and `op_last()`), and the
//! whole-tensor sum, mean, max, var and norm (rank-0 results, the shape a loss has).
//!
//! The gradient of a sum is the output gradient read back over the reduced axis (stride
//! 0); of a mean, that divided by the axis length; of a max, the output gradient routed to
//! the element that won (the first one, on ties, as `argmax` picks it; NaN never wins).
//! The variance is the population variance of the tensor op (divisor n, NumPy's default,
//! PyTorch's `correction=0`), whose gradient is `2(x − mean)/n`; the norm's is `x/‖x‖`,
//! taken as 0 for a lane whose norm is 0 (PyTorch's choice: the subgradient 0).

use super::strided::{contiguous, for_each_pair, insert_zero, remove};
use super::tape::GradSink;
use super::var::{record, Handle, Var};
use crate::dim::Dyn;
use crate::element::Float;
use crate::ops::reduce::{for_each_lane_offset, HasLastAxis};
use crate::ops::Reductions;
use crate::shape::{HasAxis, Shape};
use crate::tensor::Tensor;

/// The gradient `g` of a reduction along `axis` (row-major over the reduced dims) read
/// back over `self`'s dims and scaled, row-major over `self`'s dims.
fn spread<T: Float>(dims: &[usize], axis: usize, g: &[T], scale: T) -> Vec<T> {
    let gs = insert_zero(&contiguous(&remove(dims, axis)), axis);
    let zeros = vec![0usize; dims.len()];
    let mut d = crate::pool::with_capacity(dims.iter().product());
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
                let mut d = crate::pool::zeroed(x.shape.num_elements());
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

/// Adds, for each lane of `x` along `axis` (in row-major order of the other axes, the order
/// of `g` and `out`), `f(lane values, g[j], out[j], dx)` into the lane's gradient, through
/// `x`'s layout. Nothing for a constant.
fn add_per_lane<S: Shape, T: Float>(
    x: &Handle<S, T>,
    axis: usize,
    g: &[T],
    out: &[T],
    sink: &mut GradSink<'_, T>,
    f: impl Fn(&[T], T, T, &mut [T]),
) {
    let Some(id) = x.id else { return };
    let (xd, dims) = (x.data.slice(), x.shape.dims());
    let buf = sink.buf(id);
    let (mut vals, mut dx) = (Vec::new(), Vec::new());
    let mut j = 0;
    for_each_lane_offset(x.offset, &dims, &x.strides, axis, |start, stride, n| {
        vals.clear();
        vals.extend((0..n).map(|i| xd[start + i * stride]));
        dx.clear();
        dx.resize(n, T::ZERO);
        f(&vals, g[j], out[j], &mut dx);
        for (i, &d) in dx.iter().enumerate() {
            buf[start + i * stride] += d;
        }
        j += 1;
    });
}

/// A tensor reduction of a flattened value to a scalar.
type FlatReduction<T> = fn(&Tensor<(Dyn,), T>) -> Tensor<(), T>;

/// `dx = g·2(x − mean)/n`, the gradient of the population variance of `xs`.
fn var_grad<T: Float>(xs: &[T], g: T, _out: T, dx: &mut [T]) {
    let n = T::from_usize(xs.len());
    let mean = crate::kernel::pairwise::sum(xs) / n;
    let c = T::from_f64(2.0) * g / n;
    for (d, &x) in dx.iter_mut().zip(xs) {
        *d = c * (x - mean);
    }
}

/// `dx = g·x/‖x‖`, the gradient of the norm `out = ‖x‖` of `xs`; 0 where the norm is 0.
fn norm_grad<T: Float>(xs: &[T], g: T, norm: T, dx: &mut [T]) {
    if norm == T::ZERO {
        return;
    }
    let c = g / norm;
    for (d, &x) in dx.iter_mut().zip(xs) {
        *d = c * x;
    }
}

/// `dx = g`, the gradient of a sum.
fn sum_grad<T: Float>(_xs: &[T], g: T, _out: T, dx: &mut [T]) {
    dx.fill(g);
}

/// `dx = g/n`, the gradient of a mean.
fn mean_grad<T: Float>(xs: &[T], g: T, _out: T, dx: &mut [T]) {
    dx.fill(g / T::from_usize(xs.len()));
}

/// The gradient of a lane reduction: lane values, output gradient, output, lane gradient.
type LaneGrad<T> = fn(&[T], T, T, &mut [T]);

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// A reduction along `axis` whose value (any shape whose row-major order is that of
    /// the lanes: the axis removed, or kept as `D<1>`) the tensor op computed.
    fn lane_reduction<S2: Shape>(
        &self,
        value: Tensor<S2, T>,
        axis: usize,
        f: LaneGrad<T>,
    ) -> Var<'t, S2, T> {
        let x = self.h.clone();
        record(self.tape, value, x.is_traced(), move |out| {
            let out = out.clone();
            Box::new(move |g, sink| add_per_lane(&x, axis, g, out.data.slice(), sink, f))
        })
    }

    /// Population variance (divisor n, as the tensor op [`Reductions::var`]) along axis
    /// `I`, which leaves the type.
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let x = Param::new(Tensor::<(D<1>, D<2>)>::from_vec(vec![1.0, 3.0]).unwrap());
    /// let tape = Tape::new();
    /// let v = tape.param(&x).var::<1>();
    /// assert_eq!(v.value().to_vec(), [1.0]); // ((1 − 2)² + (3 − 2)²) / 2
    /// assert_eq!(v.sum_all().backward().of(&x).unwrap().to_vec(), [-1.0, 1.0]); // 2(x − μ)/n
    /// ```
    pub fn var<const I: usize>(&self) -> Var<'t, <S as HasAxis<I>>::Removed, T>
    where
        S: HasAxis<I>,
    {
        self.lane_reduction(self.value().var::<I>(), I, var_grad)
    }

    /// Euclidean (L2) norm along axis `I` (the tensor op [`Reductions::norm`], scaled
    /// against overflow), which leaves the type. The gradient is `x/‖x‖`, and 0 for a lane
    /// of norm 0.
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let x = Param::new(Tensor::<(D<2>,)>::from_vec(vec![3.0, 4.0]).unwrap());
    /// let tape = Tape::new();
    /// let n = tape.param(&x).norm::<0>();
    /// assert_eq!(n.item(), 5.0);
    /// assert_eq!(n.backward().of(&x).unwrap().to_vec(), [0.6, 0.8]);
    /// ```
    pub fn norm<const I: usize>(&self) -> Var<'t, <S as HasAxis<I>>::Removed, T>
    where
        S: HasAxis<I>,
    {
        self.lane_reduction(self.value().norm::<I>(), I, norm_grad)
    }

    /// A reduction of all elements, `value`, whose gradient `f` takes the elements in
    /// row-major order as one lane.
    fn whole_reduction(&self, value: T, f: LaneGrad<T>) -> Var<'t, (), T> {
        let x = self.h.clone();
        record(
            self.tape,
            Tensor::from_parts((), vec![value]),
            x.is_traced(),
            move |_| {
                Box::new(move |g, sink| {
                    let xs = x.view().to_vec();
                    let mut dx = crate::pool::zeroed(xs.len());
                    f(&xs, g[0], value, &mut dx);
                    sink.add(&x, &dx);
                })
            },
        )
    }

    /// The tensor op `op` along the one axis of the flattened value (a row-major copy).
    fn over_flat(&self, op: FlatReduction<T>) -> T {
        let flat = Tensor::from_parts(
            (Dyn::new(self.h.shape.num_elements()),),
            self.value().to_vec(),
        );
        op(&flat).as_slice()[0]
    }

    /// Population variance of all elements (the tensor op [`Reductions::var`] over the
    /// flattened value), as a scalar `Var`.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<2>, D<2>)>::from_vec(vec![1., 1., 3., 3.]).unwrap());
    /// assert_eq!(x.var_all().item(), 1.0);
    /// ```
    pub fn var_all(&self) -> Var<'t, (), T> {
        self.whole_reduction(self.over_flat(|t| t.var::<0>()), var_grad)
    }

    /// Euclidean (Frobenius) norm of all elements (the tensor op [`Reductions::norm`] over
    /// the flattened value, scaled against overflow), as a scalar `Var`.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<2>, D<2>)>::from_vec(vec![1., 1., 1., 1.]).unwrap());
    /// assert_eq!(x.norm_all().item(), 2.0);
    /// ```
    pub fn norm_all(&self) -> Var<'t, (), T> {
        self.whole_reduction(self.over_flat(|t| t.norm::<0>()), norm_grad)
    }

    /// Largest element ([`Reductions::max_all`]: NaN if the value holds one), as a scalar
    /// `Var`; the gradient goes to the first maximal element in row-major order (the first
    /// NaN, if any).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let x = Param::new(Tensor::<(D<3>,)>::from_vec(vec![1., 5., 5.]).unwrap());
    /// let tape = Tape::new();
    /// let m = tape.param(&x).max_all();
    /// assert_eq!(m.item(), 5.0);
    /// assert_eq!(m.backward().of(&x).unwrap().to_vec(), [0., 1., 0.]);
    /// ```
    pub fn max_all(&self) -> Var<'t, (), T> {
        self.whole_reduction(self.value().max_all(), max_grad)
    }
}

/// `dx = g` at the first element equal to `max` (the first NaN when `max` is NaN).
fn max_grad<T: Float>(xs: &[T], g: T, max: T, dx: &mut [T]) {
    let won = if max.is_nan() {
        xs.iter().position(|x| x.is_nan())
    } else {
        xs.iter().position(|&x| x == max)
    };
    if let Some(i) = won {
        dx[i] = g;
    }
}

// The `op_keepdim::<I>()` and `op_last()` forms of each reduction, as on tensors: the same
// lanes as `op::<I>()` (so the same backward), with the axis kept as `D<1>` or chosen as the
// last whatever the rank.
macro_rules! keepdim_and_last {
    ($($name:ident, $keep:ident, $last:ident, $grad:ident;)*) => {
        impl<'t, S: Shape, T: Float> Var<'t, S, T> {$(
            #[doc = concat!("[`", stringify!($name), "`](Self::", stringify!($name), ") along axis `I`, kept as `D<1>` so that the result broadcasts against `self` (the tensor op [`Reductions::", stringify!($keep), "`]).")]
            ///
            /// ```
            /// use shapecheck::autodiff::{Param, Tape};
            /// use shapecheck::prelude::*;
            /// let x = Param::new(Tensor::<(D<2>, D<3>), f64>::randn(0));
            /// let tape = Tape::new();
            #[doc = concat!("let k: Var<(D<2>, D<1>), f64> = tape.param(&x).", stringify!($keep), "::<1>();")]
            #[doc = concat!("assert_eq!(k.value().to_vec(), x.value().", stringify!($keep), "::<1>().as_slice());")]
            #[doc = concat!("let plain = tape.param(&x).", stringify!($name), "::<1>().sum_all().backward();")]
            /// let kept = k.sum_all().backward();
            /// assert_eq!(kept.of(&x).unwrap().to_vec(), plain.of(&x).unwrap().to_vec());
            /// ```
            pub fn $keep<const I: usize>(&self) -> Var<'t, <S as HasAxis<I>>::Kept, T>
            where
                S: HasAxis<I>,
            {
                self.lane_reduction(self.value().$keep::<I>(), I, $grad)
            }

            #[doc = concat!("[`", stringify!($name), "`](Self::", stringify!($name), ") along the last axis, whatever the rank (the tensor op [`Reductions::", stringify!($last), "`]).")]
            ///
            /// ```
            /// use shapecheck::autodiff::Tape;
            /// use shapecheck::prelude::*;
            /// let tape = Tape::new();
            /// let x = tape.constant(Tensor::<(D<2>, D<2>, D<3>), f64>::randn(0));
            #[doc = concat!("let l: Var<(D<2>, D<2>), f64> = x.", stringify!($last), "();")]
            #[doc = concat!("assert_eq!(l.value().to_vec(), x.", stringify!($name), "::<2>().value().to_vec());")]
            /// ```
            pub fn $last(&self) -> Var<'t, <S as HasLastAxis>::Removed, T>
            where
                S: HasLastAxis,
            {
                self.lane_reduction(self.value().$last(), S::RANK - 1, $grad)
            }
        )*}
    };
}

keepdim_and_last! {
    sum, sum_keepdim, sum_last, sum_grad;
    mean, mean_keepdim, mean_last, mean_grad;
    max, max_keepdim, max_last, max_grad;
    var, var_keepdim, var_last, var_grad;
    norm, norm_keepdim, norm_last, norm_grad;
}
