//! The table of sizes that the anonymous dim `D<N>` covers: one
//! `impl SizeTable<N> for DSizes` per size, its typenum number spelled out bit by bit as
//! `dim!` spells a named dim's.
//!
//! Stable Rust cannot compute a type from a const generic, so `D<N>` can only have the sizes
//! some impl lists. The library writes the list (in `src/dim/anon.rs`) as comma-separated
//! entries:
//!
//! - `N`: one size;
//! - `A..=B`: every size from A to B; `A..=B step S`: A, A + S, … up to B;
//! - `pow2(A..=B)`: 2^k and 2^k − 1 for k from A to B;
//! - `pow10(A..=B)`: 10^k for k from A to B.
//!
//! Each impl is marked `#[diagnostic::do_not_recommend]`, so a size outside the table is
//! reported by `SizeTable`'s one-line message, not a list of the sizes inside it.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitInt, Token};

use super::expand::typenum_uint_named;

/// The sizes listed by the invocation, each once, in order.
pub(crate) struct Table(BTreeSet<usize>);

fn lit(input: ParseStream) -> syn::Result<usize> {
    input.parse::<LitInt>()?.base10_parse()
}

/// `A..=B`, the bounds of a range entry.
fn range(input: ParseStream) -> syn::Result<(usize, usize)> {
    let a = lit(input)?;
    input.parse::<Token![..=]>()?;
    Ok((a, lit(input)?))
}

fn checked(n: Option<usize>, input: ParseStream) -> syn::Result<usize> {
    n.ok_or_else(|| input.error("a size of the table does not fit in usize"))
}

impl Parse for Table {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut sizes = BTreeSet::new();
        while !input.is_empty() {
            if input.peek(Ident) {
                let kind: Ident = input.parse()?;
                let inner;
                syn::parenthesized!(inner in input);
                let (a, b) = range(&inner)?;
                for k in a..=b {
                    match kind.to_string().as_str() {
                        "pow2" if k < usize::BITS as usize => {
                            sizes.insert(1usize << k);
                            sizes.insert((1usize << k) - 1);
                        }
                        "pow2" if k == usize::BITS as usize => {
                            sizes.insert(usize::MAX); // 2^64 − 1; 2^64 itself does not fit
                        }
                        "pow10" => {
                            sizes.insert(checked(10usize.checked_pow(k as u32), input)?);
                        }
                        _ => {
                            return Err(syn::Error::new(
                                kind.span(),
                                "expected `pow2(A..=B)` or `pow10(A..=B)` with k in range",
                            ))
                        }
                    }
                }
            } else if input.peek2(Token![..=]) {
                let (a, b) = range(input)?;
                let step = if input.peek(Ident) {
                    let kw: Ident = input.parse()?;
                    if kw != "step" {
                        return Err(syn::Error::new(kw.span(), "expected `step`"));
                    }
                    lit(input)?
                } else {
                    1
                };
                sizes.extend((a..=b).step_by(step));
            } else {
                sizes.insert(lit(input)?);
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(Table(sizes))
    }
}

/// One impl per size. The names `SizeTable`, `DSizes`, `One`, `Many`, `UInt`, `UTerm`, `B0`
/// and `B1` resolve where the macro is invoked.
pub(crate) fn expand(table: &Table) -> TokenStream {
    table
        .0
        .iter()
        .map(|&n| {
            let size =
                typenum_uint_named(n, &quote!(UInt), &quote!(UTerm), &quote!(B0), &quote!(B1));
            let kind = if n == 1 { quote!(One) } else { quote!(Many) };
            quote! {
                #[diagnostic::do_not_recommend]
                impl SizeTable<#n> for DSizes {
                    type Size = #size;
                    type Kind = #kind;
                }
            }
        })
        .collect()
}
