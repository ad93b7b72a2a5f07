//! Traced unit vectors: [`Var::normalize`] returns a [`UnitVar`], the traced counterpart of
//! [`Unit`], and the traced [`cosine_similarity`] and [`UnitVar::similarity`] take only
//! `UnitVar`s, so "forgot to normalise" is the same compile error traced as untraced (the
//! rule's message is the same: "cosine similarity needs unit vectors, and … is not
//! normalised").
//!
//! A `UnitVar` is a `Var` whose every row (lane of the last axis) has norm 1 or is zero,
//! as for `Unit`: it is made only by `normalize` (of a traced or constant value) or from an
//! untraced `Unit` ([`Tape::constant_unit`]). [`as_var`](UnitVar::as_var) reads it as a
//! plain `Var` for any other op.
//!
//! Per row, with `y = x/‖x‖`, the backward of `normalize` is `dx = (g − y·(y·g))/‖x‖`,
//! with `‖x‖` recovered as `x·y` (no second norm, and no overflow where the forward had
//! none). A zero row, which the forward leaves zero, gets a zero gradient (it has no
//! direction to differentiate; PyTorch's `F.normalize` divides by `max(‖x‖, 1e-12)`
//! instead, giving `g/1e-12`); a row holding a NaN stays NaN in the gradient.
//!
//! ```
//! use shapecheck::autodiff::{cosine_similarity, Param, Tape};
//! use shapecheck::prelude::*;
//! let a = Param::new(Tensor::<(D<2>,), f64>::from_vec(vec![3.0, 4.0]).unwrap());
//! let tape = Tape::new();
//! let u = tape.param(&a).normalize();
//! let e = tape.constant(Tensor::<(D<2>,), f64>::from_vec(vec![1.0, 0.0]).unwrap()).normalize();
//! let cos = cosine_similarity(&u, &e);
//! assert!((cos.item() - 0.6).abs() < 1e-15);
//! let g = cos.backward();
//! let g = g.of(&a).unwrap().to_vec(); // (e − u·(u·e))/‖a‖ = ([1, 0] − 0.6·[0.6, 0.8])/5
//! assert!((g[0] - 0.128).abs() < 1e-15 && (g[1] + 0.096).abs() < 1e-15);
//! ```
//!
//! ```compile_fail
//! use shapecheck::autodiff::{cosine_similarity, Tape};
//! use shapecheck::prelude::*;
//! let tape = Tape::new();
//! let a = tape.constant(Tensor::<(D<3>,)>::ones());
//! let s = cosine_similarity(&a, &a); // not normalised
//! ```

use super::tape::Tape;
use super::var::{one_tape, record, Var};
use crate::dim::Dim;
use crate::element::Float;
use crate::ops::reduce::for_each_lane_offset;
use crate::ops::{Norms, Unit};
use crate::shape::{LastAxis, Shape};
use crate::tensor::TensorView;

/// A traced value whose every row (lane of the last axis) has norm 1, or is zero: what
/// [`Var::normalize`] returns and what the traced cosine similarity accepts.
pub struct UnitVar<'t, S: Shape, T: Float = f32> {
    var: Var<'t, S, T>,
}

impl<S: Shape, T: Float> Clone for UnitVar<'_, S, T> {
    fn clone(&self) -> Self {
        UnitVar {
            var: self.var.clone(),
        }
    }
}

impl<S: Shape, T: Float> core::fmt::Debug for UnitVar<'_, S, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "UnitVar({:?})", self.var)
    }
}

impl<'t, S: Shape, T: Float> UnitVar<'t, S, T> {
    /// The unit rows as a plain traced value, for any other op.
    pub fn as_var(&self) -> &Var<'t, S, T> {
        &self.var
    }

    /// The unit rows as a plain traced value, by value.
    pub fn into_var(self) -> Var<'t, S, T> {
        self.var
    }

    /// The value, as a view.
    pub fn value(&self) -> TensorView<'_, S, T> {
        self.var.value()
    }

    /// The same unit rows, untraced: gradients stop here.
    pub fn detach(&self) -> UnitVar<'t, S, T> {
        UnitVar {
            var: self.var.detach(),
        }
    }
}

impl<T: Float> Tape<T> {
    /// An untraced [`Unit`] on this tape (fixed embeddings to compare against).
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let u = tape.constant_unit(Tensor::<(D<2>,)>::from_vec(vec![0., 2.]).unwrap().normalize());
    /// assert_eq!(u.value().to_vec(), [0., 1.]);
    /// ```
    pub fn constant_unit<S: Shape>(&self, unit: Unit<S, T>) -> UnitVar<'_, S, T> {
        UnitVar {
            var: self.constant(unit.into_tensor()),
        }
    }
}

