//! Einstein summation: [`einsum!`](crate::einsum!) and [`try_einsum!`](crate::try_einsum!).
//!
//! The spec is parsed and checked by the macro at compile time (parse errors, an output
//! letter no input has, a repeated output letter, the wrong number of operands); the macro
//! then calls a helper with one type parameter per letter, bound through [`FitsLetters`],
//! so the type checker checks each operand's rank and that a letter is the same dim type
//! wherever it appears, and computes the output type. At run time the sizes of runtime
//! dims that share a letter are compared, and the contraction is lowered (see `lower.rs`):
//!
//! | form | spec | lowering |
//! |---|---|---|
//! | matmul | `"ij,jk->ik"` | one GEMM on the operands' strides |
//! | batched matmul, attention | `"bhqd,bhkd->bhqk"`, `"bhqk,bhkd->bhqd"` | one batched GEMM, no copy |
//! | bilinear xᵀAy | `"i,ij,j->"` | GEMM (vector · matrix), then a dot product |
//! | dot products | `"i,i->"`, `"bi,bi->b"` | pairwise dots on the strides (NumPy's accuracy; a GEMM's k-loop is a running sum) |
//! | outer product | `"i,j->ij"` | GEMM with k = 1 |
//! | transpose / permutation | `"ij->ji"` | one strided copy |
//! | trace, diagonal | `"ii->"`, `"ii->i"` | a strided view of the diagonal (stride n + 1), then sum or copy |
//! | sum over a letter | `"ij->i"` | one strided pass, summed pairwise |
//! | ellipsis | `"...ij,...jk->...ik"` | `...` becomes fresh letters, then as above |
//! | anything else | | pairwise batched GEMMs, with a copy where strides do not nest |
//!
//! ```
//! use shapecheck::prelude::*;
//! dim!(pub Heads = 2; pub Seq = 3; pub HeadDim = 4);
//! let q = Tensor::<(Heads, Seq, HeadDim)>::randn(0);
//! let k = Tensor::<(Heads, Seq, HeadDim)>::randn(1);
//! let scores = einsum!("h q d, h k d -> h q k", q, k);
//! let _: &Tensor<(Heads, Seq, Seq)> = &scores;
//! let same = q.matmul(&k.t());
//! assert!(scores.as_slice().iter().zip(same.as_slice()).all(|(a, b)| (a - b).abs() < 1e-5));
//!
//! let m = tensor!([[1., 2.], [3., 4.]]);
//! assert_eq!(einsum!("ii->", m)[[]], 5.0); // the trace, a rank-0 tensor
//! assert_eq!(einsum!("ij->i", m).as_slice(), &[3.0, 7.0]); // row sums
//! ```
//!
//! A letter bound to two different dims does not compile:
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 4; pub HeadDim = 4);
//! let q = Tensor::<(Seq, HeadDim)>::zeros();
//! let k = Tensor::<(Seq, HeadDim)>::zeros();
//! let s = einsum!("qd,dk->qk", q, k); // `d` is HeadDim in q and Seq in k
//! ```

mod lower;
pub(crate) mod strided;

use core::fmt::Debug;

use crate::element::Float;
use crate::error::ShapeError;
use crate::shape::Shape;
use crate::tensor::{Tensor, TensorView};

/// An operand's shape fits its letters: `Self` is the shape `L` made of the letters' dims.
///
/// `einsum!` and `rearrange!` bind each letter to a type parameter and ask that every
/// operand's shape fit the tuple of its letters, so that the type checker infers the
/// letters' dims from the operands and rejects an operand whose rank differs from its
/// letters or a letter that stands for two different dims.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::ops::einsum::FitsLetters;
/// dim!(pub Seq = 4; pub HeadDim = 8);
/// fn first_axis<S: FitsLetters<(A, B)>, A: Dim, B: Dim>(s: S) -> A {
///     s.into_letters().0
/// }
/// assert_eq!(first_axis((Seq, HeadDim)), Seq);
/// ```
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// use shapecheck::ops::einsum::FitsLetters;
/// dim!(pub Seq = 4; pub HeadDim = 8);
/// fn same<S: FitsLetters<(A, A)>, A: Dim>(s: S) {}
/// same((Seq, HeadDim)); // one letter cannot be both Seq and HeadDim
/// ```
#[diagnostic::on_unimplemented(
    message = "an operand of shape `{Self}` does not fit its letters, which make it `{L}`",
    label = "this operand has shape `{Self}`, but its letters say `{L}`",
    note = "an operand has one letter per axis, and a letter stands for the same dim in every operand"
)]
pub trait FitsLetters<L>: Shape {
    /// The shape as the tuple of its letters' dims.
    fn into_letters(self) -> L;
}

impl<S: Shape> FitsLetters<S> for S {
    #[inline(always)]
    fn into_letters(self) -> S {
        self
    }
}

