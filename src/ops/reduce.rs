//! Reductions along an axis, and over the whole tensor.
//!
//! `x.sum::<I>()` removes axis `I` from the type; `x.sum_keepdim::<I>()` keeps it as `D<1>`
//! (so the result broadcasts back against `x`); `x.sum_last()` reduces the last axis
//! whatever the rank ([`HasLastAxis`]). An axis the tensor does not have is a compile error
//! ([`HasAxis`]). The methods are those of [`Reductions`], written once for tensors and
//! views; every reduction reads its input through strides, so views reduce without a copy.
//!
//! ```
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 2; pub DModel = 3);
//! let x = Tensor::<(Seq, DModel)>::from_fn(|[i, j]| (3 * i + j) as f32);
//! let per_token: Tensor<(Seq,)> = x.sum::<1>();
//! assert_eq!(per_token.as_slice(), &[3.0, 12.0]);
//! let per_feature: Tensor<(DModel,)> = x.mean::<0>();
//! assert_eq!(per_feature.as_slice(), &[1.5, 2.5, 3.5]);
//! let centred = &x - &x.mean_keepdim::<1>(); // (Seq, DModel) - (Seq, D<1>)
//! assert_eq!(centred.as_slice(), &[-1.0, 0.0, 1.0, -1.0, 0.0, 1.0]);
//! assert_eq!(x.argmax::<1>().as_slice(), &[2, 2]);
//! assert_eq!(x.t().sum_last().as_slice(), per_feature.map(|m| 2.0 * m).as_slice());
//! ```
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! let x = Tensor::<(D<2>, D<3>)>::zeros();
//! let s = x.sum::<2>(); // a rank-2 tensor has axes 0 and 1
//! ```

use crate::dim::Dim;
use crate::element::Float;
use crate::kernel::pairwise;
use crate::ops::einsum::strided::sum_layout;
use crate::ops::scaled::norm_from_sum_of_squares;
use crate::shape::{HasAxis, LastAxis, Shape};
use crate::tensor::{layout, AsView, Tensor, TensorView};

/// One lane of a reduction: `n` elements of `data` from `start`, `stride` apart.
#[derive(Clone, Copy)]
pub(crate) struct Lane<'a, T> {
    pub data: &'a [T],
    pub start: usize,
    pub stride: usize,
    pub n: usize,
}

impl<'a, T: Float> Lane<'a, T> {
    /// The lane's elements in order.
    #[inline]
    pub fn iter(self) -> impl Iterator<Item = T> + Clone + 'a {
        let Lane {
            data,
            start,
            stride,
            n,
        } = self;
        (0..n).map(move |i| data[start + i * stride])
    }

    /// `Σ f(x)` over the lane, pairwise.
    #[inline]
    fn sum_map(self, f: impl Fn(T) -> T + Copy) -> T {
        pairwise::sum_strided(self.data, self.start, self.stride, self.n, f)
    }

    fn sum(self) -> T {
        self.sum_map(|x| x)
    }
}

/// Calls `f(start, stride, n)` for every lane along axis `ax` of a strided layout, in
/// row-major order of the remaining axes.
pub(crate) fn for_each_lane_offset(
    offset: usize,
    dims: &[usize],
    strides: &[usize],
    ax: usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    let mut od = [0usize; 8];
    let mut os = [0usize; 8];
    let mut r = 0;
    for k in 0..dims.len() {
        if k != ax {
            od[r] = dims[k];
            os[r] = strides[k];
            r += 1;
        }
    }
    let (n, stride) = (dims[ax], strides[ax]);
    layout::for_each_offset(offset, &od[..r], &os[..r], |start| f(start, stride, n));
}

/// Calls `f` on every lane along axis `ax` of a strided layout, in row-major order of the
/// remaining axes.
pub(crate) fn for_each_lane<'a, T>(
    data: &'a [T],
    offset: usize,
    dims: &[usize],
    strides: &[usize],
    ax: usize,
    mut f: impl FnMut(Lane<'a, T>),
) {
    for_each_lane_offset(offset, dims, strides, ax, |start, stride, n| {
        f(Lane {
            data,
            start,
            stride,
            n,
        })
    });
}

