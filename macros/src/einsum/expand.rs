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

use super::parse::{Spec, ELLIPSIS};

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
        if l != ELLIPSIS && !letters.contains(&l.as_str()) {
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
    let has_ell = spec.inputs.iter().any(|t| t.iter().any(|l| l == ELLIPSIS));
    let ty_of = |l: &String| {
        let id = &letter_idents[id(l)];
        quote!(#id)
    };
    // Each operand's bound and the binding of its letters' values.
    let mut bounds: Vec<TokenStream> = Vec::new();
    let mut splits: Vec<TokenStream> = Vec::new();
    let mut first_ell: Option<usize> = None;
    for (k, t) in spec.inputs.iter().enumerate() {
        let op = &ops[k];
        let x = &xs[k];
        let d = &ds[k];
        match t.iter().position(|l| l == ELLIPSIS) {
            None => {
                let tys = t.iter().map(ty_of);
                let term = quote!((#(#tys,)*));
                let rule = if spec.compact && t.len() > 1 {
                    quote!(::shapecheck::ops::einsum::FitsCompactLetters)
                } else {
                    quote!(::shapecheck::ops::einsum::FitsLetters)
                };
                bounds.push(quote!(#op: #rule<#term>));
                splits.push(quote!(let #d: #term = #rule::into_letters(#x.shape());));
            }
            Some(e) => {
                first_ell.get_or_insert(k);
                let m = t.len() - e - 1;
                let head = t[..e].iter().map(ty_of);
                let tail = t[e + 1..].iter().map(ty_of);
                bounds.push(quote!(#op: ::shapecheck::shape::SplitEllipsis<#e, #m, Head = (#(#head,)*), Mid = Ellipsis, Tail = (#(#tail,)*)>));
                let (h, mm, tt) = (
                    format_ident!("__h{}", k),
                    format_ident!("__m{}", k),
                    format_ident!("__t{}", k),
                );
                splits.push(quote!(let (#h, #mm, #tt) = ::shapecheck::shape::SplitEllipsis::<#e, #m>::split_ellipsis(#x.shape());));
            }
        }
    }
    // The value of a letter: its axis in the first operand that has it.
    let value_of = |l: &String| {
        let (op, t) = spec
            .inputs
            .iter()
            .enumerate()
            .find(|(_, t)| t.contains(l))
            .expect("validated: every output letter is in an input");
        let pos = t.iter().position(|x| x == l).expect("found");
        match t.iter().position(|x| x == ELLIPSIS) {
            None => {
                let d = &ds[op];
                let axis = Index::from(pos);
                quote!(#d.#axis)
            }
            Some(e) if pos < e => {
                let h = format_ident!("__h{}", op);
                let axis = Index::from(pos);
                quote!(#h.#axis)
            }
            Some(e) => {
                let tt = format_ident!("__t{}", op);
                let axis = Index::from(pos - e - 1);
                quote!(#tt.#axis)
            }
        }
    };
    let (out_ty, out_val, out_bound) = match spec.output.iter().position(|l| l == ELLIPSIS) {
        None => {
            let tys = spec.output.iter().map(ty_of);
            let vals = spec.output.iter().map(value_of);
            (quote!((#(#tys,)*)), quote!((#(#vals,)*)), quote!())
        }
        Some(q) => {
            let (bt, at) = (
                spec.output[..q].iter().map(ty_of),
                spec.output[q + 1..].iter().map(ty_of),
            );
            let (bv, av) = (
                spec.output[..q].iter().map(value_of),
                spec.output[q + 1..].iter().map(value_of),
            );
            let m = format_ident!("__m{}", first_ell.expect("validated: `...` in an input"));
            let splice = quote!(::shapecheck::shape::Splice<(#(#bt,)*), (#(#at,)*)>);
            (
                quote!(<Ellipsis as #splice>::Output),
                quote!(::shapecheck::shape::Splice::splice(#m, (#(#bv,)*), (#(#av,)*))),
                quote!(Ellipsis: #splice,),
            )
        }
    };
    let ell_param = if has_ell {
        quote!(Ellipsis: ::shapecheck::shape::Shape,)
    } else {
        quote!()
    };
    let text = lit.value();
    let id_tokens = |l: &String| {
        if l == ELLIPSIS {
            quote!(::shapecheck::ops::einsum::ELLIPSIS)
        } else {
            let i = id(l);
            quote!(#i)
        }
    };
    let spec_inputs = spec.inputs.iter().map(|t| {
        let ids = t.iter().map(id_tokens);
        quote!(&[#(#ids),*])
    });
    let spec_output = spec.output.iter().map(id_tokens);
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
            #ell_param
            Elem: ::shapecheck::Float,
            #(#ops: ::shapecheck::shape::Shape,)*
        >(
            #(#xs: ::shapecheck::TensorView<'_, #ops, Elem>,)*
        ) -> ::core::result::Result<::shapecheck::Tensor<#out_ty, Elem>, ::shapecheck::ShapeError>
        where
            #(#bounds,)*
            #out_bound
        {
            #(#splits)*
            const SPEC: ::shapecheck::ops::einsum::Spec = ::shapecheck::ops::einsum::Spec {
                text: #text,
                letters: &[#(#letters),*],
                inputs: &[#(#spec_inputs),*],
                output: &[#(#spec_output),*],
            };
            ::shapecheck::ops::einsum::run(
                &SPEC,
                &[#(::shapecheck::ops::einsum::Input::new(&#xs)),*],
                #out_val,
            )
        }
        // `&a` as an operand is fine: `as_view` reads through references.
        #[allow(clippy::needless_borrow)]
        let __result = einsum(#(#args),*);
        #result
    }}
}
