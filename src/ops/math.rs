//! [`Elementwise`]: `map`, the math functions, the `try_` forms of the operators,
//! broadcasting, `cast` and approximate equality, for tensors and views alike.
//!
//! ```
//! use shapecheck::prelude::*;
//! let x = Tensor::<(D<2>, D<3>)>::from_fn(|[i, j]| (3 * i + j) as f32);
//! let xt = x.t(); // a strided (3, 2) view
//! assert_eq!(xt.exp()[[2, 1]], 5f32.exp());
//! assert_eq!((&xt * 2.0)[[2, 1]], 10.0);
//! assert_eq!((2.0 * &xt - &x.t())[[2, 1]], 5.0);
//! let y: Tensor<(D<3>, D<2>), f64> = xt.cast::<f64>();
//! assert!(y.cast::<f32>().approx_eq(&xt, 0.0, 0.0));
//! ```

use crate::element::Float;
use crate::error::OrPanic;
use crate::error::ShapeError;
use crate::ops::approx::{check_close, NotClose};
use crate::ops::elementwise::zip_views;
use crate::shape::{broadcast_strides, BroadcastShapes, BroadcastsTo, Shape, StaticShape};
use crate::tensor::{AsView, Tensor, TensorView};

/// `f` applied to every element of `v`, in row-major order: one pass over the slice when
/// `v` is contiguous (a tensor, or a view of a whole tensor), the strided walk otherwise.
#[inline]
pub(crate) fn map_view<S: Shape, T: Float, U: Copy + 'static>(
    v: &TensorView<'_, S, T>,
    mut f: impl FnMut(T) -> U,
) -> Tensor<S, U> {
    let data = match v.as_contiguous_slice() {
        Some(xs) => {
            let mut out = crate::pool::with_capacity(xs.len());
            out.extend(xs.iter().map(|&x| f(x)));
            out
        }
        None => {
            let mut out = crate::pool::with_capacity(v.len());
            v.for_each(|x| out.push(f(x)));
            out
        }
    };
    Tensor::from_parts(v.shape(), data)
}

/// What an elementwise op of `L` and `R` returns: a tensor of their broadcast shape.
pub type ZipOutput<L, R> = Tensor<
    <<L as AsView>::Shape as BroadcastShapes<<R as AsView>::Shape>>::Output,
    <L as AsView>::Elem,
>;

/// Elementwise methods of every tensor and view (anything [`AsView`]); each returns a new
/// contiguous tensor. In the prelude.
pub trait Elementwise: AsView {
    /// Applies `f` to every element.
    fn map(&self, f: impl FnMut(Self::Elem) -> Self::Elem) -> Tensor<Self::Shape, Self::Elem> {
        map_view(&self.as_view(), f)
    }

    /// `f(self, rhs)` elementwise over the broadcast shape.
    ///
    /// # Panics
    ///
    /// When runtime dims do not broadcast; see [`try_zip_map`](Self::try_zip_map).
    #[track_caller]
    fn zip_map<R>(
        &self,
        rhs: &R,
        f: impl Fn(Self::Elem, Self::Elem) -> Self::Elem,
    ) -> ZipOutput<Self, R>
    where
        R: AsView<Elem = Self::Elem>,
        Self::Shape: BroadcastShapes<R::Shape>,
    {
        zip_views("zip_map", &self.as_view(), &rhs.as_view(), f).or_panic()
    }

    /// [`zip_map`](Self::zip_map) that returns `Err` when runtime dims do not broadcast.
    fn try_zip_map<R>(
        &self,
        rhs: &R,
        f: impl Fn(Self::Elem, Self::Elem) -> Self::Elem,
    ) -> Result<ZipOutput<Self, R>, ShapeError>
    where
        R: AsView<Elem = Self::Elem>,
        Self::Shape: BroadcastShapes<R::Shape>,
    {
        zip_views("zip_map", &self.as_view(), &rhs.as_view(), f)
    }

    /// `self + rhs` with broadcasting; `Err` when runtime dims do not broadcast.
    fn try_add<R>(&self, rhs: &R) -> Result<ZipOutput<Self, R>, ShapeError>
    where
        R: AsView<Elem = Self::Elem>,
        Self::Shape: BroadcastShapes<R::Shape>,
    {
        zip_views("add", &self.as_view(), &rhs.as_view(), |x, y| x + y)
    }

    /// `self - rhs` with broadcasting; `Err` when runtime dims do not broadcast.
    fn try_sub<R>(&self, rhs: &R) -> Result<ZipOutput<Self, R>, ShapeError>
    where
        R: AsView<Elem = Self::Elem>,
        Self::Shape: BroadcastShapes<R::Shape>,
    {
        zip_views("sub", &self.as_view(), &rhs.as_view(), |x, y| x - y)
    }

    /// `self * rhs` with broadcasting; `Err` when runtime dims do not broadcast.
    fn try_mul<R>(&self, rhs: &R) -> Result<ZipOutput<Self, R>, ShapeError>
    where
        R: AsView<Elem = Self::Elem>,
        Self::Shape: BroadcastShapes<R::Shape>,
    {
        zip_views("mul", &self.as_view(), &rhs.as_view(), |x, y| x * y)
    }

    /// `self / rhs` with broadcasting; `Err` when runtime dims do not broadcast.
    fn try_div<R>(&self, rhs: &R) -> Result<ZipOutput<Self, R>, ShapeError>
    where
        R: AsView<Elem = Self::Elem>,
        Self::Shape: BroadcastShapes<R::Shape>,
    {
        zip_views("div", &self.as_view(), &rhs.as_view(), |x, y| x / y)
    }

