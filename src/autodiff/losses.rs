//! Losses, each a scalar `Var` ready for `backward()`: mean squared error, cross-entropy
//! over logits, and the contrastive InfoNCE loss over [`UnitVar`] embeddings.
//!
//! Cross-entropy is `log_softmax` (max-subtracted, so logits of ±1e4 give finite values
//! and gradients) followed by the mean negative log-likelihood of the target classes:
//! its gradient is `(softmax − onehot) / rows`, recorded as one node whose backward gives
//! the bits of the two ops' backwards and splits its rows over threads.

use super::unit::UnitVar;
use super::var::{one_tape, record, Var};
use crate::dim::Dim;
use crate::element::Float;
use crate::error::{Error, NumericError, OrPanic, ShapeError};
use crate::shape::Shape;
use crate::tensor::Tensor;

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// Mean squared error `mean((self − target)²)` against a target of the same shape
    /// (traced or constant).
    ///
    /// # Panics
    ///
    /// When runtime dims of the two differ.
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let p = Param::new(Tensor::<(D<2>,)>::from_vec(vec![1.0, 3.0]).unwrap());
    /// let tape = Tape::new();
    /// let target = tape.constant(Tensor::<(D<2>,)>::from_vec(vec![0.0, 1.0]).unwrap());
    /// let loss = tape.param(&p).mse(&target);
    /// assert_eq!(loss.item(), 2.5); // (1 + 4) / 2
    /// assert_eq!(loss.backward().of(&p).unwrap().to_vec(), vec![1.0, 2.0]); // (p − t)
    /// ```
    pub fn mse(&self, target: &Var<'t, S, T>) -> Var<'t, (), T> {
        assert!(
            self.h.shape == target.h.shape,
            "mse: the prediction {:?} and the target {:?} differ in shape",
            self.h.shape,
            target.h.shape
        );
        let (pv, tv) = (self.value().to_vec(), target.value().to_vec());
        let diff: Vec<T> = pv.iter().zip(&tv).map(|(&p, &t)| p - t).collect();
        let n = diff.len();
        let value = diff.iter().map(|&d| d * d).sum::<T>() / T::from_usize(n);
        let (p, t) = (self.h.clone(), target.h.clone());
        let traced = p.is_traced() || t.is_traced();
        let value = Tensor::from_parts((), vec![value]);
        record(
            one_tape("mse", &[self.tape, target.tape]),
            value,
            traced,
            move |_| {
                Box::new(move |g, sink| {
                    let scale = g[0] * T::from_f64(2.0) / T::from_usize(n);
                    let d: Vec<T> = diff.iter().map(|&v| v * scale).collect();
                    sink.add(&p, &d);
                    let neg: Vec<T> = d.iter().map(|&v| -v).collect();
                    sink.add(&t, &neg);
                })
            },
        )
    }
}

