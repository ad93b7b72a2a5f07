//! Procedural macros of [`shapecheck`](https://docs.rs/shapecheck).
//!
//! This file holds the entry points and their documentation only; each macro is split by
//! phase into `parse` (tokens to a syntax tree), `validate` (rules that need the whole
//! input) and `expand` (the generated code). Every error is a [`syn::Error`] at the user's
//! token, and expanded code names the library by absolute path (`::shapecheck::…`), so it
//! needs no imports.

mod dim;

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
