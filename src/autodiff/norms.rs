//! Traced `layer_norm` and `rms_norm` over the last axis, with the gradients of the input,
//! the weight and the bias.
//!
//! Per row of length n, with `x̂ = (x − μ)·r`, `r = 1/√(σ² + ε)` and `h = g·w`:
//! layer norm gives `dx = r·(h − mean(h) − x̂·mean(h·x̂))`, `dw += g·x̂`, `db += g`;
//! RMS norm (`x̂ = x·r`, `r = 1/√(mean(x²) + ε)`) gives `dx = r·(h − x̂·mean(h·x̂))`,
//! `dw += g·x̂`. The row statistics are recomputed from the saved input (cheap, O(n)) rather
//! than stored.

use super::var::{one_tape, record, Handle, Var};
use crate::element::Float;
use crate::ops::Norms;
use crate::shape::{LastAxis, Shape};

/// The backward of both norms: `bias` says whether there is a bias; `centre` whether the
/// mean is subtracted (layer norm) or not (RMS norm).
fn norm_backward<S: Shape, T: Float>(
    x: &Handle<S, T>,
    w: &Handle<impl Shape, T>,
    b: Option<&Handle<impl Shape, T>>,
    eps: T,
    centre: bool,
    g: &[T],
    sink: &mut super::tape::GradSink<'_, T>,
) {
    let xv = x.view().to_vec();
    let wv = w.view().to_vec();
    let n = wv.len();
    if n == 0 {
        return;
    }
    let nf = T::from_usize(n);
    let mut dx = crate::pool::zeroed(xv.len());
    let (mut dw, mut db) = (crate::pool::zeroed(n), crate::pool::zeroed(n));
    for ((xr, gr), dxr) in xv
        .chunks_exact(n)
        .zip(g.chunks_exact(n))
        .zip(dx.chunks_exact_mut(n))
    {
        let mean = if centre {
            xr.iter().copied().sum::<T>() / nf
        } else {
            T::ZERO
        };
        let var = xr.iter().map(|&v| (v - mean) * (v - mean)).sum::<T>() / nf;
        let r = T::ONE / (var + eps).sqrt();
        let (mut mh, mut mhx) = (T::ZERO, T::ZERO);
        for j in 0..n {
            let xh = (xr[j] - mean) * r;
            let h = gr[j] * wv[j];
            mh += h;
            mhx += h * xh;
            dw[j] += gr[j] * xh;
            db[j] += gr[j];
        }
        let (mh, mhx) = (if centre { mh / nf } else { T::ZERO }, mhx / nf);
        for j in 0..n {
            let xh = (xr[j] - mean) * r;
            dxr[j] = r * (gr[j] * wv[j] - mh - xh * mhx);
        }
    }
    sink.add(x, &dx);
    sink.add(w, &dw);
    if let Some(b) = b {
        sink.add(b, &db);
    }
}

impl<'t, S: LastAxis, T: Float> Var<'t, S, T> {
    /// Layer normalisation over the last axis (the tensor op's forward), traced in the
    /// input, the weight and the bias.
    pub fn layer_norm(
        &self,
        weight: &Var<'t, (S::Last,), T>,
        bias: &Var<'t, (S::Last,), T>,
        eps: T,
    ) -> Var<'t, S, T> {
        let value = self.value().layer_norm(&weight.value(), &bias.value(), eps);
        let (x, w, b) = (self.h.clone(), weight.h.clone(), bias.h.clone());
        let traced = x.is_traced() || w.is_traced() || b.is_traced();
        let tape = one_tape("layer_norm", &[self.tape, weight.tape, bias.tape]);
        record(tape, value, traced, move |_| {
            Box::new(move |g, sink| norm_backward(&x, &w, Some(&b), eps, true, g, sink))
        })
    }

    /// RMS normalisation over the last axis (the tensor op's forward), traced in the input
    /// and the weight.
    pub fn rms_norm(&self, weight: &Var<'t, (S::Last,), T>, eps: T) -> Var<'t, S, T> {
        let value = self.value().rms_norm(&weight.value(), eps);
        let (x, w) = (self.h.clone(), weight.h.clone());
        let traced = x.is_traced() || w.is_traced();
        let tape = one_tape("rms_norm", &[self.tape, weight.tape]);
        record(tape, value, traced, move |_| {
            Box::new(move |g, sink| {
                norm_backward(&x, &w, None::<&Handle<(), T>>, eps, false, g, sink)
            })
        })
    }
}
