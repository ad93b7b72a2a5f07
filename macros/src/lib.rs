//! Procedural macros of [`shapecheck`](https://docs.rs/shapecheck).
//!
//! This file holds the entry points and their documentation only; each macro is split by
//! phase into `parse` (tokens to a syntax tree), `validate` (rules that need the whole
//! input) and `expand` (the generated code). Every error is a [`syn::Error`] at the user's
//! token, and expanded code names the library by absolute path (`::shapecheck::…`), so it
//! needs no imports.

mod dim;
mod einsum;
mod rearrange;
mod tensor;

use proc_macro::TokenStream;

/// Declares named dimensions: static ones with a size, runtime ones without.
///
/// ```text
/// shapecheck::dim!(pub Seq = 128);          // named static: a type of size 128
/// shapecheck::dim! {
///     /// Width of the residual stream.
///     pub DModel = 384;
///     pub Vocab = 30522;                  // any size, not only those typenum tabulates
///     pub Batch;                          // named runtime: size chosen with Batch::new(n)
/// }
/// ```
///
/// Two named dims never unify, even when their sizes are equal, so a `(Seq, HeadDim)` can
/// not be used where a `(HeadDim, Seq)` is expected. A static size must be an integer
/// literal of at least 1 that fits in `usize`; anything else is a compile error at the
/// offending token. Doc comments and other attributes are passed to the generated type; a
/// dim without a doc comment gets one naming its size, so crates with
/// `#![deny(missing_docs)]` can declare public dims.
#[proc_macro]
pub fn dim(input: TokenStream) -> TokenStream {
    match syn::parse::<dim::parse::DimDecls>(input).and_then(dim::validate::validate) {
        Ok(decls) => dim::expand::expand(&decls).into(),
        Err(err) => err.into_compile_error().into(),
    }
}

/// The impls behind `D<N>`: one per size of the table the library lists in `src/dim/anon.rs`
/// (see `dim/table.rs` for the syntax). Not for use outside `shapecheck`.
#[doc(hidden)]
#[proc_macro]
pub fn __anon_dim_table(input: TokenStream) -> TokenStream {
    match syn::parse::<dim::table::Table>(input) {
        Ok(table) => dim::table::expand(&table).into(),
        Err(err) => err.into_compile_error().into(),
    }
}

/// A tensor from a nested array literal, its shape inferred at compile time.
///
/// ```text
/// let x = shapecheck::tensor!([[1., 2., 3.], [4., 5., 6.]]);   // Tensor<(D<2>, D<3>), f64>
/// let y: Tensor<(D<2>, D<2>)> = tensor!([[1, 2], [3, 4]]);     // f32 from the context
/// let z = tensor!([0.5f32, 1.5]);                               // f32 from the suffix
/// ```
///
/// Each axis becomes a `D<N>` of its length. The element type is that of the elements:
/// a suffix (`1.0f32`), the context (the annotated type), or else Rust's default for an
/// unsuffixed float, `f64`; unsuffixed integer literals are read as floats. Elements may be
/// any expressions. A ragged literal is a compile error at the offending row ("row 2 has 2
/// elements; the rows before it have 3"), as is an empty axis or a rank above 6.
#[proc_macro]
pub fn tensor(input: TokenStream) -> TokenStream {
    let lit = match syn::parse::<tensor::parse::Literal>(input) {
        Ok(lit) => lit,
        Err(err) => return err.into_compile_error().into(),
    };
    match tensor::validate::validate(&lit) {
        Ok(dims) => tensor::expand::expand(&lit, &dims).into(),
        Err(err) => err.into_compile_error().into(),
    }
}

/// Einstein summation over typed tensors: `einsum!("spec", a, b, …)`.
///
/// ```text
/// let scores = einsum!("b h q d, b h k d -> b h q k", q, k);  // spaced form
/// let c = einsum!("ij,jk->ik", a, b);                          // compact form
/// let tr = einsum!("ii->", m);                                 // a rank-0 tensor
/// let y = einsum!("...ij,...jk->...ik", a, b);                // leading dims kept, typed
/// let z = einsum!("batch seq index, index d -> batch seq d", x, w); // word names
/// ```
///
/// The spec lists one term per operand, then `->` and the output term. In the compact form
/// each letter is an axis; in the spaced form (some term has whitespace between two
/// names) each whitespace-separated name is an axis. So `"index->"` is five axes, and an
/// operand of another rank gets an error whose note says to separate word names with
/// spaces. A term may hold one `...`: the axes not named, which must be the same dims in
/// every operand that has it (no broadcasting between them); in the output it keeps
/// them (typed), and an output without it sums them. A letter in the output that no input
/// has, a repeated output letter, a term of more than 6 axes or a number of operands
/// different from the number of inputs is a compile error at the spec.
///
/// Each letter is a dim type, inferred from the operands: an operand whose rank differs
/// from its term, or a letter standing for two different dims (`j` is `HeadDim` in one
/// operand and `Seq` in another), is a type error naming both shapes. The output type is
/// made of the letters' dims. Operands are anything with `as_view()` (tensors, views, or
/// references to them). Runtime dims bound to one letter must have equal sizes; `einsum!`
/// panics otherwise, [`try_einsum!`] returns the `ShapeError`.
///
/// Contractions that are (batched) matrix products run as one batched GEMM on the
/// operands' own strides; see `shapecheck::ops::einsum` for the lowering.
#[proc_macro]
pub fn einsum(input: TokenStream) -> TokenStream {
    einsum_impl(input, false)
}

/// [`einsum!`] returning `Result<Tensor<…>, ShapeError>` instead of panicking when runtime
/// dims bound to the same letter have different sizes.
///
/// ```text
/// let c = try_einsum!("ij,jk->ik", a, b)?;
/// ```
#[proc_macro]
pub fn try_einsum(input: TokenStream) -> TokenStream {
    einsum_impl(input, true)
}

