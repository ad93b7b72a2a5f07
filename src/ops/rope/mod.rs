//! Rotary position embeddings (RoPE; Su et al., RoFormer, 2021).
//!
//! RoPE encodes the position `m` of a query or key by rotating each pair of its features
//! `(x_a, x_b)` by the angle `m·θ_j`, with `θ_j = base^(−2j/d)` for pair `j < d/2` of a head
//! of width `d`. A rotation is the complex product `(x_a + i·x_b)·e^{i·m·θ_j}`, so the dot
//! product of a query rotated to `m` and a key rotated to `n` depends on `m − n` only: the
//! attention scores see relative positions.
//!
//! Two conventions pair the features differently, and a checkpoint is trained with one of
//! them ([`RopeLayout`]):
//!
//! - [`HalfSplit`](RopeLayout::HalfSplit) pairs `(j, j + d/2)`: GPT-NeoX and Hugging Face's
//!   LLaMA, Mistral, Qwen (`rotate_half`);
//! - [`Interleaved`](RopeLayout::Interleaved) pairs `(2j, 2j + 1)`: RoFormer, GPT-J and Meta's
//!   original LLaMA code (`view_as_complex`).
//!
//! Both use the same `θ_j` for pair `j`; they differ by a fixed permutation of the features.
//!
//! Position interpolation (Chen et al., 2023) stretches a model's context by a factor `s`:
//! position `m` is rotated as if it were `m / s`, so the angles stay in the range seen in
//! training. [`Rope::interpolation`] sets `s` (1 by default); [`Rope::base`] sets the base
//! (10 000 by default; 500 000 for LLaMA 3, 1 000 000 for Qwen 2).
//!
//! The scalings of published checkpoints ([`RopeScaling`], `rope_type` in a Hugging Face
//! config) are computed as `transformers` computes them (`modeling_rope_utils.py`), and
//! tested against it (`tests/rope_scaling.rs`): `linear` (position interpolation), `dynamic`
//! (NTK: past the trained context the base grows with the sequence length), `llama3`
//! (Llama 3.1's per-frequency smoothing) and `yarn` (ramped interpolation, with an attention
//! factor that scales the cosines and sines). [`Rope::scaling`] sets one.
//!
//! The angles are computed in `f64` and their sine and cosine once per position and pair,
//! then applied to every head and batch row at that position.
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::nn::rope::{Rope, RopeLayout};
//! dim!(pub Heads = 4; pub HeadDim = 8);
//! dim!(pub Seq);
//! let rope = Rope::<HeadDim>::new(RopeLayout::HalfSplit).base(10_000.0);
//! let q = Tensor::<(Heads, Seq, HeadDim)>::randn_with((Heads, Seq::new(5), HeadDim), 0);
//! let k = Tensor::<(Heads, Seq, HeadDim)>::randn_with((Heads, Seq::new(5), HeadDim), 1);
//! // Row i is at position offset + i; with a KV cache, offset is the length already cached.
//! let (mut q1, mut k1) = (q.clone(), k.clone());
//! rope.apply(&mut q1, 0);
//! rope.apply(&mut k1, 0);
//! // The same queries and keys 100 positions later give the same scores.
//! let (q2, k2) = (rope.rotate(&q, 100), rope.rotate(&k, 100));
//! let (s1, s2) = (q1.matmul(&k1.t()), q2.matmul(&k2.t()));
//! for (a, b) in s1.as_slice().iter().zip(s2.as_slice()) {
//!     assert!((a - b).abs() < 1e-4);
//! }
//! ```
//!
//! A head dim of odd size has no pairs to rotate, a compile error for a static dim:
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! use shapecheck::nn::rope::{Rope, RopeLayout};
//! dim!(pub HeadDim = 7);
//! let rope = Rope::<HeadDim>::new(RopeLayout::HalfSplit);
//! ```
//!
//! and RoPE applies to a tensor whose last axis is the head dim:
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! use shapecheck::nn::rope::{Rope, RopeLayout};
//! dim!(pub Seq = 4; pub HeadDim = 8; pub DModel = 32);
//! let rope = Rope::<HeadDim>::new(RopeLayout::HalfSplit);
//! let mut x = Tensor::<(Seq, DModel)>::zeros();
//! rope.apply(&mut x, 0);
//! ```

