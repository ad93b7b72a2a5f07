//! Traced elementwise ops: `+ − × ÷` with NumPy broadcasting, scalar ops, negation and the
//! unary functions (exp, ln, sqrt, powi, abs, tanh, sigmoid).
//!
//! The gradient of a broadcast operand is summed over its broadcast axes back to its own
//! shape: the output gradient is read through the operand's broadcast strides, which are 0
//! on the stretched axes, so every output element that read an input element adds into it.
//!
//! ```
//! use shapecheck::autodiff::{Param, Tape};
//! use shapecheck::prelude::*;
//! let bias = Param::new(Tensor::<(D<3>,)>::zeros());
//! let tape = Tape::new();
//! let x = tape.constant(Tensor::<(D<4>, D<2>, D<3>)>::ones());
//! let y = &x + &tape.param(&bias); // (4, 2, 3) + (3,)
//! let grads = y.sum_all().backward();
//! assert_eq!(grads.of(&bias).unwrap().to_vec(), vec![8.0; 3]); // summed over 4 × 2
//! ```

use core::ops::{Add, Div, Mul, Neg, Sub};

use super::strided::{broadcast, for_each_pair};
use super::tape::GradSink;
use super::var::{one_tape, record, Handle, Var};
use crate::element::Float;
use crate::error::OrPanic;
use crate::ops::{Activations, Elementwise};
use crate::shape::{BroadcastShapes, Shape};
use crate::tensor::{layout, Tensor};

/// Which binary op: the partial derivatives differ.
#[derive(Clone, Copy)]
enum Bin {
    Add,
    Sub,
    Mul,
    Div,
}

/// Adds `∂out/∂x · g` into `x`'s gradient, `y` being the other operand; `x_is_lhs` says
/// which side `x` was on.
fn binary_grad<SX: Shape, SY: Shape, T: Float>(
    op: Bin,
    x: &Handle<SX, T>,
    y: &Handle<SY, T>,
    x_is_lhs: bool,
    out_dims: &[usize],
    g: &[T],
    sink: &mut GradSink<'_, T>,
) {
    if !x.is_traced() {
        return;
    }
    if x.shape.dims().as_slice() == out_dims
        && same_shape_grad(op, x, y, x_is_lhs, out_dims, g, sink)
    {
        return;
    }
    let sx = broadcast(&x.shape.dims(), &x.strides, out_dims);
    match (op, x_is_lhs) {
        (Bin::Add, _) | (Bin::Sub, true) => sink.add_with(x, out_dims, &sx, |k, _| g[k]),
        (Bin::Sub, false) => sink.add_with(x, out_dims, &sx, |k, _| -g[k]),
        _ => {
            // Product and quotient need the operands' values at each output element.
            let sy = broadcast(&y.shape.dims(), &y.strides, out_dims);
            let (xd, yd) = (x.data.slice(), y.data.slice());
            let mut d = crate::pool::with_capacity(g.len());
            for_each_pair(out_dims, (x.offset, &sx), (y.offset, &sy), |k, ox, oy| {
                let (xv, yv) = (xd[ox], yd[oy]);
                d.push(match (op, x_is_lhs) {
                    (Bin::Mul, _) => g[k] * yv,
                    (Bin::Div, true) => g[k] / yv,
                    // out = y / x: ∂/∂x = −y / x².
                    _ => -g[k] * yv / (xv * xv),
                });
            });
            sink.add_with(x, out_dims, &sx, |k, _| d[k]);
        }
    }
}

/// [`binary_grad`] without broadcasting: `x` has the output's shape, and the other operand
/// (when its values are needed) the same shape, laid out contiguously. The gradient is one
/// pass over slices, added through `x`'s strides (moved in when `x` is its whole node).
/// `false` when the other operand's layout does not allow it (the general path runs).
fn same_shape_grad<SX: Shape, SY: Shape, T: Float>(
    op: Bin,
    x: &Handle<SX, T>,
    y: &Handle<SY, T>,
    x_is_lhs: bool,
    out_dims: &[usize],
    g: &[T],
    sink: &mut GradSink<'_, T>,
) -> bool {
    let d: Vec<T> = match (op, x_is_lhs) {
        (Bin::Add, _) | (Bin::Sub, true) => {
            sink.add(x, g);
            return true;
        }
        (Bin::Sub, false) => pooled(g.iter().map(|&v| -v)),
        _ => {
            let yv = y.view();
            let Some(ys) = yv
                .as_contiguous_slice()
                .filter(|_| yv.dims().as_slice() == out_dims)
            else {
                return false;
            };
            match (op, x_is_lhs) {
                (Bin::Mul, _) => pooled(g.iter().zip(ys).map(|(&gv, &yv)| gv * yv)),
                (Bin::Div, true) => pooled(g.iter().zip(ys).map(|(&gv, &yv)| gv / yv)),
                // out = y / x: ∂/∂x = −y / x².
                _ => {
                    let xv = x.view();
                    let mut d = crate::pool::with_capacity(g.len());
                    let mut k = 0;
                    layout::for_each_offset(xv.offset(), &xv.dims(), &xv.strides(), |o| {
                        let xo = xv.as_base_slice()[o];
                        d.push(-g[k] * ys[k] / (xo * xo));
                        k += 1;
                    });
                    d
                }
            }
        }
    };
    sink.add_owned(x, d);
    true
}

