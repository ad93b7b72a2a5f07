//! Code generated for `einsum!`: a block holding a generic helper `einsum` with one type
//! parameter per letter and one per operand, whose `where` clause says that each operand's
//! shape fits its letters (`Operand0: FitsLetters<(i, j)>`). The type checker thus infers
//! each letter's dim from the operands, rejects an operand of the wrong rank or a letter
//! bound to two different dims, and computes the output type from the letters. The body
//! hands the operands' strided views to `shapecheck::ops::einsum::run`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Index, LitStr};

use super::parse::Spec;

/// The identifier of an axis name; a Rust keyword becomes a raw identifier.
pub(crate) fn letter_ident(name: &str) -> Ident {
    if syn::parse_str::<Ident>(name).is_ok() {
        Ident::new(name, Span::call_site())
    } else {
        Ident::new_raw(name, Span::call_site())
    }
}

/// Expands a validated spec; `fallible` makes the block a `Result` (`try_einsum!`).
pub(crate) fn expand(spec: &Spec, lit: &LitStr, operands: &[Expr], fallible: bool) -> TokenStream {
    let mut letters: Vec<&str> = Vec::new();
    for l in spec.inputs.iter().flatten() {
        if !letters.contains(&l.as_str()) {
            letters.push(l);
        }
    }
    let id = |l: &str| {
        letters
            .iter()
            .position(|x| *x == l)
            .expect("letter of the spec")
    };
    let letter_idents: Vec<Ident> = letters.iter().map(|l| letter_ident(l)).collect();
    let ops: Vec<Ident> = (0..operands.len())
        .map(|i| format_ident!("Operand{}", i))
        .collect();
    let xs: Vec<Ident> = (0..operands.len())
        .map(|i| format_ident!("__x{}", i))
        .collect();
    let ds: Vec<Ident> = (0..operands.len())
        .map(|i| format_ident!("__d{}", i))
        .collect();
    let terms: Vec<TokenStream> = spec
        .inputs
        .iter()
        .map(|t| {
            let t = t.iter().map(|l| &letter_idents[id(l)]);
            quote!((#(#t,)*))
        })
        .collect();
    let out_ty = {
        let t = spec.output.iter().map(|l| &letter_idents[id(l)]);
        quote!((#(#t,)*))
    };
    let out_val = spec.output.iter().map(|l| {
        let (op, axis) = spec
            .inputs
            .iter()
            .enumerate()
            .find_map(|(i, t)| t.iter().position(|x| x == l).map(|a| (i, a)))
            .expect("validated: every output letter is in an input");
        let d = &ds[op];
        let axis = Index::from(axis);
        quote!(#d.#axis)
    });
    let text = lit.value();
    let spec_inputs = spec.inputs.iter().map(|t| {
        let ids = t.iter().map(|l| id(l));
        quote!(&[#(#ids),*])
    });
    let spec_output = spec.output.iter().map(|l| id(l));
    // Each argument carries its operand's span, so type errors point at the operand.
    let args = operands
        .iter()
        .map(|e| quote_spanned!(e.span()=> (#e).as_view()));
    let result = if fallible {
        quote!(__result)
    } else {
        quote! {
            match __result {
                ::core::result::Result::Ok(t) => t,
                ::core::result::Result::Err(e) => ::core::panic!("{}", e),
            }
        }
    };
    quote! {{
        #[allow(unused_imports)]
        use ::shapecheck::AsView as _;
        #[allow(non_camel_case_types, unused_variables, clippy::all, clippy::pedantic)]
        #[inline]
        fn einsum<
            #(#letter_idents: ::shapecheck::dim::Dim,)*
            Elem: ::shapecheck::Float,
            #(#ops: ::shapecheck::shape::Shape,)*
        >(
            #(#xs: ::shapecheck::TensorView<'_, #ops, Elem>,)*
        ) -> ::core::result::Result<::shapecheck::Tensor<#out_ty, Elem>, ::shapecheck::ShapeError>
        where
            #(#ops: ::shapecheck::ops::einsum::FitsLetters<#terms>,)*
        {
            #(let #ds: #terms = ::shapecheck::ops::einsum::FitsLetters::into_letters(#xs.shape());)*
            const SPEC: ::shapecheck::ops::einsum::Spec = ::shapecheck::ops::einsum::Spec {
                text: #text,
                letters: &[#(#letters),*],
                inputs: &[#(#spec_inputs),*],
                output: &[#(#spec_output),*],
            };
            ::shapecheck::ops::einsum::run(
                &SPEC,
                &[#(::shapecheck::ops::einsum::Input::new(&#xs)),*],
                (#(#out_val,)*),
            )
        }
        // `&a` as an operand is fine: `as_view` reads through references.
        #[allow(clippy::needless_borrow)]
        let __result = einsum(#(#args),*);
        #result
    }}
}