use crate::dim::Dim;
use crate::element::Float;
use crate::error::{NumericError, OrPanic, ShapeError};
use crate::shape::Shape;
use crate::tensor::{AsView, Tensor};

mod scaling;

pub use scaling::{RopeScaling, Yarn};

/// RoPE's size rule, defined with the other size rules in [`shape`](crate::shape).
pub use crate::shape::IsEven;

/// Which features RoPE rotates together; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RopeLayout {
    /// Pairs `(j, j + d/2)`: GPT-NeoX, Hugging Face LLaMA/Mistral/Qwen (`rotate_half`).
    HalfSplit,
    /// Pairs `(2j, 2j + 1)`: RoFormer, GPT-J, Meta's LLaMA reference code.
    Interleaved,
}

/// The shape is `(…, Seq, H)`: rank 2 to 6, the head dim `H` last, the sequence before it.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::nn::rope::EndsWithHeadDim;
/// dim!(pub Heads = 4; pub Seq = 16; pub HeadDim = 8);
/// fn rotatable<S: EndsWithHeadDim<H>, H: Dim>() {}
/// rotatable::<(Heads, Seq, HeadDim), HeadDim>();
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::nn::rope::EndsWithHeadDim;
/// dim!(pub Seq = 16; pub HeadDim = 8; pub DModel = 32);
/// fn rotatable<S: EndsWithHeadDim<H>, H: Dim>() {}
/// rotatable::<(Seq, DModel), HeadDim>(); // split the heads first
/// ```
#[diagnostic::on_unimplemented(
    message = "RoPE with head dim `{H}` needs a tensor of shape (…, Seq, `{H}`), found `{Self}`",
    label = "the last axis must be `{H}`, after a sequence axis"
)]
pub trait EndsWithHeadDim<H: Dim>: Shape {}

macro_rules! ends_with_head_dim {
    ($($P:ident),*) => {
        #[diagnostic::do_not_recommend]
        impl<$($P: Dim,)* Sq: Dim, H: Dim> EndsWithHeadDim<H> for ($($P,)* Sq, H) {}
    };
}

ends_with_head_dim!();
ends_with_head_dim!(A);
ends_with_head_dim!(A, B);
ends_with_head_dim!(A, B, C);
ends_with_head_dim!(A, B, C, E);

/// Rotary position embeddings for heads of width `H`: the layout, the base and the
/// position-interpolation scale. See the [module docs](self) for an example.
#[derive(Clone, Debug, PartialEq)]
pub struct Rope<H: Dim> {
    head_dim: H,
    layout: RopeLayout,
    base: f64,
    scale: f64,
    scaling: RopeScaling,
    /// The factor on the cosines and sines (YaRN's; 1 otherwise).
    attention: f64,
    /// The angle per position of each pair: `θ_j = base^(−2j/d)` after a static scaling
    /// (llama3, yarn); dynamic NTK recomputes them per sequence length.
    freqs: Vec<f64>,
}

/// The default base, from the RoFormer paper.
const DEFAULT_BASE: f64 = 10_000.0;

impl<H: Dim> Rope<H> {
    /// RoPE for the static head dim `H` (whose size must be even), with base 10 000 and no
    /// interpolation.
    // The bound sits on the method, not the impl, so that an odd `H` reports `IsEven`'s
    // message rather than typenum's arithmetic.
    pub fn new(layout: RopeLayout) -> Self
    where
        H: IsEven,
    {
        Self::build(H::default(), layout)
    }

    fn build(head_dim: H, layout: RopeLayout) -> Self {
        let mut rope = Rope {
            head_dim,
            layout,
            base: DEFAULT_BASE,
            scale: 1.0,
            scaling: RopeScaling::None,
            attention: 1.0,
            freqs: Vec::new(),
        };
        rope.freqs = rope.scaled_frequencies();
        rope
    }

    /// `θ_j = base^(−2j/d)` for the base `base`.
    fn frequencies_for(&self, base: f64) -> Vec<f64> {
        let d = self.head_dim.size();
        (0..d / 2)
            .map(|j| base.powf(-((2 * j) as f64) / d as f64))
            .collect()
    }

