//! Traced multi-head layout: [`Var::split_heads`] and [`Var::merge_heads`], with the rules
//! and semantics of [`nn::heads`](crate::ops::heads).
//!
//! `split_heads` is a strided view, as for tensors: the traced value shares its node, and
//! the gradient of each head lands in the columns of the model dim it was read from,
//! through the same strides (no backward of its own, no copy). `merge_heads` copies the
//! heads side by side; its backward reads the output's gradient back through the split
//! strides into the heads' gradient.

use std::sync::Arc;

use super::strided::for_each_pair;
use super::var::{record, Handle, Var};
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::ShapeError;
use crate::ops::heads::{MergeHeads, SplitHeads};
use crate::shape::Shape;
use crate::tensor::Tensor;

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// `(…, Seq, DModel)` → `(…, Heads, Seq, HeadDim)`, a strided view of the same traced
    /// value (`Heads × HeadDim = DModel` checked by the type checker); see
    /// [`TensorView::split_heads`](crate::TensorView::split_heads).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 3; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
    /// let x = Param::new(Tensor::<(Seq, DModel)>::from_fn(|[s, c]| (10 * s + c) as f32));
    /// let tape = Tape::new();
    /// let h = tape.param(&x).split_heads::<Heads, HeadDim>(); // (Heads, Seq, HeadDim)
    /// assert_eq!(h.value().get([1, 2, 0]), Some(&23.0));
    /// // Only head 1 is used: the gradient reaches columns 3..6 only.
    /// let one = tape.constant(Tensor::<(Heads, Seq, HeadDim)>::from_fn(|[h, _, _]| h as f32));
    /// let grads = (&h * &one).sum_all().backward();
    /// assert_eq!(grads.of(&x).unwrap().to_vec()[..6], [0., 0., 0., 1., 1., 1.]);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 3; pub DModel = 6; pub Heads = 4; pub HeadDim = 3);
    /// let tape = Tape::<f32>::new();
    /// let h = tape.constant(Tensor::<(Seq, DModel)>::zeros()).split_heads::<Heads, HeadDim>(); // 4 × 3 ≠ 6
    /// ```
    pub fn split_heads<H: StaticDim, Hd: StaticDim>(&self) -> Var<'t, S::Output, T>
    where
        S: SplitHeads<H, Hd>,
    {
        let (d, s) = (self.h.shape.dims(), &self.h.strides);
        let r = d.len();
        let cs = s[r - 1];
        let shape = self.h.shape.split_shape();
        let mut strides = shape.contiguous_strides();
        strides[..r - 2].copy_from_slice(&s[..r - 2]);
        strides[r - 2] = Hd::SIZE * cs;
        strides[r - 1] = s[r - 2];
        strides[r] = cs;
        Var {
            tape: self.tape,
            h: Handle {
                id: self.h.id,
                data: Arc::clone(&self.h.data),
                offset: self.h.offset,
                shape,
                strides,
            },
        }
    }

    /// `(…, Heads, Seq, HeadDim)` → `(…, Seq, DModel)`: the heads copied side by side (the
    /// tensor op's forward); the backward hands each head its columns of the gradient. See
    /// [`TensorView::merge_heads`](crate::TensorView::merge_heads).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 3; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
    /// let x = Param::new(Tensor::<(Seq, DModel)>::from_fn(|[s, c]| (10 * s + c) as f32));
    /// let tape = Tape::new();
    /// let back = tape.param(&x).split_heads::<Heads, HeadDim>().merge_heads::<DModel>();
    /// assert_eq!(back.value().to_vec(), x.value().as_slice());
    /// let w = Tensor::<(Seq, DModel)>::from_fn(|[s, c]| (s * 6 + c) as f32);
    /// let grads = (&back * &tape.constant(w.clone())).sum_all().backward();
    /// assert_eq!(grads.of(&x).unwrap().to_vec(), w.as_slice()); // the identity's gradient
    /// ```
    pub fn merge_heads<C: StaticDim>(&self) -> Var<'t, S::Output, T>
    where
        S: MergeHeads<C>,
    {
        let value = self.value().merge_heads::<C>();
        let x = self.h.clone();
        record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| {
                let Some(id) = x.id else { return };
                let d = x.shape.dims();
                let r = d.len();
                // The output's gradient `(…, Seq, H·Hd)` read as `(…, H, Seq, Hd)`.
                let (h, seq, hd) = (d[r - 3], d[r - 2], d[r - 1]);
                let mut gs = [0usize; 4];
                if r == 4 {
                    gs[0] = seq * h * hd;
                }
                gs[r - 3] = hd;
                gs[r - 2] = h * hd;
                gs[r - 1] = 1;
                let buf = sink.buf(id);
                for_each_pair(&d, (x.offset, &x.strides), (0, &gs[..r]), |_, o, gi| {
                    buf[o] += g[gi];
                });
            })
        })
    }
}

