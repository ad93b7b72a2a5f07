//! Code generated for `rearrange!`: a block holding a generic helper `rearrange` with one
//! type parameter per axis name and one per group (`Group0`, …), whose `where` clause says
//! that the input's shape fits the left side and that each group is the product of its two
//! names (`Group0: SplitsInto<h, d>`, the rule whose message reads "`h` × `d` must equal
//! `Group0`" with the user's dims in place of the names). Names given as `name = Dim` are
//! passed in the turbofish; the others are inferred from the input or the result type. The
//! body hands the input (a tensor's strided view, or a traced `Var`) and the sizes of the
//! elementary axes to `shapecheck::ops::rearrange::Rearrange`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Index};

use super::parse::{Pattern, RearrangeInput};
use crate::einsum::expand::letter_ident;

/// Expands a validated pattern.
pub(crate) fn expand(input: &RearrangeInput, pattern: &Pattern) -> TokenStream {
    let names: Vec<&str> = pattern
        .left
        .iter()
        .flat_map(|a| a.names.iter().map(String::as_str))
        .collect();
    let ident = |n: &str| letter_ident(n);
    let name_idents: Vec<Ident> = names.iter().map(|n| ident(n)).collect();
    let mut groups: Vec<Ident> = Vec::new();
    let mut bounds: Vec<TokenStream> = Vec::new();
    let mut grouped: Vec<String> = Vec::new();
    let mut group_of = |names: &[String], groups: &mut Vec<Ident>| -> TokenStream {
        if names.len() == 1 {
            let n = ident(&names[0]);
            return quote!(#n);
        }
        let g = format_ident!("Group{}", groups.len());
        let (a, b) = (ident(&names[0]), ident(&names[1]));
        bounds.push(quote!(#g: ::shapecheck::shape::SplitsInto<#a, #b>));
        grouped.extend(names.iter().cloned());
        groups.push(g.clone());
        quote!(#g)
    };
    let left_tys: Vec<TokenStream> = pattern
        .left
        .iter()
        .map(|a| group_of(&a.names, &mut groups))
        .collect();
    let n_left_groups = groups.len();
    let right_tys: Vec<TokenStream> = pattern
        .right
        .iter()
        .map(|a| group_of(&a.names, &mut groups))
        .collect();
    let name_bounds = name_idents.iter().zip(&names).map(|(id, n)| {
        if grouped.iter().any(|g| g == n) {
            quote!(#id: ::shapecheck::dim::StaticDim)
        } else {
            quote!(#id: ::shapecheck::dim::Dim)
        }
    });
    let group_bounds = groups
        .iter()
        .map(|g| quote!(#g: ::shapecheck::dim::StaticDim));

    // Sizes of the elementary axes, in left order.
    let sizes = pattern.left.iter().enumerate().flat_map(|(i, a)| {
        let i = Index::from(i);
        if a.names.len() == 1 {
            vec![quote!(::shapecheck::dim::Dim::size(__d.#i))]
        } else {
            a.names
                .iter()
                .map(|n| {
                    let n = ident(n);
                    quote!(<#n as ::shapecheck::dim::StaticDim>::SIZE)
                })
                .collect()
        }
    });
    let factors = pattern.left.iter().map(|a| a.names.len());
    let order = pattern.right.iter().flat_map(|a| &a.names).map(|n| {
        names
            .iter()
            .position(|x| x == n)
            .expect("validated: the same names on both sides")
    });
    // The output dims as values: a plain left axis is read from the input shape, anything
    // else is static and made with `Default`.
    let mut right_group = n_left_groups;
    let out_val: Vec<TokenStream> = pattern
        .right
        .iter()
        .map(|a| {
            if a.names.len() > 1 {
                let g = &groups[right_group];
                right_group += 1;
                return quote!(<#g as ::core::default::Default>::default());
            }
            let n = &a.names[0];
            match pattern
                .left
                .iter()
                .position(|l| l.names.len() == 1 && &l.names[0] == n)
            {
                Some(i) => {
                    let i = Index::from(i);
                    quote!(__d.#i)
                }
                None => {
                    let n = ident(n);
                    quote!(<#n as ::core::default::Default>::default())
                }
            }
        })
        .collect();

    let turbofish = name_idents
        .iter()
        .map(|id| match input.bindings.iter().find(|b| b.name == *id) {
            Some(b) => {
                let ty = &b.ty;
                quote!(#ty)
            }
            None => quote!(_),
        })
        .chain(groups.iter().map(|_| quote!(_)))
        .chain([quote!(_), quote!(_), quote!(_)]);
    let text = input.pattern.value();
    let tensor = &input.tensor;
    let arg = quote_spanned!(tensor.span()=> (#tensor).rearrange_source());
    quote! {{
        #[allow(unused_imports)]
        use ::shapecheck::ops::rearrange::Source as _;
        #[allow(non_camel_case_types, unused_variables, clippy::all, clippy::pedantic)]
        #[inline]
        fn rearrange<
            #(#name_bounds,)*
            #(#group_bounds,)*
            Elem: ::shapecheck::Float,
            Input: ::shapecheck::shape::Shape,
            Arg: ::shapecheck::ops::rearrange::Rearrange<Input, Elem>,
        >(
            x: Arg,
        ) -> Arg::Output<(#(#right_tys,)*)>
        where
            Input: ::shapecheck::ops::einsum::FitsLetters<(#(#left_tys,)*)>,
            #(#bounds,)*
        {
            let __d: (#(#left_tys,)*) =
                ::shapecheck::ops::einsum::FitsLetters::into_letters(x.shape_of());
            const PLAN: ::shapecheck::ops::rearrange::Plan = ::shapecheck::ops::rearrange::Plan {
                text: #text,
                factors: &[#(#factors),*],
                order: &[#(#order),*],
            };
            ::shapecheck::ops::rearrange::Rearrange::rearrange(
                x,
                &PLAN,
                &[#(#sizes),*],
                (#(#out_val,)*),
            )
        }
        // `&x` as the input is fine: `rearrange_source` reads through references. The view is
        // made in a `match` scrutinee so that a temporary input lives through the call.
        #[allow(clippy::needless_borrow)]
        let __result = match #arg {
            __x => rearrange::<#(#turbofish),*>(__x),
        };
        __result
    }}
}