impl<'t, N: Dim, C: Dim, T: Float> Var<'t, (N, C), T> {
    /// Cross-entropy of logits `(N, C)` against one target class per row: the mean over
    /// rows of `−log_softmax(logits)[row, target]`.
    ///
    /// # Panics
    ///
    /// When `targets` does not hold one class per row or a class is out of range; see
    /// [`try_cross_entropy`](Self::try_cross_entropy).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let logits = Param::new(Tensor::<(D<1>, D<2>)>::from_vec(vec![1e4, -1e4]).unwrap());
    /// let tape = Tape::new();
    /// let loss = tape.param(&logits).cross_entropy(&[1]);
    /// assert_eq!(loss.item(), 2e4); // finite, though e^(2e4) is not
    /// let g = loss.backward();
    /// assert_eq!(g.of(&logits).unwrap().to_vec(), vec![1.0, -1.0]); // softmax − onehot
    /// ```
    #[track_caller]
    pub fn cross_entropy(&self, targets: &[usize]) -> Var<'t, (), T> {
        self.try_cross_entropy(targets).or_panic()
    }

    /// [`cross_entropy`](Self::cross_entropy) that returns `Err` when `targets` does not
    /// hold one class per row, or a class is not below `C`.
    pub fn try_cross_entropy(&self, targets: &[usize]) -> Result<Var<'t, (), T>, ShapeError> {
        let [n, c] = [self.h.shape.0.size(), self.h.shape.1.size()];
        let bad = |detail: String| ShapeError::Incompatible {
            op: "cross_entropy",
            lhs: format!("logits {:?}", self.h.shape),
            rhs: format!("{} targets", targets.len()),
            detail,
        };
        if targets.len() != n {
            return Err(bad(format!("there must be one target per row ({n})")));
        }
        if let Some(&t) = targets.iter().find(|&&t| t >= c) {
            return Err(bad(format!("class {t} is out of range for {c} classes")));
        }
        Ok(self.log_softmax_nll(targets.to_vec()))
    }

    /// The mean over rows of `−log_softmax(self)[row, targets[row]]` (targets checked by
    /// the caller), recorded as one node. Its backward, `dx = (onehot − eʸ)·d` per row with
    /// `y` the log-softmax and `d = −g/n`, gives the bits of a `log_softmax` node followed
    /// by an NLL node, and is split over threads by rows (the same for every count).
    fn log_softmax_nll(&self, targets: Vec<usize>) -> Var<'t, (), T> {
        use crate::ops::Activations;
        let ls = self.value().log_softmax::<1>();
        let (n, c) = (ls.dims()[0], ls.dims()[1]);
        let mut total = T::ZERO;
        for (i, &t) in targets.iter().enumerate() {
            total += ls.as_slice()[i * c + t];
        }
        let value = Tensor::from_parts((), vec![-total / T::from_usize(n)]);
        let x = self.h.clone();
        record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| {
                let d = -g[0] / T::from_usize(n);
                let y = ls.as_slice();
                let mut dx = crate::pool::zeroed(n * c);
                crate::parallel::for_each_row_block(&mut dx, c, |start, block| {
                    for (r, row) in block.chunks_exact_mut(c).enumerate() {
                        let i = start / c + r;
                        let (t, yr) = (targets[i], &y[i * c..(i + 1) * c]);
                        for (j, (v, &yv)) in row.iter_mut().zip(yr).enumerate() {
                            let onehot = if j == t { d } else { T::ZERO };
                            *v = onehot - yv.exp() * d;
                        }
                    }
                });
                sink.add_owned(&x, dx);
            })
        })
    }
}

impl<'t, B: Dim, E: Dim, T: Float> UnitVar<'t, (B, E), T> {
    /// The one-directional InfoNCE loss of anchors `self` against their positives (row
    /// `i` of `positives` is the positive of row `i` of `self`; every other row of the
    /// batch is a negative): the cross-entropy of the scaled cosine similarities
    /// `self·positivesᵀ / τ` with the diagonal as the targets, i.e. the mean over anchors of
    /// `−log(e^{cos(aᵢ, pᵢ)/τ} / Σⱼ e^{cos(aᵢ, pⱼ)/τ})`. This is sentence-transformers'
    /// `MultipleNegativesRankingLoss` (whose `scale` is `1/τ`, 20 by default: τ = 0.05).
    ///
    /// It is built from traced ops (similarity, scale, `log_softmax`, the mean NLL), so it
    /// is as stable as `log_softmax` at small τ: logits of `±1/τ` are max-subtracted, and τ
    /// = 1e-4 gives a finite loss and gradients.
    ///
    /// # Panics
    ///
    /// When τ is not finite and positive, or the two batches' runtime sizes differ; see
    /// [`try_info_nce`](Self::try_info_nce).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// dim!(pub Batch = 2; pub Emb = 2);
    /// let a = Param::new(Tensor::<(Batch, Emb), f64>::from_vec(vec![1., 0., 0., 1.]).unwrap());
    /// let tape = Tape::new();
    /// let anchors = tape.param(&a).normalize();
    /// let loss = anchors.info_nce(&anchors, 0.5); // cos 1 on the diagonal, 0 off it
    /// let expected = (1.0f64 + (-2.0f64).exp()).ln(); // −log(e² / (e² + e⁰))
    /// assert!((loss.item() - expected).abs() < 1e-12);
    /// ```
    #[track_caller]
    pub fn info_nce(&self, positives: &UnitVar<'t, (B, E), T>, tau: T) -> Var<'t, (), T> {
        self.try_info_nce(positives, tau).or_panic()
    }

    /// [`info_nce`](Self::info_nce), returning `Err` when τ is not finite and positive
    /// ([`NumericError::InvalidArgument`]) or when the two batches have different runtime
    /// sizes ([`ShapeError`]).
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::<f64>::new();
    /// let a = tape.constant(Tensor::<(Dyn, D<2>), f64>::randn_with((Dyn::new(3), D), 0)).normalize();
    /// let b = tape.constant(Tensor::<(Dyn, D<2>), f64>::randn_with((Dyn::new(4), D), 1)).normalize();
    /// assert!(a.try_info_nce(&a, 0.05).is_ok());
    /// assert!(a.try_info_nce(&a, 0.0).is_err()); // τ must be > 0
    /// assert!(a.try_info_nce(&b, 0.05).is_err()); // 3 anchors, 4 positives
    /// ```
    pub fn try_info_nce(
        &self,
        positives: &UnitVar<'t, (B, E), T>,
        tau: T,
    ) -> Result<Var<'t, (), T>, Error> {
        let logits = self.contrastive_logits(positives, tau)?;
        Ok(logits.cross_entropy(&diagonal(logits.shape().0.size())))
    }