/// Heads `(B, H, S, Hd)` traced, or why not.
type HeadsResult<'t, B, H, S, Hd, T> = Result<Var<'t, (B, H, S, Hd), T>, ShapeError>;

/// `Err` naming `op` and both sides.
fn heads_error(op: &'static str, a: String, b: String, detail: String) -> ShapeError {
    ShapeError::incompatible_described(op, a, b, detail)
}

impl<'t, B: Dim, S: Dim, C: Dim, T: Float> Var<'t, (B, S, C), T> {
    /// `(B, S, C)` → `(B, H, S, Hd)` for dims of any kind, a strided view like
    /// [`split_heads`](Self::split_heads), with `h × hd = C` checked at run time (the
    /// form for heads known only at run time: a checkpoint's dims read from its file).
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::<f32>::new();
    /// let x = tape.constant(Tensor::<(Dyn, Dyn, Dyn)>::from_fn_with(
    ///     (Dyn::new(1), Dyn::new(2), Dyn::new(6)),
    ///     |[_, s, c]| (10 * s + c) as f32,
    /// ));
    /// let h = x.try_split_heads_with(Dyn::new(3), Dyn::new(2)).unwrap(); // (1, 3, 2, 2)
    /// assert_eq!(h.value().get([0, 2, 1, 0]), Some(&14.0));
    /// assert!(x.try_split_heads_with(Dyn::new(4), Dyn::new(2)).is_err()); // 4 × 2 ≠ 6
    /// ```
    pub fn try_split_heads_with<H: Dim, Hd: Dim>(
        &self,
        h: H,
        hd: Hd,
    ) -> HeadsResult<'t, B, H, S, Hd, T> {
        let (b, s, c) = self.h.shape;
        if h.size().checked_mul(hd.size()) != Some(c.size()) {
            return Err(heads_error(
                "split_heads",
                format!("{:?}", self.h.shape),
                format!("heads ({h:?}, {hd:?})"),
                format!(
                    "{} heads of {} do not make a width of {}",
                    h.size(),
                    hd.size(),
                    c.size()
                ),
            ));
        }
        let st = &self.h.strides;
        let cs = st[2];
        let strides = [st[0], hd.size() * cs, st[1], cs];
        Ok(Var {
            tape: self.tape,
            h: Handle {
                id: self.h.id,
                data: Arc::clone(&self.h.data),
                offset: self.h.offset,
                shape: (b, h, s, hd),
                strides: strides.into(),
            },
        })
    }
}