/// The gradient `it` yields, in a pooled buffer: a fresh one would be faulted in, page by
/// page, at every step.
fn pooled<T: Copy + 'static>(it: impl ExactSizeIterator<Item = T>) -> Vec<T> {
    let mut d = crate::pool::with_capacity(it.len());
    d.extend(it);
    d
}

#[track_caller]
fn binary<'t, L, R, T>(
    op: Bin,
    a: &Var<'t, L, T>,
    b: &Var<'t, R, T>,
) -> Var<'t, <L as BroadcastShapes<R>>::Output, T>
where
    L: BroadcastShapes<R>,
    R: Shape,
    T: Float,
{
    let (av, bv) = (a.value(), b.value());
    let value = match op {
        Bin::Add => av.try_add(&bv),
        Bin::Sub => av.try_sub(&bv),
        Bin::Mul => av.try_mul(&bv),
        Bin::Div => av.try_div(&bv),
    }
    .or_panic();
    let (x, y) = (a.h.clone(), b.h.clone());
    let traced = x.is_traced() || y.is_traced();
    let name = match op {
        Bin::Add => "add",
        Bin::Sub => "sub",
        Bin::Mul => "mul",
        Bin::Div => "div",
    };
    record(
        one_tape(name, &[a.tape, b.tape]),
        value,
        traced,
        move |out| {
            let out_dims = out.shape.dims().to_vec();
            Box::new(move |g, sink| {
                binary_grad(op, &x, &y, true, &out_dims, g, sink);
                binary_grad(op, &y, &x, false, &out_dims, g, sink);
            })
        },
    )
}

macro_rules! operator {
    ($Trait:ident, $method:ident, $op:expr) => {
        operator!(@impl $Trait, $method, $op, &'a Var<'t, S, T>, &'b Var<'t, R, T>, ['a, 'b]);
        operator!(@impl $Trait, $method, $op, Var<'t, S, T>, Var<'t, R, T>, []);
        operator!(@impl $Trait, $method, $op, &'a Var<'t, S, T>, Var<'t, R, T>, ['a]);
        operator!(@impl $Trait, $method, $op, Var<'t, S, T>, &'b Var<'t, R, T>, ['b]);
    };
    (@impl $Trait:ident, $method:ident, $op:expr, $Lhs:ty, $Rhs:ty, [$($lt:lifetime),*]) => {
        impl<$($lt,)* 't, S, R, T> $Trait<$Rhs> for $Lhs
        where
            S: BroadcastShapes<R>,
            R: Shape,
            T: Float,
        {
            type Output = Var<'t, <S as BroadcastShapes<R>>::Output, T>;
            #[track_caller]
            fn $method(self, rhs: $Rhs) -> Self::Output {
                binary($op, &self, &rhs)
            }
        }
    };
}

/// `var ∘ s` and `s ∘ var` for a scalar `s`: forward `f(x)`, derivative `df(x)`.
macro_rules! scalar_operator {
    ($Trait:ident, $method:ident, $t:ty, |$x:ident, $s:ident| $f:expr, $df:expr, $rf:expr, $rdf:expr) => {
        impl<'t, S: Shape> $Trait<$t> for &Var<'t, S, $t> {
            type Output = Var<'t, S, $t>;
            fn $method(self, $s: $t) -> Var<'t, S, $t> {
                self.unary(self.value().map(|$x| $f), move |$x, _| $df)
            }
        }
        impl<'t, S: Shape> $Trait<$t> for Var<'t, S, $t> {
            type Output = Var<'t, S, $t>;
            fn $method(self, $s: $t) -> Var<'t, S, $t> {
                (&self).$method($s)
            }
        }
        impl<'t, S: Shape> $Trait<&Var<'t, S, $t>> for $t {
            type Output = Var<'t, S, $t>;
            fn $method(self, rhs: &Var<'t, S, $t>) -> Var<'t, S, $t> {
                let $s = self;
                rhs.unary(rhs.value().map(|$x| $rf), move |$x, _| $rdf)
            }
        }
        impl<'t, S: Shape> $Trait<Var<'t, S, $t>> for $t {
            type Output = Var<'t, S, $t>;
            fn $method(self, rhs: Var<'t, S, $t>) -> Var<'t, S, $t> {
                self.$method(&rhs)
            }
        }
    };
}