    /// The symmetric InfoNCE loss (CLIP's, and sentence-transformers'
    /// `MultipleNegativesSymmetricRankingLoss`): the mean of
    /// [`info_nce`](Self::info_nce) from `self` to `positives` and from `positives` to
    /// `self`, the second read from the same similarity matrix transposed (a view).
    ///
    /// # Panics
    ///
    /// As [`info_nce`](Self::info_nce).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let (a, p) = (Param::new(Tensor::<(D<3>, D<4>), f64>::randn(0)), Param::new(Tensor::randn(1)));
    /// let tape = Tape::new();
    /// let (ua, up) = (tape.param(&a).normalize(), tape.param(&p).normalize());
    /// let both = ua.info_nce_symmetric(&up, 0.1).item();
    /// let halves = 0.5 * (ua.info_nce(&up, 0.1).item() + up.info_nce(&ua, 0.1).item());
    /// assert!((both - halves).abs() < 1e-12);
    /// ```
    #[track_caller]
    pub fn info_nce_symmetric(&self, positives: &UnitVar<'t, (B, E), T>, tau: T) -> Var<'t, (), T> {
        self.try_info_nce_symmetric(positives, tau).or_panic()
    }

    /// [`info_nce_symmetric`](Self::info_nce_symmetric), returning the `Err`s of
    /// [`try_info_nce`](Self::try_info_nce).
    pub fn try_info_nce_symmetric(
        &self,
        positives: &UnitVar<'t, (B, E), T>,
        tau: T,
    ) -> Result<Var<'t, (), T>, Error> {
        let logits = self.contrastive_logits(positives, tau)?;
        let targets = diagonal(logits.shape().0.size());
        let forward = logits.cross_entropy(&targets);
        let backward = logits.t().cross_entropy(&targets);
        Ok((&forward + &backward).scale(T::from_f64(0.5)))
    }

    /// `self·positivesᵀ / τ`, after checking τ and the batch sizes.
    fn contrastive_logits(
        &self,
        positives: &UnitVar<'t, (B, E), T>,
        tau: T,
    ) -> Result<Var<'t, (B, B), T>, Error> {
        let (sa, sp) = (self.as_var().shape(), positives.as_var().shape());
        if !(tau.is_finite() && tau > T::ZERO) {
            return Err(Error::Numeric(NumericError::InvalidArgument {
                op: "info_nce",
                shape: format!("{sa:?}"),
                name: "tau",
                value: format!("{tau:?}"),
                rule: "it must be finite and greater than 0",
            }));
        }
        if sa.0.size() != sp.0.size() {
            return Err(Error::Shape(ShapeError::incompatible(
                "info_nce",
                &sa,
                &sp,
                "the anchors and the positives must be batches of the same size, row i the positive of row i".to_owned(),
            )));
        }
        Ok(self.similarity(positives).scale(T::ONE / tau))
    }
}

/// The targets `0, 1, …, n − 1`: row `i`'s positive is column `i`.
fn diagonal(n: usize) -> Vec<usize> {
    (0..n).collect()
}
