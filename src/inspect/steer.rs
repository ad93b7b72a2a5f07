//! Interventions on the residual stream, and steering directions.
//!
//! An [`Intervention`] acts on the residual stream entering a layer (`resid_pre`; the
//! layer count means the stream leaving the last layer): add `coefficient · vector` at every
//! position from a given one onward, replace those positions with a vector, or zero them
//! (ablate). Its vector is a `Tensor<(D,)>` of the model's hidden dim, so a vector of the
//! wrong width is a compile error (see `MiniLm::run_with_cache` in `models`).
//!
//! Directions: [`mean_difference`] (the mean of one set of activations minus the mean of
//! another) and [`top_difference_component`] (the top principal component of paired
//! differences, scaled by their mean projection on it).
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::inspect::{mean_difference, top_difference_component};
//! dim!(pub Inputs; pub Width = 3);
//! let a = Tensor::<(Inputs, Width)>::from_vec_with((Inputs::new(2), Width), vec![2., 0., 1., 4., 0., 1.]).unwrap();
//! let b = Tensor::<(Inputs, Width)>::from_vec_with((Inputs::new(2), Width), vec![0., 0., 1., 0., 1., 1.]).unwrap();
//! let d = mean_difference(&a, &b).unwrap();
//! assert_eq!(d.as_slice(), &[3.0, -0.5, 0.0]);
//! let top = top_difference_component(&a, &b).unwrap();
//! assert!(top[[0]] > 2.9 && top[[2]].abs() < 1e-5); // mostly along the first axis
//! ```

use core::ops::Range;

use super::InspectError;
use crate::dim::Dim;
use crate::element::Float;
use crate::linalg::{Pca, RankAtMost};
use crate::tensor::Tensor;

use super::pca::Components;

crate::dim!(
    /// The rows of the symmetrised differences [`top_difference_component`] fits (runtime).
    pub Differences
);

/// What an [`Intervention`] does to the positions it covers.
#[derive(Clone, Debug)]
enum Action<D: Dim, T: Float> {
    Add {
        vector: Tensor<(D,), T>,
        coefficient: T,
    },
    Replace(Tensor<(D,), T>),
    Ablate,
}

/// A change to the residual stream (of width `D`, elements `T`: `f32` unless the model
/// runs in another float) entering a layer, during a forward.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::inspect::Intervention;
/// dim!(pub Hidden = 4);
/// let v = Tensor::<(Hidden,)>::ones();
/// let steer = Intervention::add(3, v, 2.0).from_position(1);
/// assert_eq!((steer.layer(), steer.from()), (3, 1));
/// let ablate = Intervention::<Hidden>::ablate(0);
/// assert_eq!(ablate.from(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct Intervention<D: Dim, T: Float = f32> {
    layer: usize,
    from: usize,
    /// The position it stops before (`None`: the sequence's end).
    until: Option<usize>,
    action: Action<D, T>,
}

impl<D: Dim, T: Float> Intervention<D, T> {
    /// Adds `coefficient · vector` at every position (of every sequence) entering `layer`.
    pub fn add(layer: usize, vector: Tensor<(D,), T>, coefficient: T) -> Self {
        Intervention {
            layer,
            from: 0,
            until: None,
            action: Action::Add {
                vector,
                coefficient,
            },
        }
    }

    /// Replaces the residual stream entering `layer` with `vector` at every position.
    pub fn replace(layer: usize, vector: Tensor<(D,), T>) -> Self {
        Intervention {
            layer,
            from: 0,
            until: None,
            action: Action::Replace(vector),
        }
    }

    /// Zeroes the residual stream entering `layer` at every position.
    pub fn ablate(layer: usize) -> Self {
        Intervention {
            layer,
            from: 0,
            until: None,
            action: Action::Ablate,
        }
    }

    /// Acts only on positions `from` onward (of each sequence).
    pub fn from_position(mut self, from: usize) -> Self {
        self.from = from;
        self
    }

    /// Stops before position `end` of each sequence (the positions covered are
    /// `from..end`): `.from_position(p).to_position(p + 1)` is position `p` alone, as an
    /// activation patch at (layer, position) needs.
    pub fn to_position(mut self, end: usize) -> Self {
        self.until = Some(end);
        self
    }

    /// The position it stops before, if it does (see [`to_position`](Self::to_position)).
    pub fn until(&self) -> Option<usize> {
        self.until
    }

    /// The layer whose incoming residual stream it changes.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// The first position it changes.
    pub fn from(&self) -> usize {
        self.from
    }

