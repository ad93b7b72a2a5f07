//! Elementwise arithmetic with NumPy broadcasting computed in the type.
//!
//! `a + b` is defined when `a`'s and `b`'s shapes satisfy [`BroadcastShapes`]; the result has
//! the broadcast shape. The smaller operand is read through zero strides, never copied out
//! to the full shape. Operators take owned tensors, views, or references to either on the
//! left, and `&impl AsView` or an owned tensor or view on the right; with runtime dims
//! whose sizes disagree they panic with the message of the `try_` methods (`try_add`, …).
//! Scalars combine on either side (`x * 0.5`, `1.0 - x`).
//!
//! ```
//! use shapecheck::prelude::*;
//! let x = Tensor::<(D<2>, D<3>)>::from_fn(|[i, j]| (3 * i + j) as f32);
//! let mean = Tensor::<(D<3>,)>::from_vec(vec![1.5, 2.5, 3.5]).unwrap();
//! let centred = &x - &mean; // (2, 3) - (3,)
//! assert_eq!(centred.as_slice(), &[-1.5, -1.5, -1.5, 1.5, 1.5, 1.5]);
//! let col = Tensor::<(D<2>, D<1>)>::from_vec(vec![10.0, 20.0]).unwrap();
//! assert_eq!((&x + &col)[[1, 2]], 25.0); // (2, 3) + (2, 1)
//! ```
//!
//! Dims that are neither equal nor 1 do not broadcast, at compile time:
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 8; pub HeadDim = 8);
//! let s = Tensor::<(Seq, Seq)>::zeros();
//! let v = Tensor::<(Seq, HeadDim)>::zeros();
//! let _ = &s + &v;
//! ```

use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::element::Float;
use crate::error::ShapeError;
use crate::shape::{broadcast_strides, BroadcastShapes, BroadcastsTo, Shape};
use crate::tensor::{AsView, Tensor, TensorView};

/// Calls `row(a_offset, b_offset, out_row_index)` for every row (all axes but the last) of
/// `dims`, in row-major order.
#[inline]
fn for_each_row(
    dims: &[usize],
    sa: &[usize],
    sb: &[usize],
    a0: usize,
    b0: usize,
    mut row: impl FnMut(usize, usize),
) {
    let r = dims.len();
    if dims.contains(&0) {
        return;
    }
    if r <= 1 {
        row(a0, b0);
        return;
    }
    let outer = &dims[..r - 1];
    let mut idx = [0usize; 8];
    let (mut ao, mut bo) = (a0, b0);
    loop {
        row(ao, bo);
        let mut k = outer.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            ao += sa[k];
            bo += sb[k];
            if idx[k] < outer[k] {
                break;
            }
            ao -= sa[k] * idx[k];
            bo -= sb[k] * idx[k];
            idx[k] = 0;
        }
    }
}

