//! Code generated for `rearrange!`, `reduce!` and `repeat!`: a block holding a generic
//! helper (named after the macro) with one type parameter per axis name and one per group
//! (`Group0`, …), whose `where` clause says that the input's shape fits the left side and
//! that each group is the product of its parts (`Group0: SplitsInto<h, d>` for two,
//! `ProductOf<(a, b, c)>` for more: the rules whose messages read "`h` × `d` must equal
//! `Group0`" with the user's dims in place of the names). With a `...`, the input is cut
//! around it by `SplitEllipsis<K, M>` (binding the `K` leading and `M` trailing names) and
//! the result type is the dims under it put back between the right side's by `Splice`.
//! Names given as `name = Dim` are passed in the turbofish; the others are inferred from
//! the input or the result type. The body hands the input (a tensor's strided view, or a
//! traced `Var`), the compiled plan and the sizes of the elementary axes to
//! `shapecheck::ops::rearrange`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Index};

use super::parse::{Factor, Item, Kind, Pattern, RearrangeInput, REDUCTIONS};
use crate::einsum::expand::letter_ident;

/// Where the value of a name's own input axis is: `__d.i`, `__h.i` or `__t.i`.
fn left_values(pattern: &Pattern) -> Vec<(String, TokenStream)> {
    let ell = pattern
        .left
        .iter()
        .position(|i| matches!(i, Item::Ellipsis));
    let mut out = Vec::new();
    for (pos, item) in pattern.left.iter().enumerate() {
        let Item::Axis(f) = item else { continue };
        let [Factor::Name(n)] = f.as_slice() else {
            continue;
        };
        let value = match ell {
            None => {
                let i = Index::from(pos);
                quote!(__d.#i)
            }
            Some(e) if pos < e => {
                let i = Index::from(pos);
                quote!(__h.#i)
            }
            Some(e) => {
                let i = Index::from(pos - e - 1);
                quote!(__t.#i)
            }
        };
        out.push((n.clone(), value));
    }
    out
}

/// Expands a validated pattern.
pub(crate) fn expand(input: &RearrangeInput, pattern: &Pattern) -> TokenStream {
    let kind = input.kind;
    // Elementary axes: the names (left first, then the right's new ones), then one per
    // number.
    let mut names: Vec<String> = Vec::new();
    for n in Pattern::names(&pattern.left).chain(Pattern::names(&pattern.right)) {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let name_idents: Vec<Ident> = names.iter().map(|n| letter_ident(n)).collect();
    let values = left_values(pattern);
    let value_of = |n: &str| values.iter().find(|(m, _)| m == n).map(|(_, v)| v.clone());
    let mut lits: Vec<usize> = Vec::new();
    let mut ids_of = |item: &Item| -> Option<Vec<usize>> {
        let Item::Axis(factors) = item else {
            return None;
        };
        Some(
            factors
                .iter()
                .map(|f| match f {
                    Factor::Name(n) => names.iter().position(|m| m == n).expect("a name"),
                    Factor::Lit(k) => {
                        lits.push(*k);
                        names.len() + lits.len() - 1
                    }
                })
                .collect(),
        )
    };
    let plan_items = |items: &[Item], ids_of: &mut dyn FnMut(&Item) -> Option<Vec<usize>>| {
        items
            .iter()
            .map(|item| match ids_of(item) {
                Some(ids) => quote!(::shapecheck::ops::rearrange::Item::Axis(&[#(#ids),*])),
                None => quote!(::shapecheck::ops::rearrange::Item::Ellipsis),
            })
            .collect::<Vec<_>>()
    };
    let plan_left = plan_items(&pattern.left, &mut ids_of);
    let plan_right = plan_items(&pattern.right, &mut ids_of);

    // Types of the items, with a group parameter and its product rule for each group.
    let mut groups: Vec<Ident> = Vec::new();
    let mut bounds: Vec<TokenStream> = Vec::new();
    let factor_ty = |f: &Factor| match f {
        Factor::Name(n) => {
            let id = letter_ident(n);
            quote!(#id)
        }
        Factor::Lit(k) => quote!(::shapecheck::D<#k>),
    };
    let mut item_ty = |item: &Item, groups: &mut Vec<Ident>| -> Option<TokenStream> {
        let Item::Axis(factors) = item else {
            return None;
        };
        Some(match factors.as_slice() {
            [] => quote!(::shapecheck::D<1>),
            [f] => factor_ty(f),
            fs => {
                let g = format_ident!("Group{}", groups.len());
                let parts: Vec<TokenStream> = fs.iter().map(factor_ty).collect();
                if let [a, b] = parts.as_slice() {
                    bounds.push(quote!(#g: ::shapecheck::shape::SplitsInto<#a, #b>));
                } else {
                    bounds.push(quote!(#g: ::shapecheck::shape::ProductOf<(#(#parts,)*)>));
                }
                groups.push(g.clone());
                quote!(#g)
            }
        })
    };
    let left_tys: Vec<Option<TokenStream>> = pattern
        .left
        .iter()
        .map(|i| item_ty(i, &mut groups))
        .collect();
    let n_left_groups = groups.len();
    let right_tys: Vec<Option<TokenStream>> = pattern
        .right
        .iter()
        .map(|i| item_ty(i, &mut groups))
        .collect();

    // A name is any dim if it has an input axis of its own and is in no right group;
    // otherwise its size is taken from its type, which must be static.
    let in_right_group = |n: &str| {
        pattern.right.iter().any(|i| {
            matches!(i, Item::Axis(f) if f.len() > 1 && f.contains(&Factor::Name(n.to_owned())))
        })
    };
    let name_bounds = name_idents.iter().zip(&names).map(|(id, n)| {
        if value_of(n).is_some() && !in_right_group(n) {
            quote!(#id: ::shapecheck::dim::Dim)
        } else {
            quote!(#id: ::shapecheck::dim::StaticDim)
        }
    });
    let group_bounds = groups
        .iter()
        .map(|g| quote!(#g: ::shapecheck::dim::StaticDim));
    let sizes = names
        .iter()
        .zip(&name_idents)
        .map(|(n, id)| match value_of(n) {
            Some(v) => quote!(::shapecheck::dim::Dim::size(#v)),
            None => quote!(<#id as ::shapecheck::dim::StaticDim>::SIZE),
        })
        .chain(lits.iter().map(|k| quote!(#k)))
        .collect::<Vec<_>>();

    // The input side.
    let ell_left = pattern
        .left
        .iter()
        .position(|i| matches!(i, Item::Ellipsis));
    let (input_bound, split) = match ell_left {
        None => {
            let tys = left_tys.iter().flatten();
            let tys = quote!((#(#tys,)*));
            (
                quote!(Input: ::shapecheck::ops::einsum::FitsLetters<#tys>),
                quote!(let __d: #tys = ::shapecheck::ops::einsum::FitsLetters::into_letters(x.shape_of());),
            )
        }
        Some(e) => {
            let k = e;
            let m = pattern.left.len() - e - 1;
            let head = left_tys[..e].iter().flatten();
            let tail = left_tys[e + 1..].iter().flatten();
            (
                quote!(Input: ::shapecheck::shape::SplitEllipsis<#k, #m, Head = (#(#head,)*), Tail = (#(#tail,)*)>),
                quote!(let (__h, __m, __t) = ::shapecheck::shape::SplitEllipsis::<#k, #m>::split_ellipsis(x.shape_of());),
            )
        }
    };

    // The output side: types and values.
    let mut right_group = n_left_groups;
    let right_vals: Vec<Option<TokenStream>> = pattern
        .right
        .iter()
        .map(|item| {
            let Item::Axis(factors) = item else {
                return None;
            };
            Some(match factors.as_slice() {
                [] => quote!(<::shapecheck::D<1> as ::core::default::Default>::default()),
                [Factor::Name(n)] => value_of(n).unwrap_or_else(|| {
                    let id = letter_ident(n);
                    quote!(<#id as ::core::default::Default>::default())
                }),
                [Factor::Lit(k)] => {
                    quote!(<::shapecheck::D<#k> as ::core::default::Default>::default())
                }
                _ => {
                    let g = &groups[right_group];
                    right_group += 1;
                    quote!(<#g as ::core::default::Default>::default())
                }
            })
        })
        .collect();
    let ell_right = pattern
        .right
        .iter()
        .position(|i| matches!(i, Item::Ellipsis));
    let (out_ty, out_val, out_bound) = match (ell_left, ell_right) {
        (Some(e), Some(q)) => {
            let k = e;
            let m = pattern.left.len() - e - 1;
            let (bt, at) = (
                right_tys[..q].iter().flatten(),
                right_tys[q + 1..].iter().flatten(),
            );
            let (bv, av) = (
                right_vals[..q].iter().flatten(),
                right_vals[q + 1..].iter().flatten(),
            );
            let mid = quote!(<Input as ::shapecheck::shape::SplitEllipsis<#k, #m>>::Mid);
            let splice = quote!(::shapecheck::shape::Splice<(#(#bt,)*), (#(#at,)*)>);
            (
                quote!(<#mid as #splice>::Output),
                quote!(::shapecheck::shape::Splice::splice(__m, (#(#bv,)*), (#(#av,)*))),
                quote!(#mid: #splice,),
            )
        }
        _ => {
            let tys = right_tys.iter().flatten();
            let vals = right_vals.iter().flatten();
            (quote!((#(#tys,)*)), quote!((#(#vals,)*)), quote!())
        }
    };

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
    let helper = format_ident!("{}", kind.name());
    let (arg_bound, call) = match kind {
        Kind::Reduce => {
            let op = input.op.as_ref().expect("reduce! has its reduction");
            let ty = REDUCTIONS
                .iter()
                .find(|(n, _)| op == n)
                .map(|(_, t)| format_ident!("{}", t, span = op.span()))
                .expect("validated reduction");
            (
                quote!(Arg: ::shapecheck::ops::rearrange::ReduceWith<Input, Elem, ::shapecheck::ops::rearrange::#ty>),
                quote!(::shapecheck::ops::rearrange::ReduceWith::<Input, Elem, ::shapecheck::ops::rearrange::#ty>::reduce(x, &PLAN, &[#(#sizes),*], __out)),
            )
        }
        _ => (
            quote!(Arg: ::shapecheck::ops::rearrange::Rearrange<Input, Elem>),
            quote!(::shapecheck::ops::rearrange::Rearrange::rearrange(x, &PLAN, &[#(#sizes),*], __out)),
        ),
    };
    quote! {{
        #[allow(unused_imports)]
        use ::shapecheck::ops::rearrange::Source as _;
        #[allow(non_camel_case_types, unused_variables, clippy::all, clippy::pedantic)]
        #[inline]
        fn #helper<
            #(#name_bounds,)*
            #(#group_bounds,)*
            Elem: ::shapecheck::Float,
            Input: ::shapecheck::shape::Shape,
            #arg_bound,
        >(
            x: Arg,
        ) -> <Arg as ::shapecheck::ops::rearrange::Rearrange<Input, Elem>>::Output<#out_ty>
        where
            #input_bound,
            #out_bound
            #(#bounds,)*
        {
            #split
            let __out = #out_val;
            const PLAN: ::shapecheck::ops::rearrange::Plan = ::shapecheck::ops::rearrange::Plan {
                text: #text,
                left: &[#(#plan_left),*],
                right: &[#(#plan_right),*],
            };
            #call
        }
        // `&x` as the input is fine: `rearrange_source` reads through references. The view is
        // made in a `match` scrutinee so that a temporary input lives through the call.
        #[allow(clippy::needless_borrow)]
        let __result = match #arg {
            __x => #helper::<#(#turbofish),*>(__x),
        };
        __result
    }}
}