    /// The frequencies after the static scalings (llama3, yarn), as `transformers`
    /// computes them (`_compute_llama3_parameters`, `_compute_yarn_parameters`).
    fn scaled_frequencies(&self) -> Vec<f64> {
        let theta = self.frequencies_for(self.base);
        let d = self.head_dim.size() as f64;
        match self.scaling {
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_positions,
            } => {
                let old = original_max_positions as f64;
                let (low_wavelen, high_wavelen) = (old / low_freq_factor, old / high_freq_factor);
                theta
                    .into_iter()
                    .map(|f| {
                        let wavelen = 2.0 * core::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
            RopeScaling::Yarn(y) => {
                let correction = |rotations: f64| {
                    d * (y.original_max_positions as f64
                        / (rotations * 2.0 * core::f64::consts::PI))
                        .ln()
                        / (2.0 * self.base.ln())
                };
                let (mut low, mut high) = (correction(y.beta_fast), correction(y.beta_slow));
                if y.truncate {
                    (low, high) = (low.floor(), high.ceil());
                }
                let (low, mut high) = (low.max(0.0), high.min(d - 1.0));
                if low == high {
                    high += 0.001; // as transformers does, against a ramp of no width
                }
                theta
                    .into_iter()
                    .enumerate()
                    .map(|(j, f)| {
                        let ramp = ((j as f64 - low) / (high - low)).clamp(0.0, 1.0);
                        let extrapolation = 1.0 - ramp;
                        f / y.factor * (1.0 - extrapolation) + f * extrapolation
                    })
                    .collect()
            }
            _ => theta,
        }
    }

    /// The angle per position of each pair for a call whose last position is `len − 1`:
    /// the static frequencies, or dynamic NTK's for `len` past the trained context.
    fn frequencies_at(&self, len: usize) -> std::borrow::Cow<'_, [f64]> {
        match self.scaling {
            RopeScaling::Dynamic {
                factor,
                max_positions,
            } if len > max_positions => {
                let d = self.head_dim.size() as f64;
                let grown = factor * len as f64 / max_positions as f64 - (factor - 1.0);
                let base = self.base * grown.powf(d / (d - 2.0));
                std::borrow::Cow::Owned(self.frequencies_for(base))
            }
            _ => std::borrow::Cow::Borrowed(&self.freqs),
        }
    }

    /// RoPE for a head dim given as a value (a runtime dim, say); `Err` if its size is odd.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// use shapecheck::nn::rope::{Rope, RopeLayout};
    /// assert!(Rope::new_with(Dyn::new(64), RopeLayout::Interleaved).is_ok());
    /// let err = Rope::new_with(Dyn::new(7), RopeLayout::Interleaved).unwrap_err();
    /// assert!(err.to_string().contains("must have an even size"));
    /// ```
    pub fn new_with(head_dim: H, layout: RopeLayout) -> Result<Self, ShapeError> {
        let d = head_dim.size();
        if !d.is_multiple_of(2) {
            return Err(ShapeError::incompatible_described(
                "rope",
                format!("head dim {head_dim:?}"),
                "pairs of features",
                format!("the head dim must have an even size to be rotated in pairs, found {d}"),
            ));
        }
        Ok(Self::build(head_dim, layout))
    }

    /// The same rotation with base frequency `base`: `θ_j = base^(−2j/d)`.
    ///
    /// # Panics
    ///
    /// If `base` is not a finite number greater than 0.
    #[track_caller]
    pub fn base(mut self, base: f64) -> Self {
        assert!(
            base.is_finite() && base > 0.0,
            "rope: the base must be a finite number greater than 0, found {base}"
        );
        self.base = base;
        self.freqs = self.scaled_frequencies();
        self
    }

    /// The same rotation with the frequencies scaled as `scaling` says (replacing any
    /// scaling or interpolation set before); see [`RopeScaling`].
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// use shapecheck::nn::rope::{Rope, RopeLayout, RopeScaling, Yarn};
    /// dim!(pub HeadDim = 64);
    /// let llama31 = Rope::<HeadDim>::new(RopeLayout::HalfSplit).base(500_000.0).scaling(
    ///     RopeScaling::Llama3 {
    ///         factor: 8.0,
    ///         low_freq_factor: 1.0,
    ///         high_freq_factor: 4.0,
    ///         original_max_positions: 8192,
    ///     },
    /// );
    /// // The highest frequency is kept, the lowest divided by 8.
    /// let plain = Rope::<HeadDim>::new(RopeLayout::HalfSplit).base(500_000.0);
    /// assert_eq!(llama31.frequencies()[0], plain.frequencies()[0]);
    /// assert!((llama31.frequencies()[31] * 8.0 - plain.frequencies()[31]).abs() < 1e-18);
    /// // YaRN scales the cosines and sines too.
    /// let yarn = plain.scaling(RopeScaling::Yarn(Yarn::new(4.0, 4096)));
    /// assert!((yarn.attention_factor() - (0.1 * 4f64.ln() + 1.0)).abs() < 1e-15);
    /// ```
    ///
    /// # Panics
    ///
    /// When a parameter is out of its range; see [`try_scaling`](Self::try_scaling).
    #[track_caller]
    pub fn scaling(self, scaling: RopeScaling) -> Self {
        self.try_scaling(scaling).or_panic()
    }

    /// [`scaling`](Self::scaling), returning `Err` (naming the parameter) when a factor is
    /// not a finite number greater than 0, a context is 0, Llama 3's `low_freq_factor` is
    /// not below its `high_freq_factor`, YaRN's betas are not finite and positive, or a
    /// head dim of 2 meets dynamic NTK (whose exponent `d/(d−2)` needs `d > 2`).
    pub fn try_scaling(mut self, scaling: RopeScaling) -> Result<Self, NumericError> {
        let bad =
            |name: &'static str, value: f64, rule: &'static str| NumericError::InvalidArgument {
                op: "Rope::scaling",
                shape: format!("head dim {:?}", self.head_dim),
                name,
                value: value.to_string(),
                rule,
            };
        let positive = |name, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(name, v, "it must be a finite number greater than 0"))
            }
        };
        let context = |name, n: usize| {
            if n > 0 {
                Ok(())
            } else {
                Err(bad(
                    name,
                    0.0,
                    "a context of no positions has nothing to scale",
                ))
            }
        };
        match scaling {
            RopeScaling::None => {}
            RopeScaling::Linear { factor } => positive("factor", factor)?,
            RopeScaling::Dynamic {
                factor,
                max_positions,
            } => {
                positive("factor", factor)?;
                context("max_positions", max_positions)?;
                if self.head_dim.size() <= 2 {
                    return Err(bad(
                        "head_dim",
                        self.head_dim.size() as f64,
                        "dynamic NTK's exponent d/(d−2) needs a head dim above 2",
                    ));
                }
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_positions,
            } => {
                positive("factor", factor)?;
                positive("low_freq_factor", low_freq_factor)?;
                positive("high_freq_factor", high_freq_factor)?;
                context("original_max_positions", original_max_positions)?;
                if low_freq_factor >= high_freq_factor {
                    return Err(bad(
                        "low_freq_factor",
                        low_freq_factor,
                        "it must be below high_freq_factor",
                    ));
                }
            }
            RopeScaling::Yarn(y) => {
                positive("factor", y.factor)?;
                positive("beta_fast", y.beta_fast)?;
                positive("beta_slow", y.beta_slow)?;
                context("original_max_positions", y.original_max_positions)?;
                if let Some(a) = y.attention_factor {
                    positive("attention_factor", a)?;
                }
            }
        }
        self.scale = match scaling {
            RopeScaling::Linear { factor } => factor,
            _ => 1.0,
        };
        self.attention = match scaling {
            RopeScaling::Yarn(y) => y.attention(),
            _ => 1.0,
        };
        self.scaling = scaling;
        self.freqs = self.scaled_frequencies();
        Ok(self)
    }

    /// The scaling ([`RopeScaling::None`] unless set by [`scaling`](Self::scaling), or
    /// `Linear` when set by [`interpolation`](Self::interpolation)).
    pub fn rope_scaling(&self) -> RopeScaling {
        self.scaling
    }

    /// The factor on the cosines and sines: YaRN's attention factor, 1 otherwise.
    pub fn attention_factor(&self) -> f64 {
        self.attention
    }

    /// The angle per position of each pair in a call that rotates positions up to
    /// `len − 1` (`transformers`' `inv_freq` for that sequence length): the frequencies
    /// after every scaling, position interpolation included.
    pub fn frequencies_for_len(&self, len: usize) -> Vec<f64> {
        self.frequencies_at(len)
            .iter()
            .map(|f| f / self.scale)
            .collect()
    }

    /// The same rotation with linear position interpolation by `scale`: position `m` is
    /// rotated as `m / scale` (a model trained on `L` positions then covers `scale·L`).
    ///
    /// # Panics
    ///
    /// If `scale` is not a finite number greater than 0.
    #[track_caller]
    pub fn interpolation(mut self, scale: f64) -> Self {
        assert!(
            scale.is_finite() && scale > 0.0,
            "rope: the interpolation scale must be a finite number greater than 0, found {scale}"
        );
        self.scale = scale;
        self.scaling = RopeScaling::Linear { factor: scale };
        self.attention = 1.0;
        self.freqs = self.scaled_frequencies();
        self
    }

    /// The head dim.
    pub fn head_dim(&self) -> H {
        self.head_dim
    }

    /// The pairing convention.
    pub fn layout(&self) -> RopeLayout {
        self.layout
    }

    /// The base frequency (10 000 unless set by [`base`](Self::base)).
    pub fn base_frequency(&self) -> f64 {
        self.base
    }

    /// The position-interpolation scale (1 unless set by [`interpolation`](Self::interpolation)).
    pub fn interpolation_scale(&self) -> f64 {
        self.scale
    }

    /// `θ_j = base^(−2j/d)` for each pair `j < d/2`, after a llama3 or YaRN scaling: pair
    /// `j` at position `m` turns by `m / scale · θ_j` radians (dynamic NTK changes them with
    /// the sequence length; [`frequencies_for_len`](Self::frequencies_for_len) gives the
    /// angles a call uses).
    pub fn frequencies(&self) -> &[f64] {
        &self.freqs
    }

    /// Rotates `x: (…, Seq, H)` in place; row `i` along `Seq` is at position `offset + i`.
    ///
    /// # Panics
    ///
    /// When a runtime head dim of `x` differs from the rope's; see
    /// [`try_apply`](Self::try_apply).
    #[track_caller]
    pub fn apply<S, T>(&self, x: &mut Tensor<S, T>, offset: usize)
    where
        S: EndsWithHeadDim<H>,
        T: Float,
    {
        self.try_apply(x, offset).or_panic()
    }

    /// [`apply`](Self::apply), returning `Err` when the runtime head dim of `x` differs from
    /// the rope's (never for a static head dim).
    pub fn try_apply<S, T>(&self, x: &mut Tensor<S, T>, offset: usize) -> Result<(), ShapeError>
    where
        S: EndsWithHeadDim<H>,
        T: Float,
    {
        let seq = self.check(&x.shape())?;
        self.rotate_rows(x.as_mut_slice(), seq, offset);
        Ok(())
    }

    /// A rotated copy of `x: (…, Seq, H)` (a tensor or any strided view); row `i` along
    /// `Seq` is at position `offset + i`.
    ///
    /// # Panics
    ///
    /// When a runtime head dim of `x` differs from the rope's; see
    /// [`try_rotate`](Self::try_rotate).
    #[track_caller]
    pub fn rotate<V>(&self, x: &V, offset: usize) -> Tensor<V::Shape, V::Elem>
    where
        V: AsView,
        V::Shape: EndsWithHeadDim<H>,
    {
        self.try_rotate(x, offset).or_panic()
    }

    /// [`rotate`](Self::rotate), returning `Err` when the runtime head dim of `x` differs
    /// from the rope's.
    pub fn try_rotate<V>(
        &self,
        x: &V,
        offset: usize,
    ) -> Result<Tensor<V::Shape, V::Elem>, ShapeError>
    where
        V: AsView,
        V::Shape: EndsWithHeadDim<H>,
    {
        let v = x.as_view();
        let seq = self.check(&v.shape())?;
        let mut data = v.to_vec();
        self.rotate_rows(&mut data, seq, offset);
        Ok(Tensor::from_parts(v.shape(), data))
    }

    /// The length of the sequence axis, after checking the head dim's size.
    fn check<S: Shape>(&self, shape: &S) -> Result<usize, ShapeError> {
        let dims = shape.dims();
        let (seq, d) = (dims[S::RANK - 2], dims[S::RANK - 1]);
        if d != self.head_dim.size() {
            return Err(ShapeError::incompatible(
                "rope",
                shape,
                &format_args!("head dim {:?}", self.head_dim),
                format!(
                    "the last axis has size {d}, the rope was built for {}",
                    self.head_dim.size()
                ),
            ));
        }
        Ok(seq)
    }

    /// Rotates a row-major buffer of `(lead…, seq, d)` in place. Positions are the outer
    /// loop, so each sine and cosine is computed once and used for every leading index.
    fn rotate_rows<T: Float>(&self, data: &mut [T], seq: usize, offset: usize) {
        self.turn_rows(data, seq, offset, false);
    }

    /// [`rotate_rows`](Self::rotate_rows), or with `inverse` the rotation by `−m·θ_j` (the
    /// transpose of each 2×2 rotation): the vector–Jacobian product of the forward, with
    /// the same angles bit for bit.
    pub(crate) fn turn_rows<T: Float>(
        &self,
        data: &mut [T],
        seq: usize,
        offset: usize,
        inverse: bool,
    ) {
        let d = self.head_dim.size();
        let half = d / 2;
        if half == 0 || seq == 0 || data.is_empty() {
            return;
        }
        let block = seq * d;
        let mut cos = vec![T::ZERO; half];
        let mut sin = vec![T::ZERO; half];
        let freqs = self.frequencies_at(offset + seq);
        let a = self.attention;
        for i in 0..seq {
            let pos = (offset as f64 + i as f64) / self.scale;
            for ((c, s), &theta) in cos.iter_mut().zip(sin.iter_mut()).zip(freqs.iter()) {
                let (sn, cs) = (pos * theta).sin_cos();
                *c = T::from_f64(a * cs);
                *s = T::from_f64(a * if inverse { -sn } else { sn });
            }
            for row in data.chunks_exact_mut(block) {
                let row = &mut row[i * d..(i + 1) * d];
                match self.layout {
                    RopeLayout::HalfSplit => {
                        let (lo, hi) = row.split_at_mut(half);
                        for (((a, b), &c), &s) in lo.iter_mut().zip(hi).zip(&cos).zip(&sin) {
                            let (x0, x1) = (*a, *b);
                            *a = x0 * c - x1 * s;
                            *b = x0 * s + x1 * c;
                        }
                    }
                    RopeLayout::Interleaved => {
                        for ((pair, &c), &s) in row.chunks_exact_mut(2).zip(&cos).zip(&sin) {
                            let (x0, x1) = (pair[0], pair[1]);
                            pair[0] = x0 * c - x1 * s;
                            pair[1] = x0 * s + x1 * c;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dim::{Dyn, D};

    #[test]
    fn frequencies_follow_the_base() {
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15);
        let rope = Rope::<D<8>>::new(RopeLayout::HalfSplit);
        assert!(close(rope.frequencies(), &[1.0, 0.1, 0.01, 0.001]));
        let rope = rope.base(16.0);
        assert!(close(rope.frequencies(), &[1.0, 0.5, 0.25, 0.125]));
        assert_eq!(rope.base_frequency(), 16.0);
    }

    #[test]
    fn runtime_head_dim_is_checked() {
        let rope = Rope::new_with(Dyn::new(4), RopeLayout::Interleaved).unwrap();
        let mut x = Tensor::<(D<2>, Dyn)>::zeros_with((D, Dyn::new(6)));
        let err = rope.try_apply(&mut x, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rope: cannot combine (2, Dyn=6) with head dim Dyn=4: the last axis has size 6, \
             the rope was built for 4"
        );
    }
}