/// `f(a, b)` over the broadcast of two views, into a new contiguous tensor.
pub(crate) fn zip_views<L, R, T, F>(
    op: &'static str,
    a: &TensorView<'_, L, T>,
    b: &TensorView<'_, R, T>,
    f: F,
) -> Result<Tensor<L::Output, T>, ShapeError>
where
    L: BroadcastShapes<R>,
    R: Shape,
    T: Float,
    F: Fn(T, T) -> T,
{
    let mismatch = || ShapeError::Incompatible {
        op,
        lhs: format!("{:?}", a.shape()),
        rhs: format!("{:?}", b.shape()),
        detail: "aligned on the last axes, each pair of sizes must be equal or contain a 1".into(),
    };
    let shape = a
        .shape()
        .broadcast_shapes(&b.shape())
        .ok_or_else(mismatch)?;
    let dims = shape.dims();
    let r = dims.len();
    let (mut sa, mut sb) = ([0usize; 8], [0usize; 8]);
    broadcast_strides(&a.dims(), &a.strides(), &dims, &mut sa).ok_or_else(mismatch)?;
    broadcast_strides(&b.dims(), &b.strides(), &dims, &mut sb).ok_or_else(mismatch)?;
    let (da, db) = (a.as_base_slice(), b.as_base_slice());
    let n = shape.try_num_elements()?;
    let mut out = Vec::with_capacity(n);
    if a.is_contiguous()
        && b.is_contiguous()
        && a.dims().as_slice() == dims.as_slice()
        && b.dims().as_slice() == dims.as_slice()
    {
        let (xa, xb) = (
            &da[a.offset()..a.offset() + n],
            &db[b.offset()..b.offset() + n],
        );
        out.extend(xa.iter().zip(xb).map(|(&x, &y)| f(x, y)));
        return Ok(Tensor::from_parts(shape, out));
    }
    let inner = if r == 0 { 1 } else { dims[r - 1] };
    let (ia, ib) = if r == 0 {
        (1, 1)
    } else {
        (sa[r - 1], sb[r - 1])
    };
    let outer_r = r.saturating_sub(1);
    for_each_row(
        &dims,
        &sa[..outer_r],
        &sb[..outer_r],
        a.offset(),
        b.offset(),
        |ao, bo| {
            // Specialised inner loops so the common layouts vectorise.
            match (ia, ib) {
                (1, 1) => {
                    let (xa, xb) = (&da[ao..ao + inner], &db[bo..bo + inner]);
                    out.extend(xa.iter().zip(xb).map(|(&x, &y)| f(x, y)));
                }
                (1, 0) => {
                    let y = db[bo];
                    out.extend(da[ao..ao + inner].iter().map(|&x| f(x, y)));
                }
                (0, 1) => {
                    let x = da[ao];
                    out.extend(db[bo..bo + inner].iter().map(|&y| f(x, y)));
                }
                _ => out.extend((0..inner).map(|i| f(da[ao + i * ia], db[bo + i * ib]))),
            }
        },
    );
    Ok(Tensor::from_parts(shape, out))
}

macro_rules! binary_methods {
    ($view:ident) => {
        /// `f(self, rhs)` elementwise over the broadcast shape.
        ///
        /// # Panics
        ///
        /// When runtime dims do not broadcast; see [`try_zip_map`](Self::try_zip_map).
        #[track_caller]
        pub fn zip_map<R>(
            &self,
            rhs: &R,
            f: impl Fn(T, T) -> T,
        ) -> Tensor<<S as BroadcastShapes<R::Shape>>::Output, T>
        where
            R: AsView<Elem = T>,
            S: BroadcastShapes<R::Shape>,
        {
            zip_views("zip_map", &self.$view(), &rhs.as_view(), f).unwrap_or_else(|e| panic!("{e}"))
        }

        /// [`zip_map`](Self::zip_map) that returns `Err` when runtime dims do not broadcast.
        pub fn try_zip_map<R>(
            &self,
            rhs: &R,
            f: impl Fn(T, T) -> T,
        ) -> Result<Tensor<<S as BroadcastShapes<R::Shape>>::Output, T>, ShapeError>
        where
            R: AsView<Elem = T>,
            S: BroadcastShapes<R::Shape>,
        {
            zip_views("zip_map", &self.$view(), &rhs.as_view(), f)
        }

        binary_methods!(@try $view, try_add, "add", +, "`self + rhs`");
        binary_methods!(@try $view, try_sub, "sub", -, "`self - rhs`");
        binary_methods!(@try $view, try_mul, "mul", *, "`self * rhs`");
        binary_methods!(@try $view, try_div, "div", /, "`self / rhs`");
    };
    (@try $view:ident, $name:ident, $op:literal, $sym:tt, $what:literal) => {
        #[doc = concat!($what, " with broadcasting; `Err` when runtime dims do not broadcast.")]
        pub fn $name<R>(
            &self,
            rhs: &R,
        ) -> Result<Tensor<<S as BroadcastShapes<R::Shape>>::Output, T>, ShapeError>
        where
            R: AsView<Elem = T>,
            S: BroadcastShapes<R::Shape>,
        {
            zip_views($op, &self.$view(), &rhs.as_view(), |x, y| x $sym y)
        }
    };
}