/// `f` of every lane along axis `axis` of `v`, in row-major order of the other axes.
fn reduce<T: Float, U, S: Shape>(
    v: &TensorView<'_, S, T>,
    axis: usize,
    mut f: impl FnMut(Lane<'_, T>) -> U,
) -> Vec<U> {
    let dims = v.dims();
    let n = if axis < dims.len() { dims[axis] } else { 1 };
    let mut out = Vec::with_capacity(v.len() / n.max(1));
    for_each_lane(
        v.as_base_slice(),
        v.offset(),
        &dims,
        &v.strides(),
        axis,
        |lane| out.push(f(lane)),
    );
    out
}

fn lane_sum<T: Float>(l: Lane<'_, T>) -> T {
    l.sum()
}

/// The larger of two, NaN if either is (NumPy's `maximum`, PyTorch's `max`).
#[inline]
fn max_nan<T: Float>(m: T, x: T) -> T {
    if x > m || x.is_nan() {
        x
    } else {
        m
    }
}

/// The smaller of two, NaN if either is.
#[inline]
fn min_nan<T: Float>(m: T, x: T) -> T {
    if x < m || x.is_nan() {
        x
    } else {
        m
    }
}

fn lane_max<T: Float>(l: Lane<'_, T>) -> T {
    l.iter().fold(T::NEG_INFINITY, max_nan)
}

fn lane_min<T: Float>(l: Lane<'_, T>) -> T {
    l.iter().fold(T::INFINITY, min_nan)
}

/// The mean of `n` values whose plain sum overflows though every one is finite (four values
/// of 3e38 in f32 have the mean 3e38, not ∞): summed scaled by the power of two `2^-k ≤ 1/n`
/// (exact), divided by `n`, scaled back.
fn overflow_free_mean<T: Float>(sum_scaled: impl Fn(T) -> T, n: usize) -> T {
    let up = T::from_usize(n.next_power_of_two());
    let down = T::ONE / up;
    sum_scaled(down) / T::from_usize(n) * up
}

fn lane_mean<T: Float>(l: Lane<'_, T>) -> T {
    let m = l.sum() / T::from_usize(l.n);
    if !m.is_finite() && !m.is_nan() && l.iter().all(T::is_finite) {
        return overflow_free_mean(|down| l.sum_map(|x| x * down), l.n);
    }
    m
}

fn lane_var<T: Float>(l: Lane<'_, T>) -> T {
    let m = lane_mean(l);
    let v = l.sum_map(|x| (x - m) * (x - m)) / T::from_usize(l.n);
    if v.is_finite() || !m.is_finite() {
        return v;
    }
    // A square overflowed, though the mean of the squares may not: scale by the largest
    // deviation first (as BLAS `nrm2` does).
    let big = l.iter().fold(T::ZERO, |b, x| b.max((x - m).abs()));
    let s = l.sum_map(|x| ((x - m) / big) * ((x - m) / big));
    s / T::from_usize(l.n) * big * big
}

/// The norm, scaled against overflow and underflow when the plain sum of squares is not
/// safe (see `ops::scaled`).
fn lane_norm<T: Float>(l: Lane<'_, T>) -> T {
    let ss = l.sum_map(|x| x * x);
    norm_from_sum_of_squares(ss, l.iter())
}

/// Index of the first largest element; the first NaN, if the lane holds one.
fn lane_argmax<T: Float>(l: Lane<'_, T>) -> usize {
    let mut best = (0, T::NEG_INFINITY);
    for (i, x) in l.iter().enumerate() {
        if x.is_nan() {
            return i;
        }
        if x > best.1 {
            best = (i, x);
        }
    }
    best.0
}

/// A shape of rank 1 or more seen as "the other axes" and "the last axis": what a
/// reduction over the last axis leaves. The `_last` reductions of [`Reductions`] take it;
/// it is [`HasAxis`]`<RANK - 1>` under a name that needs no rank.
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub Seq = 2; pub DModel = 3);
/// let x = Tensor::<(Seq, DModel)>::ones();
/// let s: Tensor<(Seq,)> = x.sum_last();
/// assert_eq!(s.as_slice(), &[3.0, 3.0]);
/// ```
///
/// A scalar has no last axis:
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// let x = Tensor::<()>::zeros();
/// let s = x.sum_last();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no last axis to reduce",
    label = "needs a tensor of rank 1 or more"
)]
pub trait HasLastAxis: LastAxis {
    /// The shape without its last axis.
    type Removed: Shape;
    /// The shape with its last axis replaced by `D<1>`.
    type Kept: Shape;
    /// The shape without its last axis.
    fn remove_last(&self) -> Self::Removed;
    /// The shape with its last axis replaced by `D<1>`.
    fn keep_last(&self) -> Self::Kept;
}