impl<'t, B: Dim, H: Dim, S: Dim, Hd: Dim, T: Float> Var<'t, (B, H, S, Hd), T> {
    /// `(B, H, S, Hd)` → `(B, S, C)` for dims of any kind: the heads copied side by side,
    /// as [`merge_heads`](Self::merge_heads), with `H × Hd = c` checked at run time.
    pub fn try_merge_heads_with<C: Dim>(&self, c: C) -> Result<Var<'t, (B, S, C), T>, ShapeError> {
        let (b, h, s, hd) = self.h.shape;
        if h.size().checked_mul(hd.size()) != Some(c.size()) {
            return Err(heads_error(
                "merge_heads",
                format!("{:?}", self.h.shape),
                format!("{c:?}"),
                format!(
                    "{} heads of {} do not make a width of {}",
                    h.size(),
                    hd.size(),
                    c.size()
                ),
            ));
        }
        let v = self.value();
        let (d, st) = (v.dims(), v.strides());
        let data = v.as_base_slice();
        let mut out = crate::pool::with_capacity(d[0] * d[1] * d[2] * d[3]);
        for bi in 0..d[0] {
            for t in 0..d[2] {
                for head in 0..d[1] {
                    let base = v.offset() + bi * st[0] + head * st[1] + t * st[2];
                    if st[3] == 1 {
                        out.extend_from_slice(&data[base..base + d[3]]);
                    } else {
                        out.extend((0..d[3]).map(|j| data[base + j * st[3]]));
                    }
                }
            }
        }
        let value = Tensor::from_parts((b, s, c), out);
        let x = self.h.clone();
        Ok(record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| {
                let Some(id) = x.id else { return };
                let d = x.shape.dims();
                let (h, seq, hd) = (d[1], d[2], d[3]);
                let gs = [seq * h * hd, hd, h * hd, 1];
                let buf = sink.buf(id);
                for_each_pair(&d, (x.offset, &x.strides), (0, &gs[..]), |_, o, gi| {
                    buf[o] += g[gi];
                });
            })
        }))
    }

    /// Grouped-query attention's `repeat_kv`: `(B, Hk, S, Hd)` → `(B, h, S, Hd)`, head `j`
    /// of the result a copy of head `j / (h / Hk)` (each key/value head serves a group of
    /// `h / Hk` query heads, in order). The backward sums each group's gradients into its
    /// head. `Err` unless `Hk` divides `h`.
    pub fn try_repeat_heads_with<H2: Dim>(&self, h: H2) -> HeadsResult<'t, B, H2, S, Hd, T> {
        let (b, hk, s, hd) = self.h.shape;
        if hk.size() == 0 || !h.size().is_multiple_of(hk.size()) {
            return Err(heads_error(
                "repeat_heads",
                format!("{:?}", self.h.shape),
                format!("{h:?}"),
                format!(
                    "{} key/value heads do not divide {} heads",
                    hk.size(),
                    h.size()
                ),
            ));
        }
        if h.size() == hk.size() {
            // Each head serves itself: the same traced value under the queries' heads dim,
            // a view (its gradient lands in the node through the same strides).
            return Ok(Var {
                tape: self.tape,
                h: Handle {
                    id: self.h.id,
                    data: Arc::clone(&self.h.data),
                    offset: self.h.offset,
                    shape: (b, h, s, hd),
                    strides: self.h.strides,
                },
            });
        }
        let group = h.size() / hk.size();
        let v = self.value();
        let (d, st) = (v.dims(), v.strides());
        let data = v.as_base_slice();
        let inner = d[2] * d[3];
        let mut out = crate::pool::with_capacity(d[0] * h.size() * inner);
        for bi in 0..d[0] {
            for head in 0..h.size() {
                let src = head / group;
                for t in 0..d[2] {
                    let base = v.offset() + bi * st[0] + src * st[1] + t * st[2];
                    out.extend((0..d[3]).map(|j| data[base + j * st[3]]));
                }
            }
        }
        let value = Tensor::from_parts((b, h, s, hd), out);
        let x = self.h.clone();
        Ok(record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| {
                let d = x.shape.dims();
                let (nb, hk, inner) = (d[0], d[1], d[2] * d[3]);
                let mut summed = crate::pool::zeroed(nb * hk * inner);
                for bi in 0..nb {
                    for head in 0..hk * group {
                        let src = &g[(bi * hk * group + head) * inner..][..inner];
                        let dst = &mut summed[(bi * hk + head / group) * inner..][..inner];
                        dst.iter_mut().zip(src).for_each(|(a, &b)| *a += b);
                    }
                }
                sink.add_owned(&x, summed);
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::autodiff::{Param, Tape};
    use crate::dim::Dyn;
    use crate::tensor::Tensor;

    /// `repeat_heads` copies key/value head `h / group` to head `h`, and its gradient sums
    /// each group back into its head; `merge_heads_with`'s gradient is the split.
    #[test]
    fn repeat_and_merge_heads_with_runtime_dims_and_their_gradients() {
        let (b, kh, s, hd) = (Dyn::new(2), Dyn::new(2), Dyn::new(3), Dyn::new(4));
        let x = Param::new(Tensor::<(Dyn, Dyn, Dyn, Dyn), f64>::randn_with(
            (b, kh, s, hd),
            0,
        ));
        let tape = Tape::new();
        let h = Dyn::new(6);
        let r = tape.param(&x).try_repeat_heads_with(h).unwrap();
        for head in 0..6 {
            for t in 0..3 {
                for d in 0..4 {
                    assert_eq!(r.value()[[1, head, t, d]], x.value()[[1, head / 3, t, d]]);
                }
            }
        }
        let w = Tensor::<(Dyn, Dyn, Dyn, Dyn), f64>::randn_with((b, h, s, hd), 1);
        let grads = (&r * &tape.constant(w.clone())).sum_all().backward();
        let g = grads.of(&x).unwrap();
        for bi in 0..2 {
            for k in 0..2 {
                let want: f64 = (0..3).map(|j| w[[bi, 3 * k + j, 2, 1]]).sum();
                assert!((g.get([bi, k, 2, 1]).unwrap() - want).abs() < 1e-12);
            }
        }
        assert!(tape
            .constant(x.value().clone())
            .try_repeat_heads_with(Dyn::new(5))
            .is_err());

        let tape = Tape::new();
        let m = tape.param(&x).try_merge_heads_with(Dyn::new(8)).unwrap(); // (B, S, 2·4)
        assert_eq!(m.value()[[1, 2, 5]], x.value()[[1, 1, 2, 1]]);
        let w = Tensor::<(Dyn, Dyn, Dyn), f64>::randn_with((b, s, Dyn::new(8)), 2);
        let grads = (&m * &tape.constant(w.clone())).sum_all().backward();
        assert_eq!(grads.of(&x).unwrap().get([1, 1, 2, 1]), Some(&w[[1, 2, 5]]));
        assert!(tape.param(&x).try_merge_heads_with(Dyn::new(9)).is_err());
    }
}