fn einsum_impl(input: TokenStream, fallible: bool) -> TokenStream {
    let input = match syn::parse::<einsum::parse::EinsumInput>(input) {
        Ok(input) => input,
        Err(err) => return err.into_compile_error().into(),
    };
    let (text, span) = (input.spec.value(), input.spec.span());
    let checked = einsum::parse::parse_spec(&text, span).and_then(|spec| {
        einsum::validate::validate(&spec, &text, span, input.operands.len()).map(|()| spec)
    });
    match checked {
        Ok(spec) => einsum::expand::expand(&spec, &input.spec, &input.operands, fallible).into(),
        Err(err) => err.into_compile_error().into(),
    }
}

/// Reorders, splits and merges axes in the einops style:
/// `rearrange!(x, "pattern", name = Dim, …)`.
///
/// ```text
/// let heads: Tensor<(Batch, Heads, Seq, HeadDim)> =
///     rearrange!(x, "b s (h d) -> b h s d", h = Heads);     // d from the result type
/// let back: Tensor<(Batch, Seq, DModel)> = rearrange!(heads, "b h s d -> b s (h d)");
/// let y = rearrange!(flat, "(b s) d -> b s d", b = D<4>, s = Seq);
/// let z = rearrange!(images, "... h w -> ... (h w)");           // leading dims kept, typed
/// let w = rearrange!(v, "d -> () d 1");                         // (D<1>, DModel, D<1>)
/// ```
///
/// Each side lists the axes: a name; a group `(a b c)` of any number of names (on the left
/// it splits an axis, on the right it merges); `()` or `1`, an axis of size 1 (added on
/// the right, dropped on the left, where the input's dim must be `D<1>`); and at most one
/// `...`, standing for the axes not named, which keep their dim types. Every name appears
/// once on each side. The dim type of a name is that of the input axis it names; a name
/// inside a left group has no axis of its own, so its type is given as `name = Dim` or
/// inferred from the annotated result type: a split gets all its parts but one given, as
/// einops asks, and a name only ever inside groups must be given (the macro says which);
/// the type of a merged group is taken from the result type.
/// The type checker checks each group: `Heads × HeadDim must equal DModel` (two parts,
/// `SplitsInto`), `the dims (A, B, C) must multiply out to X` (more, `ProductOf`). Names
/// inside groups must be static dims. Not supported: `...` inside a group, numbers other
/// than 1 (use `repeat!` or `reduce!`). The result is a new tensor: the input is read
/// through a strided view and copied once. A traced `Var` is rearranged the same way.
#[proc_macro]
pub fn rearrange(input: TokenStream) -> TokenStream {
    let input = match syn::parse::<rearrange::parse::ForRearrange>(input) {
        Ok(input) => input.0,
        Err(err) => return err.into_compile_error().into(),
    };
    pattern_macro(input)
}

/// Reduces axes in the einops style: `reduce!(x, "pattern", op, name = Dim, …)`, with `op`
/// one of `sum`, `mean`, `max`, `min`, `prod`.
///
/// ```text
/// let pooled = reduce!(x, "b s d -> b d", mean);
/// let maxpool = reduce!(img, "b c (h 2) (w 2) -> b c h w", max, h = H2, w = W2);
/// let per_channel = reduce!(img, "b c ... -> c", sum);    // every axis under `...` too
/// let keep = reduce!(x, "b s d -> b () d", max);           // the reduced axis kept as D<1>
/// ```
///
/// The grammar is `rearrange!`'s; the axes on the left only (names, numbers such as the
/// `2` of a pooling window, and a `...` missing on the right) are reduced. Sums and means
/// are pairwise (NumPy's accuracy); max and min propagate NaN. A traced `Var` reduces with
/// sum, mean, max and min (the gradient of max and min goes to the first element equal to
/// the result).
#[proc_macro]
pub fn reduce(input: TokenStream) -> TokenStream {
    let input = match syn::parse::<rearrange::parse::ForReduce>(input) {
        Ok(input) => input.0,
        Err(err) => return err.into_compile_error().into(),
    };
    pattern_macro(input)
}

/// Repeats a tensor along new axes in the einops style: `repeat!(x, "pattern", name = Dim,
/// …)`.
///
/// ```text
/// let batch: Tensor<(Batch, Seq, DModel)> = repeat!(x, "s d -> b s d", b = Batch);
/// let up = repeat!(img, "h w -> (h 2) (w 2)", h = H, w = W);   // nearest-neighbour ×2
/// let rgb = repeat!(gray, "h w -> h w 3");                      // a new axis D<3>
/// ```
///
/// The grammar is `rearrange!`'s; the names and numbers on the right only are new axes,
/// whose dims are static: given as `name = Dim`, from the result type, or `D<n>` for a
/// number. The result is a new tensor (the input read with stride 0 along the new axes);
/// on a traced `Var`, the gradients of the copies add up.
#[proc_macro]
pub fn repeat(input: TokenStream) -> TokenStream {
    let input = match syn::parse::<rearrange::parse::ForRepeat>(input) {
        Ok(input) => input.0,
        Err(err) => return err.into_compile_error().into(),
    };
    pattern_macro(input)
}

fn pattern_macro(input: rearrange::parse::RearrangeInput) -> TokenStream {
    let span = input.pattern.span();
    let checked = rearrange::parse::parse_pattern(input.kind, &input.pattern.value(), span)
        .and_then(|p| rearrange::validate::validate(&input, &p, span).map(|()| p));
    match checked {
        Ok(pattern) => rearrange::expand::expand(&input, &pattern).into(),
        Err(err) => err.into_compile_error().into(),
    }
}
