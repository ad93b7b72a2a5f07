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
///
/// Two passes, each split over threads without splitting a sum, so the result is the same
/// for every thread count: `dx` by blocks of rows (each row's statistics are its own), then
/// `dw` and `db` by blocks of columns (each column summed over the rows in order).
fn norm_backward<S: Shape, T: Float>(
    x: &Handle<S, T>,
    w: &Handle<impl Shape, T>,
    b: Option<&Handle<impl Shape, T>>,
    eps: T,
    centre: bool,
    g: &[T],
    sink: &mut super::tape::GradSink<'_, T>,
) {
    let xv = x.view();
    let xv = match xv.as_contiguous_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(xv.to_vec()),
    };
    let wv = w.view().to_vec();
    let n = wv.len();
    if n == 0 {
        return;
    }
    let (nf, rows) = (T::from_usize(n), xv.len() / n);
    // Per row: the mean (0 for RMS norm) and r = 1/√(σ² + ε).
    let mut stats = vec![(T::ZERO, T::ZERO); rows];
    let mut dx = crate::pool::zeroed(xv.len());
    let (threads, per) = crate::parallel::row_blocks(xv.len(), rows);
    let blocks: Vec<_> = dx.chunks_mut(per * n).zip(stats.chunks_mut(per)).collect();
    crate::parallel::for_each_chunk(
        blocks,
        threads,
        || (),
        |_, b, (dxb, stb)| {
            let first = b * per * n;
            let (xb, gb) = (&xv[first..first + dxb.len()], &g[first..first + dxb.len()]);
            for (((xr, gr), dxr), st) in xb
                .chunks_exact(n)
                .zip(gb.chunks_exact(n))
                .zip(dxb.chunks_exact_mut(n))
                .zip(stb)
            {
                let mean = if centre {
                    xr.iter().copied().sum::<T>() / nf
                } else {
                    T::ZERO
                };
                let var = xr.iter().map(|&v| (v - mean) * (v - mean)).sum::<T>() / nf;
                let r = T::ONE / (var + eps).sqrt();
                *st = (mean, r);
                let (mut mh, mut mhx) = (T::ZERO, T::ZERO);
                for j in 0..n {
                    let h = gr[j] * wv[j];
                    mh += h;
                    mhx += h * ((xr[j] - mean) * r);
                }
                let (mh, mhx) = (if centre { mh / nf } else { T::ZERO }, mhx / nf);
                for j in 0..n {
                    let xh = (xr[j] - mean) * r;
                    dxr[j] = r * (gr[j] * wv[j] - mh - xh * mhx);
                }
            }
        },
    );
    // dw (columns 0..n) and db (columns n..2n), each summed over the rows in order.
    let mut acc = crate::pool::zeroed(if b.is_some() { 2 * n } else { n });
    let (threads, per) = crate::parallel::row_blocks(xv.len(), acc.len());
    let blocks: Vec<_> = acc.chunks_mut(per).collect();
    crate::parallel::for_each_chunk(
        blocks,
        threads,
        || (),
        |_, b, block| {
            let first = b * per;
            for ((xr, gr), &(mean, r)) in xv.chunks_exact(n).zip(g.chunks_exact(n)).zip(&stats) {
                for (i, a) in block.iter_mut().enumerate() {
                    let j = first + i;
                    *a += if j < n {
                        gr[j] * ((xr[j] - mean) * r)
                    } else {
                        gr[j - n]
                    };
                }
            }
        },
    );
    sink.add_owned(x, dx);
    sink.add(w, &acc[..n]);
    if let Some(b) = b {
        sink.add(b, &acc[n..]);
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