macro_rules! scalar_operators {
    ($t:ty) => {
        scalar_operator!(
            Add,
            add,
            $t,
            |x, s| x + s,
            {
                let _ = (x, s);
                1.0
            },
            s + x,
            {
                let _ = (x, s);
                1.0
            }
        );
        scalar_operator!(
            Sub,
            sub,
            $t,
            |x, s| x - s,
            {
                let _ = (x, s);
                1.0
            },
            s - x,
            {
                let _ = (x, s);
                -1.0
            }
        );
        scalar_operator!(
            Mul,
            mul,
            $t,
            |x, s| x * s,
            {
                let _ = x;
                s
            },
            s * x,
            {
                let _ = x;
                s
            }
        );
        scalar_operator!(
            Div,
            div,
            $t,
            |x, s| x / s,
            {
                let _ = x;
                1.0 / s
            },
            s / x,
            -s / (x * x)
        );
    };
}

scalar_operators!(f32);
scalar_operators!(f64);

operator!(Add, add, Bin::Add);
operator!(Sub, sub, Bin::Sub);
operator!(Mul, mul, Bin::Mul);
operator!(Div, div, Bin::Div);

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// `f(x)` elementwise, with derivative `df(x, f(x))`.
    pub(crate) fn unary(
        &self,
        value: Tensor<S, T>,
        df: impl Fn(T, T) -> T + Sync + 'static,
    ) -> Var<'t, S, T> {
        let x = self.h.clone();
        record(self.tape, value, x.is_traced(), move |out| {
            let y = out.clone();
            Box::new(move |g, sink| {
                let (xd, yd) = (x.data.slice(), y.data.slice());
                sink.add_map(&x, |k, o| g[k] * df(xd[o], yd[k]));
            })
        })
    }

    /// `eˣ` elementwise.
    pub fn exp(&self) -> Var<'t, S, T> {
        self.unary(self.value().map(T::exp), |_, y| y)
    }

    /// Natural logarithm elementwise.
    pub fn ln(&self) -> Var<'t, S, T> {
        self.unary(self.value().map(T::ln), |x, _| T::ONE / x)
    }

    /// Square root elementwise.
    pub fn sqrt(&self) -> Var<'t, S, T> {
        self.unary(self.value().map(T::sqrt), |_, y| T::from_f64(0.5) / y)
    }

    /// `xⁿ` elementwise.
    pub fn powi(&self, n: i32) -> Var<'t, S, T> {
        self.unary(self.value().map(|x| x.powi(n)), move |x, _| {
            T::from_f64(f64::from(n)) * x.powi(n - 1)
        })
    }

    /// `|x|` elementwise; its derivative at 0 is taken as 0 (PyTorch's choice).
    pub fn abs(&self) -> Var<'t, S, T> {
        self.unary(self.value().map(T::abs), |x, _| {
            if x > T::ZERO {
                T::ONE
            } else if x < T::ZERO {
                -T::ONE
            } else {
                T::ZERO
            }
        })
    }

    /// `tanh` elementwise.
    pub fn tanh(&self) -> Var<'t, S, T> {
        self.unary(self.value().tanh(), |_, y| T::ONE - y * y)
    }

    /// The logistic sigmoid elementwise.
    pub fn sigmoid(&self) -> Var<'t, S, T> {
        self.unary(self.value().sigmoid(), |_, y| y * (T::ONE - y))
    }

    /// `x · s` for a scalar `s`.
    pub fn scale(&self, s: T) -> Var<'t, S, T> {
        self.unary(self.value().map(|x| x * s), move |_, _| s)
    }

    /// `x + s` for a scalar `s`.
    pub fn add_scalar(&self, s: T) -> Var<'t, S, T> {
        self.unary(self.value().map(|x| x + s), |_, _| T::ONE)
    }
}

impl<'t, S: Shape, T: Float> Neg for &Var<'t, S, T> {
    type Output = Var<'t, S, T>;
    fn neg(self) -> Var<'t, S, T> {
        self.unary(self.value().map(|x| -x), |_, _| -T::ONE)
    }
}

impl<'t, S: Shape, T: Float> Neg for Var<'t, S, T> {
    type Output = Var<'t, S, T>;
    fn neg(self) -> Var<'t, S, T> {
        -&self
    }
}