    /// Applies it to the packed rows `x: (Tokens, D)` of the sentences at `sentences`:
    /// rows `from..` of every sentence. An error when a runtime `D` differs from the
    /// vector's width.
    pub(crate) fn apply<R: Dim>(
        &self,
        x: &mut Tensor<(R, D), T>,
        sentences: impl Iterator<Item = Range<usize>>,
    ) -> Result<(), InspectError> {
        self.apply_at(x, sentences, 0)
    }

    /// [`apply`](Self::apply) to rows that stand at positions `offset..` of their
    /// sequences (new tokens decoded after `offset` cached ones): the positions covered
    /// are counted from each sequence's start, not from the first row given.
    pub(crate) fn apply_at<R: Dim>(
        &self,
        x: &mut Tensor<(R, D), T>,
        sentences: impl Iterator<Item = Range<usize>>,
        offset: usize,
    ) -> Result<(), InspectError> {
        let width = x.dims()[1];
        if let Action::Add { vector: v, .. } | Action::Replace(v) = &self.action {
            if v.dims()[0] != width {
                return Err(crate::ShapeError::Incompatible {
                    op: "intervention",
                    lhs: format!("{:?}", x.shape()),
                    rhs: format!("{:?}", v.shape()),
                    detail: "the vector's width is not the residual stream's".into(),
                }
                .into());
            }
        }
        let data = x.as_mut_slice();
        for r in sentences {
            let first = (r.start + self.from.saturating_sub(offset)).min(r.end);
            let end = self.until.map_or(r.end, |u| {
                (r.start + u.saturating_sub(offset)).clamp(first, r.end)
            });
            let Some(rows) = data.get_mut(first * width..end * width) else {
                continue;
            };
            for row in rows.chunks_exact_mut(width.max(1)) {
                match &self.action {
                    Action::Add {
                        vector,
                        coefficient,
                    } => {
                        for (x, v) in row.iter_mut().zip(vector.as_slice()) {
                            *x += *coefficient * *v;
                        }
                    }
                    Action::Replace(v) => row.copy_from_slice(v.as_slice()),
                    Action::Ablate => row.fill(T::ZERO),
                }
            }
        }
        Ok(())
    }
}

/// `mean(rows of a) − mean(rows of b)`. An error when either set is empty or a runtime
/// width differs.
pub fn mean_difference<N: Dim, M: Dim, D: Dim>(
    a: &Tensor<(N, D)>,
    b: &Tensor<(M, D)>,
) -> Result<Tensor<(D,)>, InspectError> {
    let width = a.dims()[1];
    if b.dims()[1] != width {
        return Err(crate::ShapeError::Incompatible {
            op: "mean_difference",
            lhs: format!("{:?}", a.shape()),
            rhs: format!("{:?}", b.shape()),
            detail: "the two sets have different widths".into(),
        }
        .into());
    }
    let mean = |x: &[f32], rows: usize| -> Result<Vec<f64>, InspectError> {
        if rows == 0 {
            return Err(InspectError::TooFewPoints {
                op: "mean_difference",
                points: 0,
                needed: 1,
            });
        }
        let mut m = vec![0.0f64; width];
        for row in x.chunks_exact(width.max(1)) {
            m.iter_mut().zip(row).for_each(|(m, &v)| *m += f64::from(v));
        }
        Ok(m.into_iter().map(|v| v / rows as f64).collect())
    };
    let (ma, mb) = (
        mean(a.as_slice(), a.dims()[0])?,
        mean(b.as_slice(), b.dims()[0])?,
    );
    let diff = ma.iter().zip(&mb).map(|(x, y)| (x - y) as f32).collect();
    Ok(Tensor::from_vec_with((a.shape().1,), diff)?)
}