macro_rules! has_last_axis {
    ($($i:literal: $($P:ident)*;)*) => {$(
        #[diagnostic::do_not_recommend]
        impl<$($P: Dim),*> HasLastAxis for ($($P,)*) {
            type Removed = <Self as HasAxis<$i>>::Removed;
            type Kept = <Self as HasAxis<$i>>::Kept;
            #[inline(always)]
            fn remove_last(&self) -> Self::Removed {
                HasAxis::<$i>::remove_axis(self)
            }
            #[inline(always)]
            fn keep_last(&self) -> Self::Kept {
                HasAxis::<$i>::keep_axis(self)
            }
        }
    )*};
}

has_last_axis! {
    0: A;
    1: A B;
    2: A B C;
    3: A B C E;
    4: A B C E F;
    5: A B C E F G;
}

// The pairs `op::<I>()` / `op_keepdim::<I>()`, and the `op_last()` forms, of each lane
// function: generated inside the one trait, so each reduction is written once.
macro_rules! reductions {
    ($($name:ident, $keep:ident, $lane:expr, $doc:literal;)*) => {$(
        #[doc = concat!($doc, " along axis `I`, which leaves the type.")]
        fn $name<const I: usize>(&self) -> Tensor<<Self::Shape as HasAxis<I>>::Removed, Self::Elem>
        where
            Self::Shape: HasAxis<I>,
        {
            let v = self.as_view();
            Tensor::from_parts(v.shape().remove_axis(), reduce(&v, I, $lane))
        }

        #[doc = concat!($doc, " along axis `I`, kept as `D<1>` so the result broadcasts against `self`.")]
        fn $keep<const I: usize>(&self) -> Tensor<<Self::Shape as HasAxis<I>>::Kept, Self::Elem>
        where
            Self::Shape: HasAxis<I>,
        {
            let v = self.as_view();
            Tensor::from_parts(v.shape().keep_axis(), reduce(&v, I, $lane))
        }
    )*};
}

macro_rules! last_reductions {
    ($($name:ident, $lane:expr, $out:ident, $doc:literal;)*) => {$(
        #[doc = concat!($doc, " along the last axis, whatever the rank.")]
        fn $name(&self) -> Tensor<<Self::Shape as HasLastAxis>::Removed, last_reductions!(@out $out)>
        where
            Self::Shape: HasLastAxis,
        {
            let v = self.as_view();
            let axis = <Self::Shape as Shape>::RANK - 1;
            Tensor::from_parts(v.shape().remove_last(), reduce(&v, axis, $lane))
        }
    )*};
    (@out T) => { Self::Elem };
    (@out usize) => { usize };
}