    /// `eˣ` elementwise.
    fn exp(&self) -> Tensor<Self::Shape, Self::Elem> {
        self.map(Float::exp)
    }

    /// Natural logarithm elementwise.
    fn ln(&self) -> Tensor<Self::Shape, Self::Elem> {
        self.map(Float::ln)
    }

    /// Square root elementwise.
    fn sqrt(&self) -> Tensor<Self::Shape, Self::Elem> {
        self.map(Float::sqrt)
    }

    /// `xⁿ` elementwise.
    fn powi(&self, n: i32) -> Tensor<Self::Shape, Self::Elem> {
        self.map(|x| x.powi(n))
    }

    /// `|x|` elementwise.
    fn abs(&self) -> Tensor<Self::Shape, Self::Elem> {
        self.map(Float::abs)
    }

    /// Each element limited to `[lo, hi]`.
    fn clamp(&self, lo: Self::Elem, hi: Self::Elem) -> Tensor<Self::Shape, Self::Elem> {
        self.map(|x| x.max(lo).min(hi))
    }

    /// The same values in another element type (`x.cast::<f64>()`): f32 → f64 is exact,
    /// f64 → f32 rounds to nearest (values beyond f32's range become ±∞, NaN stays NaN).
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let x = Tensor::<(D<2>,), f64>::from_vec(vec![0.1, 1e300]).unwrap();
    /// let y: Tensor<(D<2>,), f32> = x.cast();
    /// assert_eq!(y.as_slice(), &[0.1f32, f32::INFINITY]);
    /// ```
    fn cast<U: Float>(&self) -> Tensor<Self::Shape, U> {
        map_view(&self.as_view(), |x| U::from_f64(x.to_f64()))
    }

    /// Whether every element of `self` is close to the one of `other` at the same index:
    /// `|a − b| ≤ atol + rtol·|b|` (PyTorch's `allclose`, with `other` as the reference).
    /// Equal infinities are close; a NaN is close to nothing, not even a NaN. Runtime dims
    /// that differ make the tensors not close. [`check_close`](Self::check_close) says why.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let a = Tensor::<(D<3>,)>::from_vec(vec![1.0, 2.0, f32::INFINITY]).unwrap();
    /// let b = Tensor::<(D<3>,)>::from_vec(vec![1.0, 2.0 + 1e-6, f32::INFINITY]).unwrap();
    /// assert!(a.approx_eq(&b, 1e-5, 0.0));
    /// assert!(!a.approx_eq(&b, 0.0, 0.0));
    /// assert!(!a.map(|_| f32::NAN).approx_eq(&a.map(|_| f32::NAN), 1.0, 1.0));
    /// ```
    fn approx_eq<R>(&self, other: &R, rtol: Self::Elem, atol: Self::Elem) -> bool
    where
        R: AsView<Shape = Self::Shape, Elem = Self::Elem>,
    {
        self.check_close(other, rtol, atol).is_ok()
    }

    /// [`approx_eq`](Self::approx_eq) that names, when the tensors are not close, the worst
    /// element (the largest `|a − b| / (atol + rtol·|b|)`, a NaN first) for a message.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let a = Tensor::<(D<2>, D<2>)>::from_vec(vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    /// let b = Tensor::<(D<2>, D<2>)>::from_vec(vec![1.0, 2.5, 3.0, 5.0]).unwrap();
    /// let err = a.check_close(&b, 0.0, 0.1).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "not close: element [1, 1] is 4 where 5 was expected \
    ///      (|difference| 1 > atol + rtol·|expected| = 0.1)"
    /// );
    /// ```
    fn check_close<R>(
        &self,
        other: &R,
        rtol: Self::Elem,
        atol: Self::Elem,
    ) -> Result<(), NotClose<Self::Elem>>
    where
        R: AsView<Shape = Self::Shape, Elem = Self::Elem>,
    {
        check_close(&self.as_view(), &other.as_view(), rtol, atol)
    }

    /// A zero-copy view stretched to the static shape `S2` (size-1 axes and missing leading
    /// axes get stride 0); the type checker checks [`BroadcastsTo`].
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let bias = Tensor::<(D<3>,)>::from_vec(vec![1., 2., 3.]).unwrap();
    /// let b = bias.broadcast_to::<(D<2>, D<3>)>();
    /// assert_eq!(b.strides().as_slice(), &[0, 1]);
    /// assert_eq!(b.to_tensor().as_slice(), &[1., 2., 3., 1., 2., 3.]);
    /// ```
    fn broadcast_to<S2>(&self) -> TensorView<'_, S2, Self::Elem>
    where
        S2: StaticShape,
        Self::Shape: BroadcastsTo<S2>,
    {
        self.try_broadcast_to_with(S2::default())
            .expect("static shapes that broadcast by type always fit")
    }

    /// [`broadcast_to`](Self::broadcast_to) a shape given as a value; `Err` when runtime
    /// sizes do not fit.
    fn try_broadcast_to_with<S2: Shape>(
        &self,
        shape: S2,
    ) -> Result<TensorView<'_, S2, Self::Elem>, ShapeError>
    where
        Self::Shape: BroadcastsTo<S2>,
    {
        let v = self.as_view();
        let dims = shape.dims();
        let mut strides = [0usize; 8];
        if !v.shape().fits(&shape)
            || broadcast_strides(&v.dims(), &v.strides(), &dims, &mut strides).is_none()
        {
            return Err(ShapeError::incompatible(
                "broadcast_to",
                &v.shape(),
                &shape,
                "each dim must equal the target's or be 1",
            ));
        }
        TensorView::from_parts(v.as_base_slice(), v.offset(), shape, &strides[..S2::RANK])
    }
}

impl<V: AsView + ?Sized> Elementwise for V {}