impl<S: Shape, T: Float> Tensor<S, T> {
    binary_methods!(view);
}

impl<S: Shape, T: Float> TensorView<'_, S, T> {
    binary_methods!(as_view);
}

macro_rules! operator {
    ($Trait:ident, $method:ident, $op:literal, $sym:tt) => {
        operator!(@lhs $Trait, $method, $op, $sym, [S: Shape, T: Float], Tensor<S, T>);
        operator!(@lhs $Trait, $method, $op, $sym, ['a, S: Shape, T: Float], &'a Tensor<S, T>);
        operator!(@lhs $Trait, $method, $op, $sym, ['a, S: Shape, T: Float], TensorView<'a, S, T>);
        operator!(@lhs $Trait, $method, $op, $sym, ['a, 'b, S: Shape, T: Float], &'b TensorView<'a, S, T>);

        impl<S: Shape> $Trait<f32> for Tensor<S, f32> {
            type Output = Tensor<S, f32>;
            #[inline]
            fn $method(self, rhs: f32) -> Tensor<S, f32> {
                self.map(|x| x $sym rhs)
            }
        }
        impl<S: Shape> $Trait<f32> for &Tensor<S, f32> {
            type Output = Tensor<S, f32>;
            #[inline]
            fn $method(self, rhs: f32) -> Tensor<S, f32> {
                self.map(|x| x $sym rhs)
            }
        }
        impl<S: Shape> $Trait<f64> for Tensor<S, f64> {
            type Output = Tensor<S, f64>;
            #[inline]
            fn $method(self, rhs: f64) -> Tensor<S, f64> {
                self.map(|x| x $sym rhs)
            }
        }
        impl<S: Shape> $Trait<f64> for &Tensor<S, f64> {
            type Output = Tensor<S, f64>;
            #[inline]
            fn $method(self, rhs: f64) -> Tensor<S, f64> {
                self.map(|x| x $sym rhs)
            }
        }
        impl<S: Shape> $Trait<Tensor<S, f32>> for f32 {
            type Output = Tensor<S, f32>;
            #[inline]
            fn $method(self, rhs: Tensor<S, f32>) -> Tensor<S, f32> {
                rhs.map(|x| self $sym x)
            }
        }
        impl<S: Shape> $Trait<&Tensor<S, f32>> for f32 {
            type Output = Tensor<S, f32>;
            #[inline]
            fn $method(self, rhs: &Tensor<S, f32>) -> Tensor<S, f32> {
                rhs.map(|x| self $sym x)
            }
        }
        impl<S: Shape> $Trait<Tensor<S, f64>> for f64 {
            type Output = Tensor<S, f64>;
            #[inline]
            fn $method(self, rhs: Tensor<S, f64>) -> Tensor<S, f64> {
                rhs.map(|x| self $sym x)
            }
        }
        impl<S: Shape> $Trait<&Tensor<S, f64>> for f64 {
            type Output = Tensor<S, f64>;
            #[inline]
            fn $method(self, rhs: &Tensor<S, f64>) -> Tensor<S, f64> {
                rhs.map(|x| self $sym x)
            }
        }
    };
    (@lhs $Trait:ident, $method:ident, $op:literal, $sym:tt, [$($g:tt)*], $Lhs:ty) => {
        impl<'r, $($g)*, R> $Trait<&'r R> for $Lhs
        where
            R: AsView<Elem = T>,
            S: BroadcastShapes<R::Shape>,
        {
            type Output = Tensor<<S as BroadcastShapes<R::Shape>>::Output, T>;
            #[track_caller]
            fn $method(self, rhs: &'r R) -> Self::Output {
                zip_views($op, &self.as_view(), &rhs.as_view(), |x, y| x $sym y)
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        }
        impl<$($g)*, S2: Shape> $Trait<Tensor<S2, T>> for $Lhs
        where
            S: BroadcastShapes<S2>,
        {
            type Output = Tensor<<S as BroadcastShapes<S2>>::Output, T>;
            #[track_caller]
            fn $method(self, rhs: Tensor<S2, T>) -> Self::Output {
                zip_views($op, &self.as_view(), &rhs.view(), |x, y| x $sym y)
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        }
        impl<'r, $($g)*, S2: Shape> $Trait<TensorView<'r, S2, T>> for $Lhs
        where
            S: BroadcastShapes<S2>,
        {
            type Output = Tensor<<S as BroadcastShapes<S2>>::Output, T>;
            #[track_caller]
            fn $method(self, rhs: TensorView<'r, S2, T>) -> Self::Output {
                zip_views($op, &self.as_view(), &rhs, |x, y| x $sym y)
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        }
    };
}

operator!(Add, add, "add", +);
operator!(Sub, sub, "sub", -);
operator!(Mul, mul, "mul", *);
operator!(Div, div, "div", /);

impl<S: Shape, T: Float> Neg for Tensor<S, T> {
    type Output = Tensor<S, T>;
    fn neg(mut self) -> Tensor<S, T> {
        self.as_mut_slice().iter_mut().for_each(|x| *x = -*x);
        self
    }
}

impl<S: Shape, T: Float> Neg for &Tensor<S, T> {
    type Output = Tensor<S, T>;
    fn neg(self) -> Tensor<S, T> {
        self.map(|x| -x)
    }
}

/// `f(self, rhs)` in place, where `rhs` broadcasts to `self`'s shape.
fn zip_assign<S, R, T>(
    op: &'static str,
    lhs: &mut Tensor<S, T>,
    rhs: &TensorView<'_, R, T>,
    f: impl Fn(T, T) -> T,
) where
    S: Shape,
    R: BroadcastsTo<S>,
    T: Float,
{
    let shape = lhs.shape();
    let dims = shape.dims();
    let mut sb = [0usize; 8];
    if !rhs.shape().fits(&shape)
        || broadcast_strides(&rhs.dims(), &rhs.strides(), &dims, &mut sb).is_none()
    {
        panic!("{op}: {:?} does not broadcast to {:?}", rhs.shape(), shape);
    }
    let r = dims.len();
    let inner = if r == 0 { 1 } else { dims[r - 1] };
    let ib = if r == 0 { 1 } else { sb[r - 1] };
    let db = rhs.as_base_slice();
    let out = lhs.as_mut_slice();
    let mut pos = 0;
    let outer_r = r.saturating_sub(1);
    let strides = shape.contiguous_strides();
    for_each_row(
        &dims,
        &strides[..outer_r],
        &sb[..outer_r],
        0,
        rhs.offset(),
        |_, bo| {
            let row = &mut out[pos..pos + inner];
            match ib {
                1 => row
                    .iter_mut()
                    .zip(&db[bo..bo + inner])
                    .for_each(|(x, &y)| *x = f(*x, y)),
                0 => {
                    let y = db[bo];
                    row.iter_mut().for_each(|x| *x = f(*x, y));
                }
                _ => row
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, x)| *x = f(*x, db[bo + i * ib])),
            }
            pos += inner;
        },
    );
}

macro_rules! assign_operator {
    ($Trait:ident, $method:ident, $op:literal, $sym:tt) => {
        impl<'r, S: Shape, T: Float, R> $Trait<&'r R> for Tensor<S, T>
        where
            R: AsView<Elem = T>,
            R::Shape: BroadcastsTo<S>,
        {
            /// In place, with `rhs` broadcast to `self`'s shape (which does not change).
            #[track_caller]
            fn $method(&mut self, rhs: &'r R) {
                zip_assign($op, self, &rhs.as_view(), |x, y| x $sym y);
            }
        }

        impl<S: Shape> $Trait<f32> for Tensor<S, f32> {
            #[inline]
            fn $method(&mut self, rhs: f32) {
                self.as_mut_slice().iter_mut().for_each(|x| *x = *x $sym rhs);
            }
        }

        impl<S: Shape> $Trait<f64> for Tensor<S, f64> {
            #[inline]
            fn $method(&mut self, rhs: f64) {
                self.as_mut_slice().iter_mut().for_each(|x| *x = *x $sym rhs);
            }
        }
    };
}

assign_operator!(AddAssign, add_assign, "+=", +);
assign_operator!(SubAssign, sub_assign, "-=", -);
assign_operator!(MulAssign, mul_assign, "*=", *);
assign_operator!(DivAssign, div_assign, "/=", /);

/// Unary elementwise functions.
impl<S: Shape, T: Float> Tensor<S, T> {
    /// `eˣ` elementwise.
    pub fn exp(&self) -> Tensor<S, T> {
        self.map(T::exp)
    }
    /// Natural logarithm elementwise.
    pub fn ln(&self) -> Tensor<S, T> {
        self.map(T::ln)
    }
    /// Square root elementwise.
    pub fn sqrt(&self) -> Tensor<S, T> {
        self.map(T::sqrt)
    }
    /// `xⁿ` elementwise.
    pub fn powi(&self, n: i32) -> Tensor<S, T> {
        self.map(|x| x.powi(n))
    }
    /// `|x|` elementwise.
    pub fn abs(&self) -> Tensor<S, T> {
        self.map(T::abs)
    }
    /// Each element limited to `[lo, hi]`.
    pub fn clamp(&self, lo: T, hi: T) -> Tensor<S, T> {
        self.map(|x| x.max(lo).min(hi))
    }
    /// Applies `f` to every element in place.
    pub fn map_inplace(&mut self, f: impl FnMut(T) -> T) {
        let mut f = f;
        self.as_mut_slice().iter_mut().for_each(|x| *x = f(*x));
    }
}

macro_rules! broadcast_methods {
    ($view:ident, $($lt:lifetime)?) => {
        /// A zero-copy view of `self` stretched to the static shape `S2` (size-1 axes and
        /// missing leading axes get stride 0); the type checker checks [`BroadcastsTo`].
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// let bias = Tensor::<(D<3>,)>::from_vec(vec![1., 2., 3.]).unwrap();
        /// let b = bias.broadcast_to::<(D<2>, D<3>)>();
        /// assert_eq!(b.strides().as_slice(), &[0, 1]);
        /// assert_eq!(b.to_tensor().as_slice(), &[1., 2., 3., 1., 2., 3.]);
        /// ```
        pub fn broadcast_to<S2>(&self) -> TensorView<'_, S2, T>
        where
            S2: crate::shape::StaticShape,
            S: BroadcastsTo<S2>,
        {
            self.try_broadcast_to_with(S2::default())
                .expect("static shapes that broadcast by type always fit")
        }

        /// [`broadcast_to`](Self::broadcast_to) a shape given as a value; `Err` when runtime
        /// sizes do not fit.
        pub fn try_broadcast_to_with<S2: Shape>(
            &self,
            shape: S2,
        ) -> Result<TensorView<'_, S2, T>, ShapeError>
        where
            S: BroadcastsTo<S2>,
        {
            let v = self.$view();
            let dims = shape.dims();
            let mut strides = [0usize; 8];
            if !v.shape().fits(&shape)
                || broadcast_strides(&v.dims(), &v.strides(), &dims, &mut strides).is_none()
            {
                return Err(ShapeError::Incompatible {
                    op: "broadcast_to",
                    lhs: format!("{:?}", v.shape()),
                    rhs: format!("{shape:?}"),
                    detail: "each dim must equal the target's or be 1".into(),
                });
            }
            TensorView::from_parts(v.as_base_slice(), v.offset(), shape, &strides[..S2::RANK])
        }
    };
}

impl<S: Shape, T: Float> Tensor<S, T> {
    broadcast_methods!(view,);
}

impl<S: Shape, T: Float> TensorView<'_, S, T> {
    broadcast_methods!(as_view,);

    /// A contiguous owned copy (the same as [`to_tensor`](Self::to_tensor)).
    pub fn to_contiguous(&self) -> Tensor<S, T> {
        self.to_tensor()
    }
}