impl<'t, S: LastAxis, T: Float> Var<'t, S, T> {
    /// Every row (lane of the last axis) divided by its norm, as a [`UnitVar`]: the tensor
    /// op [`Norms::normalize`] (scaled against overflow; a zero row stays zero, a row with
    /// a NaN becomes NaN), traced. Per row, with `y = x/‖x‖`, the gradient is
    /// `dx = (g − y·(y·g))/‖x‖`; a zero row gets 0, a row with a NaN stays NaN.
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let x = Param::new(Tensor::<(D<2>, D<2>)>::from_vec(vec![3., 4., 0., 0.]).unwrap());
    /// let tape = Tape::new();
    /// let u = tape.param(&x).normalize();
    /// assert_eq!(u.value().to_vec(), [0.6, 0.8, 0., 0.]);
    /// let g = u.as_var().sum_all().backward();
    /// let g = g.of(&x).unwrap().to_vec();
    /// assert!((g[0] - 0.032).abs() < 1e-7 && (g[1] + 0.024).abs() < 1e-7);
    /// assert_eq!(&g[2..], [0., 0.]); // the zero row
    /// ```
    pub fn normalize(&self) -> UnitVar<'t, S, T> {
        let value = self.value().normalize().into_tensor();
        let x = self.h.clone();
        let var = record(self.tape, value, x.is_traced(), move |out| {
            let y = out.clone();
            Box::new(move |g, sink| {
                let Some(id) = x.id else { return };
                let (xd, yd) = (x.data.slice(), y.data.slice());
                let dims = x.shape.dims();
                let buf = sink.buf(id);
                let mut row = 0;
                for_each_lane_offset(x.offset, &dims, &x.strides, S::RANK - 1, |s, st, n| {
                    let (yr, gr) = (&yd[row..row + n], &g[row..row + n]);
                    row += n;
                    let norm = (0..n).fold(T::ZERO, |a, i| a + xd[s + i * st] * yr[i]);
                    if norm == T::ZERO {
                        return; // a zero row: no direction, no gradient
                    }
                    let yg = yr.iter().zip(gr).fold(T::ZERO, |a, (&y, &g)| a + y * g);
                    for i in 0..n {
                        buf[s + i * st] += (gr[i] - yr[i] * yg) / norm;
                    }
                });
            })
        });
        UnitVar { var }
    }
}

impl<'t, N: Dim, K: Dim, T: Float> UnitVar<'t, (N, K), T> {
    /// Cosine similarities of every row of `self` with every row of `other`:
    /// `(N, K)·(M, K)ᵀ = (N, M)`, one traced GEMM (the transpose is a view), as
    /// [`Unit::similarity`].
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let a = tape.constant(Tensor::<(D<2>, D<2>)>::from_vec(vec![3., 4., 0., 1.]).unwrap()).normalize();
    /// let s: Var<(D<2>, D<2>)> = a.similarity(&a);
    /// assert!((s.value()[[0, 1]] - 0.8).abs() < 1e-6);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let a = tape.constant(Tensor::<(D<2>, D<2>)>::ones());
    /// let u = a.normalize();
    /// let s = u.similarity(&a); // `a` is not normalised
    /// ```
    #[track_caller]
    pub fn similarity<M: Dim>(&self, other: &UnitVar<'t, (M, K), T>) -> Var<'t, (N, M), T> {
        self.var.matmul(&other.var.t())
    }
}

/// A traced vector of unit norm (or zero): what the traced [`cosine_similarity`] accepts,
/// as [`UnitVector`](crate::ops::unit::UnitVector) is for tensors.
#[diagnostic::on_unimplemented(
    message = "cosine similarity needs unit vectors, and `{Self}` is not normalised",
    label = "call `.normalize()` on this first",
    note = "cosine similarity of un-normalised vectors is a dot product, not a cosine",
    note = "a traced unit vector is a `UnitVar`, made by `Var::normalize` or `Tape::constant_unit`"
)]
pub trait TracedUnitVector<'t> {
    /// The dim of the vector.
    type Dim: Dim;
    /// The element type.
    type Elem: Float;
    /// The unit vector, as a plain traced value.
    fn unit_var(&self) -> &Var<'t, (Self::Dim,), Self::Elem>;
}

impl<'t, K: Dim, T: Float> TracedUnitVector<'t> for UnitVar<'t, (K,), T> {
    type Dim = K;
    type Elem = T;
    fn unit_var(&self) -> &Var<'t, (K,), T> {
        &self.var
    }
}

/// The cosine of the angle between two traced unit vectors (0 when either is zero), as a
/// scalar `Var`: the traced [`cosine_similarity`](crate::ops::cosine_similarity). Its
/// gradient is the other vector, `d/da = g·b` (then through `normalize`).
///
/// # Panics
///
/// When the runtime sizes of the two vectors differ.
///
/// ```
/// use shapecheck::autodiff::{cosine_similarity, Param, Tape};
/// use shapecheck::prelude::*;
/// let w = Param::new(Tensor::<(D<2>,), f64>::from_vec(vec![1.0, 1.0]).unwrap());
/// let tape = Tape::new();
/// let u = tape.param(&w).normalize();
/// let cos = cosine_similarity(&u, &u);
/// assert!((cos.item() - 1.0).abs() < 1e-15);
/// let g = cos.backward(); // cos(w, w) is 1 for every w: no gradient
/// assert!(g.of(&w).unwrap().to_vec().iter().all(|v| v.abs() < 1e-15));
/// ```
#[track_caller]
pub fn cosine_similarity<'t, A, B, K, T>(a: &A, b: &B) -> Var<'t, (), T>
where
    A: TracedUnitVector<'t, Dim = K, Elem = T>,
    B: TracedUnitVector<'t, Dim = K, Elem = T>,
    K: Dim,
    T: Float,
{
    let (a, b) = (a.unit_var(), b.unit_var());
    let value = crate::tensor::Tensor::from_parts((), vec![a.value().dot(&b.value())]);
    let (x, y) = (a.h.clone(), b.h.clone());
    let traced = x.is_traced() || y.is_traced();
    record(
        one_tape("cosine_similarity", &[a.tape, b.tape]),
        value,
        traced,
        move |_| {
            Box::new(move |g, sink| {
                let (xv, yv) = (x.view().to_vec(), y.view().to_vec());
                let dx: Vec<T> = yv.iter().map(|&v| g[0] * v).collect();
                let dy: Vec<T> = xv.iter().map(|&v| g[0] * v).collect();
                sink.add(&x, &dx);
                sink.add(&y, &dy);
            })
        },
    )
}