/// [`FitsLetters`] for a term of a compact spec (one letter per axis, as `"ij,jk->ik"`),
/// whose message also says how to name axes with words.
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// let v = Tensor::<(D<3>,)>::zeros();
/// let s = einsum!("index->", v); // five letters, five axes
/// ```
#[diagnostic::on_unimplemented(
    message = "an operand of shape `{Self}` does not fit its letters, which make it `{L}`",
    label = "this operand has shape `{Self}`, but its letters say `{L}`",
    note = "in a compact spec (no spaces between names, as \"ij,jk->ik\") each letter is an axis; to name an axis with a word, separate the names with spaces: \"b index, index d -> b d\""
)]
pub trait FitsCompactLetters<L>: Shape {
    /// The shape as the tuple of its letters' dims.
    fn into_letters(self) -> L;
}

impl<S: Shape> FitsCompactLetters<S> for S {
    #[inline(always)]
    fn into_letters(self) -> S {
        self
    }
}

/// The letter id that stands for `...` in a compiled [`Spec`].
#[doc(hidden)]
pub const ELLIPSIS: usize = usize::MAX;

/// A spec as the macro compiled it: letter ids per input and for the output
/// ([`ELLIPSIS`] for `...`).
#[doc(hidden)]
pub struct Spec {
    pub text: &'static str,
    pub letters: &'static [&'static str],
    pub inputs: &'static [&'static [usize]],
    pub output: &'static [usize],
}

/// Something whose shape can be printed in an error message.
trait DescribeShape {
    fn describe(&self) -> String;
}

impl<S: Shape, T: Float> DescribeShape for TensorView<'_, S, T> {
    fn describe(&self) -> String {
        format!("{:?}", self.shape())
    }
}

/// An operand with its shape erased: a buffer, an offset, dims and strides.
#[doc(hidden)]
pub struct Input<'a, T> {
    data: &'a [T],
    offset: usize,
    dims: Vec<usize>,
    strides: Vec<usize>,
    view: &'a dyn DescribeShape,
}

impl<'a, T: Float> Input<'a, T> {
    /// Erases the shape of a view.
    pub fn new<'v: 'a, S: Shape>(view: &'a TensorView<'v, S, T>) -> Self {
        Input {
            data: view.as_base_slice(),
            offset: view.offset(),
            dims: view.dims().to_vec(),
            strides: view.strides().to_vec(),
            view,
        }
    }

    pub(crate) fn parts(&self) -> (&'a [T], usize, &[usize], &[usize]) {
        (self.data, self.offset, &self.dims, &self.strides)
    }

    pub(crate) fn describe(&self) -> String {
        self.view.describe()
    }
}

impl<T> Debug for Input<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.view.describe())
    }
}

/// Runs a spec on its operands; `out` is the output shape the macro built from the
/// operands' dims. `Err` when runtime dims bound to one letter have different sizes.
#[doc(hidden)]
pub fn run<S: Shape, T: Float>(
    spec: &Spec,
    inputs: &[Input<'_, T>],
    out: S,
) -> Result<Tensor<S, T>, ShapeError> {
    assert_eq!(
        inputs.len(),
        spec.inputs.len(),
        "one operand per input term"
    );
    // `...` becomes fresh letters, as many as the axes it stands for (the types have
    // checked that every operand with a `...` has the same dims under it).
    let n = spec.letters.len();
    let ell_rank = inputs
        .iter()
        .zip(spec.inputs)
        .find(|(_, t)| t.contains(&ELLIPSIS))
        .map_or(0, |(input, t)| input.dims.len() + 1 - t.len());
    let expand = |t: &[usize]| -> Vec<usize> {
        t.iter()
            .flat_map(|&l| {
                if l == ELLIPSIS {
                    (n..n + ell_rank).collect::<Vec<_>>()
                } else {
                    vec![l]
                }
            })
            .collect()
    };
    let spec_inputs: Vec<Vec<usize>> = spec.inputs.iter().map(|t| expand(t)).collect();
    let spec_output = expand(spec.output);
    let name = |l: usize| spec.letters.get(l).copied().unwrap_or("...");
    let mut sizes: Vec<Option<(usize, usize)>> = vec![None; n + ell_rank];
    for (i, (input, term)) in inputs.iter().zip(&spec_inputs).enumerate() {
        for (&letter, &size) in term.iter().zip(&input.dims) {
            match sizes[letter] {
                None => sizes[letter] = Some((size, i)),
                Some((first, j)) if first != size => {
                    return Err(ShapeError::incompatible_described(
                        "einsum",
                        inputs[j].describe(),
                        input.describe(),
                        format!(
                            "letter `{}` of {:?} is {first} in operand {} and {size} in \
                             operand {}",
                            name(letter),
                            spec.text,
                            j + 1,
                            i + 1
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let terms = inputs
        .iter()
        .zip(&spec_inputs)
        .map(|(input, letters)| {
            let (data, offset, dims, strides) = input.parts();
            lower::Term::borrowed(data, offset, letters, dims, strides)
        })
        .collect();
    let data = lower::evaluate(terms, &spec_output);
    debug_assert_eq!(data.len(), out.num_elements());
    Ok(Tensor::from_parts(out, data))
}