/// The top principal component of the paired differences `a[i] − b[i]`, pointing the way
/// of their mean and scaled by their mean projection on it (so that adding it once moves an
/// `b`-like state, on average, as far along it as the `a`s are).
///
/// The differences are fitted together with their negatives, so the existing
/// [`Pca`] (which centres its data) finds the direction of largest mean square, not of
/// largest variance about the mean difference. An error when the sets differ in rows or
/// width, have fewer than one pair, or hold a NaN.
pub fn top_difference_component<N: Dim, D: Dim>(
    a: &Tensor<(N, D)>,
    b: &Tensor<(N, D)>,
) -> Result<Tensor<(D,)>, InspectError>
where
    Components: RankAtMost<Differences, D>,
{
    let (n, width) = (a.dims()[0], a.dims()[1]);
    if b.dims()[0] != n || b.dims()[1] != width {
        return Err(crate::ShapeError::Incompatible {
            op: "top_difference_component",
            lhs: format!("{:?}", a.shape()),
            rhs: format!("{:?}", b.shape()),
            detail: "the sets must pair up: the same rows and width".into(),
        }
        .into());
    }
    if n == 0 || width == 0 {
        return Err(InspectError::TooFewPoints {
            op: "top_difference_component",
            points: n,
            needed: 1,
        });
    }
    let diffs: Vec<f32> = a
        .as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(x, y)| x - y)
        .collect();
    let both: Vec<f32> = diffs
        .iter()
        .copied()
        .chain(diffs.iter().map(|d| -d))
        .collect();
    let x = Tensor::from_vec_with((Differences::new(2 * n), a.shape().1), both)?;
    let pca = Pca::<D, Components>::try_fit_with(&x, Components::new(1))?;
    let u = pca.components().as_slice();
    let mean_proj = diffs
        .chunks_exact(width)
        .map(|d| d.iter().zip(u).map(|(x, y)| f64::from(x * y)).sum::<f64>())
        .sum::<f64>()
        / n as f64;
    let scaled = u
        .iter()
        .map(|&c| (f64::from(c) * mean_proj) as f32)
        .collect();
    Ok(Tensor::from_vec_with((a.shape().1,), scaled)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::dim!(pub B; pub W);

    #[test]
    fn add_replace_and_ablate_act_from_the_position_on() {
        // Two sentences of 3 and 2 tokens, packed.
        let mk = || Tensor::<(B, W)>::ones_with((B::new(5), W::new(2)));
        let spans = || [0..3, 3..5].into_iter();
        let v = Tensor::<(W,)>::from_vec_with((W::new(2),), vec![1.0, -2.0]).unwrap();
        let mut x = mk();
        Intervention::add(0, v.clone(), 0.5)
            .from_position(1)
            .apply(&mut x, spans())
            .unwrap();
        assert_eq!(x.as_slice(), &[1., 1., 1.5, 0., 1.5, 0., 1., 1., 1.5, 0.]);
        let mut x = mk();
        Intervention::replace(0, v.clone())
            .from_position(2)
            .apply(&mut x, spans())
            .unwrap();
        assert_eq!(x[[2, 1]], -2.0);
        assert!(x.as_slice()[..4]
            .iter()
            .chain(&x.as_slice()[6..])
            .all(|&v| v == 1.0));
        let mut x = mk();
        Intervention::<W>::ablate(0).apply(&mut x, spans()).unwrap();
        assert!(x.as_slice().iter().all(|&v| v == 0.0));
        // Rows at positions 2.. of their sequences: from position 1 to 3 is their first.
        let mut x = mk();
        Intervention::<W>::ablate(0)
            .from_position(1)
            .to_position(3)
            .apply_at(&mut x, spans(), 2)
            .unwrap();
        assert_eq!(x.as_slice(), &[0., 0., 1., 1., 1., 1., 0., 0., 1., 1.]);
        let wrong = Tensor::<(W,)>::ones_with((W::new(3),));
        let e = Intervention::add(0, wrong, 1.0)
            .apply(&mut mk(), spans())
            .unwrap_err();
        assert!(e.to_string().contains("the vector's width"), "{e}");
    }

    #[test]
    fn the_top_component_of_noisy_differences_is_their_common_direction() {
        let (n, w) = (20, 8);
        let noise = Tensor::<(B, W)>::randn_with((B::new(n), W::new(w)), 3);
        let b = Tensor::<(B, W)>::randn_with((B::new(n), W::new(w)), 4);
        let shift = |j: usize| if j == 5 { 2.0 } else { 0.0 };
        let a = Tensor::<(B, W)>::from_fn_with((B::new(n), W::new(w)), |[i, j]| {
            b[[i, j]] + shift(j) + 0.1 * noise[[i, j]]
        });
        let top = top_difference_component(&a, &b).unwrap();
        assert!((top[[5]] - 2.0).abs() < 0.1, "{:?}", top.as_slice());
        let md = mean_difference(&a, &b).unwrap();
        assert!((md[[5]] - 2.0).abs() < 0.1);
        let short = Tensor::<(B, W)>::zeros_with((B::new(3), W::new(w)));
        assert!(top_difference_component(&a, &short).is_err());
        let empty = Tensor::<(B, W)>::zeros_with((B::new(0), W::new(w)));
        assert!(mean_difference(&a, &empty).is_err());
    }
}
