//! Reductions along an axis, and over the whole tensor.
//!
//! `x.sum::<I>()` removes axis `I` from the type; `x.sum_keepdim::<I>()` keeps it as `D<1>`
//! (so the result broadcasts back against `x`). An axis the tensor does not have is a
//! compile error ([`HasAxis`]). Every reduction reads its input through strides, so views
//! reduce without a copy.
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
//! ```
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! let x = Tensor::<(D<2>, D<3>)>::zeros();
//! let s = x.sum::<2>(); // a rank-2 tensor has axes 0 and 1
//! ```

use crate::element::Float;
use crate::shape::{HasAxis, Shape};
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

    /// The lane as a slice, when it is contiguous.
    #[inline]
    pub fn as_slice(self) -> Option<&'a [T]> {
        match self.n {
            0 => Some(&[]),
            _ if self.stride == 1 || self.n == 1 => {
                Some(&self.data[self.start..self.start + self.n])
            }
            _ => None,
        }
    }

    fn sum(self) -> T {
        match self.as_slice() {
            Some(xs) => sum_slice(xs),
            None => self.iter().fold(T::ZERO, |a, x| a + x),
        }
    }
}

/// Sum of a contiguous slice with four accumulators (vectorises, and is a little more
/// accurate than one running sum).
#[inline]
pub(crate) fn sum_slice<T: Float>(xs: &[T]) -> T {
    let mut acc = [T::ZERO; 4];
    let chunks = xs.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            acc[k] += c[k];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for &x in rest {
        s += x;
    }
    s
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

fn reduce<const I: usize, S, T, U>(
    v: &TensorView<'_, S, T>,
    f: impl FnMut(Lane<'_, T>) -> U,
) -> (S::Removed, Vec<U>)
where
    S: HasAxis<I>,
    T: Float,
{
    let mut f = f;
    let shape = v.shape().remove_axis();
    let mut out = Vec::with_capacity(shape.num_elements());
    for_each_lane(
        v.as_base_slice(),
        v.offset(),
        &v.dims(),
        &v.strides(),
        I,
        |lane| out.push(f(lane)),
    );
    (shape, out)
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
fn overflow_free_mean<T: Float>(xs: impl Iterator<Item = T>, n: usize) -> T {
    let up = T::from_usize(n.next_power_of_two());
    let down = T::ONE / up;
    let s = xs.fold(T::ZERO, |a, x| a + x * down);
    s / T::from_usize(n) * up
}

fn lane_mean<T: Float>(l: Lane<'_, T>) -> T {
    let m = l.sum() / T::from_usize(l.n);
    if !m.is_finite() && !m.is_nan() && l.iter().all(T::is_finite) {
        return overflow_free_mean(l.iter(), l.n);
    }
    m
}

fn lane_var<T: Float>(l: Lane<'_, T>) -> T {
    let m = lane_mean(l);
    let v = l
        .iter()
        .map(|x| (x - m) * (x - m))
        .fold(T::ZERO, |a, x| a + x)
        / T::from_usize(l.n);
    if v.is_finite() || !m.is_finite() {
        return v;
    }
    // A square overflowed, though the mean of the squares may not: scale by the largest
    // deviation first (as BLAS `nrm2` does).
    let big = l.iter().fold(T::ZERO, |b, x| b.max((x - m).abs()));
    let s = l
        .iter()
        .map(|x| ((x - m) / big) * ((x - m) / big))
        .fold(T::ZERO, |a, x| a + x);
    s / T::from_usize(l.n) * big * big
}

/// The smallest positive normal `T` divided by ε: below it, a sum of squares may have lost
/// the low bits (or all) of its smallest terms to underflow.
fn underflow_risk<T: Float>() -> T {
    if T::NAME == "f32" {
        T::from_f64(f64::from(f32::MIN_POSITIVE) / f64::from(f32::EPSILON))
    } else {
        T::from_f64(f64::MIN_POSITIVE / f64::EPSILON)
    }
}

fn lane_norm<T: Float>(l: Lane<'_, T>) -> T {
    let ss = l.iter().fold(T::ZERO, |a, x| a + x * x);
    if ss.is_finite() && ss >= underflow_risk::<T>()
        || ss == T::ZERO && l.iter().all(|x| x == T::ZERO)
    {
        return ss.sqrt();
    }
    if ss.is_nan() || l.iter().any(|x| !x.is_finite()) {
        return ss.sqrt(); // NaN, or ∞ from an infinite entry: right as it is
    }
    // The squares overflowed or underflowed: scale by the largest magnitude first, as BLAS
    // `nrm2` does ([3e20, 4e20] has the norm 5e20 in f32, [3e-30, 4e-30] has 5e-30).
    let big = l.iter().fold(T::ZERO, |b, x| b.max(x.abs()));
    let s = l
        .iter()
        .map(|x| (x / big) * (x / big))
        .fold(T::ZERO, |a, x| a + x);
    s.sqrt() * big
}

macro_rules! reduction {
    ($name:ident, $keep:ident, $lane:expr, $doc:literal) => {
        #[doc = concat!($doc, " along axis `I`, which leaves the type.")]
        pub fn $name<const I: usize>(&self) -> Tensor<<S as HasAxis<I>>::Removed, T>
        where
            S: HasAxis<I>,
        {
            let (shape, data) = reduce::<I, S, T, T>(&self.as_view(), $lane);
            Tensor::from_parts(shape, data)
        }

        #[doc = concat!($doc, " along axis `I`, kept as `D<1>` so the result broadcasts against `self`.")]
        pub fn $keep<const I: usize>(&self) -> Tensor<<S as HasAxis<I>>::Kept, T>
        where
            S: HasAxis<I>,
        {
            let (_, data) = reduce::<I, S, T, T>(&self.as_view(), $lane);
            Tensor::from_parts(self.as_view().shape().keep_axis(), data)
        }
    };
}

macro_rules! reductions {
    () => {
        reduction!(sum, sum_keepdim, |l| l.sum(), "Sum");
        reduction!(mean, mean_keepdim, lane_mean, "Mean");
        reduction!(
            max,
            max_keepdim,
            lane_max,
            "Maximum (NaN if the lane holds one, as NumPy and PyTorch; −∞ for an empty axis)"
        );
        reduction!(
            min,
            min_keepdim,
            lane_min,
            "Minimum (NaN if the lane holds one; +∞ for an empty axis)"
        );
        reduction!(
            var,
            var_keepdim,
            lane_var,
            "Population variance (divisor n, NumPy's default)"
        );
        reduction!(norm, norm_keepdim, lane_norm, "Euclidean (L2) norm");

        /// Index of the largest element along axis `I`: the first, on ties; the first NaN,
        /// if the lane holds one (as NumPy and PyTorch).
        ///
        /// # Panics
        ///
        /// When axis `I` is empty (size 0) and the other axes are not: no index is right.
        pub fn argmax<const I: usize>(&self) -> Tensor<<S as HasAxis<I>>::Removed, usize>
        where
            S: HasAxis<I>,
        {
            let view = self.as_view();
            if view.dims()[I] == 0 && !view.shape().remove_axis().try_num_elements().is_ok_and(|n| n == 0) {
                panic!(
                    "argmax: axis {I} of a tensor of shape {:?} is empty, so it has no largest element",
                    view.shape()
                );
            }
            let (shape, data) = reduce::<I, S, T, usize>(&view, |l| {
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
            });
            Tensor::from_parts(shape, data)
        }

        /// Sum of all elements.
        pub fn sum_all(&self) -> T {
            let mut s = T::ZERO;
            self.as_view().for_each(|x| s += x);
            s
        }

        /// Mean of all elements (NaN for an empty tensor).
        pub fn mean_all(&self) -> T {
            let v = self.as_view();
            let m = self.sum_all() / T::from_usize(v.len());
            if !m.is_finite() && !m.is_nan() {
                let mut all_finite = true;
                v.for_each(|x| all_finite &= x.is_finite());
                if all_finite {
                    let mut xs = Vec::with_capacity(v.len());
                    v.for_each(|x| xs.push(x));
                    return overflow_free_mean(xs.into_iter(), v.len());
                }
            }
            m
        }

        /// Largest element (NaN if the tensor holds one; −∞ for an empty tensor).
        pub fn max_all(&self) -> T {
            let mut m = T::NEG_INFINITY;
            self.as_view().for_each(|x| m = max_nan(m, x));
            m
        }

        /// Smallest element (NaN if the tensor holds one; +∞ for an empty tensor).
        pub fn min_all(&self) -> T {
            let mut m = T::INFINITY;
            self.as_view().for_each(|x| m = min_nan(m, x));
            m
        }
    };
}

impl<S: Shape, T: Float> Tensor<S, T> {
    reductions!();
}

impl<S: Shape, T: Float> TensorView<'_, S, T> {
    reductions!();
}