/// Reductions of every tensor and view (anything [`AsView`]). In the prelude.
///
/// `x.sum::<I>()` removes axis `I`; `x.sum_keepdim::<I>()` keeps it as `D<1>`; `x.sum_last()`
/// is `sum::<RANK - 1>()` without counting axes; `x.sum_all()` reduces everything.
pub trait Reductions: AsView {
    reductions! {
        sum, sum_keepdim, lane_sum, "Sum";
        mean, mean_keepdim, lane_mean, "Mean";
        max, max_keepdim, lane_max,
            "Maximum (NaN if the lane holds one, as NumPy and PyTorch; −∞ for an empty axis)";
        min, min_keepdim, lane_min, "Minimum (NaN if the lane holds one; +∞ for an empty axis)";
        var, var_keepdim, lane_var, "Population variance (divisor n, NumPy's default)";
        norm, norm_keepdim, lane_norm,
            "Euclidean (L2) norm, scaled like BLAS `nrm2` so that it neither overflows nor \
             underflows before the result does";
    }

    last_reductions! {
        sum_last, lane_sum, T, "[`sum`](Self::sum)";
        mean_last, lane_mean, T, "[`mean`](Self::mean)";
        max_last, lane_max, T, "[`max`](Self::max)";
        min_last, lane_min, T, "[`min`](Self::min)";
        var_last, lane_var, T, "[`var`](Self::var)";
        norm_last, lane_norm, T, "[`norm`](Self::norm)";
        argmax_last, lane_argmax, usize, "[`argmax`](Self::argmax)";
    }

    /// Index of the largest element along axis `I`: the first, on ties; the first NaN,
    /// if the lane holds one (as NumPy and PyTorch).
    ///
    /// # Panics
    ///
    /// When axis `I` is empty (size 0) and the other axes are not: no index is right.
    fn argmax<const I: usize>(&self) -> Tensor<<Self::Shape as HasAxis<I>>::Removed, usize>
    where
        Self::Shape: HasAxis<I>,
    {
        let v = self.as_view();
        if v.dims()[I] == 0
            && !v
                .shape()
                .remove_axis()
                .try_num_elements()
                .is_ok_and(|n| n == 0)
        {
            panic!(
                "argmax: axis {I} of a tensor of shape {:?} is empty, so it has no largest element",
                v.shape()
            );
        }
        Tensor::from_parts(v.shape().remove_axis(), reduce(&v, I, lane_argmax))
    }

    /// Sum of all elements, pairwise (NumPy's summation: the rounding error grows as
    /// log n).
    fn sum_all(&self) -> Self::Elem {
        let v = self.as_view();
        match v.as_contiguous_slice() {
            Some(xs) => pairwise::sum(xs),
            None => sum_layout(
                v.as_base_slice(),
                v.offset(),
                &v.dims(),
                &v.strides(),
                |x| x,
            ),
        }
    }

    /// Mean of all elements (NaN for an empty tensor).
    fn mean_all(&self) -> Self::Elem {
        let v = self.as_view();
        let m = self.sum_all() / Self::Elem::from_usize(v.len());
        if !m.is_finite() && !m.is_nan() {
            let mut all_finite = true;
            v.for_each(|x| all_finite &= x.is_finite());
            if all_finite {
                let (data, offset) = (v.as_base_slice(), v.offset());
                let (dims, strides) = (v.dims(), v.strides());
                let sum_scaled =
                    |down| sum_layout(data, offset, &dims, &strides, |x: Self::Elem| x * down);
                return overflow_free_mean(sum_scaled, v.len());
            }
        }
        m
    }

    /// Largest element (NaN if the tensor holds one; −∞ for an empty tensor).
    fn max_all(&self) -> Self::Elem {
        let mut m = Self::Elem::NEG_INFINITY;
        self.as_view().for_each(|x| m = max_nan(m, x));
        m
    }

    /// Smallest element (NaN if the tensor holds one; +∞ for an empty tensor).
    fn min_all(&self) -> Self::Elem {
        let mut m = Self::Elem::INFINITY;
        self.as_view().for_each(|x| m = min_nan(m, x));
        m
    }
}

impl<V: AsView + ?Sized> Reductions for V {}
