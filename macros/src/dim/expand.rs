//! Code generated for each declaration: a unit struct (static) or a `usize` newtype (runtime)
//! and its `Dim` impls. The typenum size of a static dim is spelled out bit by bit, so any
//! size works, not only those typenum's const-generic table lists.

use proc_macro2::TokenStream;
use quote::quote;

use super::parse::{DimDecl, DimDecls};
use super::validate::size_of;

/// Expands all declarations.
pub(crate) fn expand(decls: &DimDecls) -> TokenStream {
    decls.0.iter().map(expand_one).collect()
}

fn has_doc(decl: &DimDecl) -> bool {
    decl.attrs.iter().any(|a| a.path().is_ident("doc"))
}

fn expand_one(decl: &DimDecl) -> TokenStream {
    let DimDecl {
        attrs, vis, name, ..
    } = decl;
    let name_str = name.to_string();
    match &decl.size {
        Some(lit) => {
            let size = size_of(lit);
            let typenum = typenum_uint(size);
            let kind = if size == 1 {
                quote!(::shapecheck::dim::One)
            } else {
                quote!(::shapecheck::dim::Many)
            };
            let doc = (!has_doc(decl)).then(|| {
                let text = format!("Named static dimension `{name_str}` of size {size}.");
                quote!(#[doc = #text])
            });
            let debug = format!("{name_str}={size}");
            quote! {
                #(#attrs)*
                #doc
                #[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
                #vis struct #name;

                impl ::core::fmt::Debug for #name {
                    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str(#debug)
                    }
                }

                impl ::shapecheck::dim::Dim for #name {
                    const NAME: &'static str = #name_str;
                    const STATIC_SIZE: ::core::option::Option<usize> =
                        ::core::option::Option::Some(#size);
                    type Kind = #kind;
                    #[inline(always)]
                    fn size(self) -> usize {
                        #size
                    }
                    #[inline]
                    fn from_size(n: usize) -> ::core::option::Option<Self> {
                        if n == #size {
                            ::core::option::Option::Some(#name)
                        } else {
                            ::core::option::Option::None
                        }
                    }
                }

                #[diagnostic::do_not_recommend]
                impl ::shapecheck::dim::StaticDim for #name {
                    const SIZE: usize = #size;
                    type Size = #typenum;
                }
            }
        }
        None => {
            let doc = (!has_doc(decl)).then(|| {
                let text = format!(
                    "Named runtime dimension `{name_str}`: its size is chosen with \
                     `{name_str}::new(n)`."
                );
                quote!(#[doc = #text])
            });
            let new_doc = format!("A `{name_str}` of size `n`.");
            quote! {
                #(#attrs)*
                #doc
                #[derive(Clone, Copy, PartialEq, Eq, Hash)]
                #vis struct #name(usize);

                impl #name {
                    #[doc = #new_doc]
                    #[inline]
                    #vis const fn new(n: usize) -> Self {
                        #name(n)
                    }
                }

                impl ::core::fmt::Debug for #name {
                    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        ::core::write!(f, "{}={}", #name_str, self.0)
                    }
                }

                impl ::shapecheck::dim::Dim for #name {
                    const NAME: &'static str = #name_str;
                    const STATIC_SIZE: ::core::option::Option<usize> = ::core::option::Option::None;
                    type Kind = ::shapecheck::dim::Runtime;
                    #[inline(always)]
                    fn size(self) -> usize {
                        self.0
                    }
                    #[inline]
                    fn from_size(n: usize) -> ::core::option::Option<Self> {
                        ::core::option::Option::Some(#name(n))
                    }
                }

                impl ::shapecheck::dim::RuntimeDim for #name {}
            }
        }
    }
}

/// `UInt<…UInt<UTerm, B1>…, Bk>` for `n`, most significant bit innermost, by absolute path.
fn typenum_uint(n: usize) -> TokenStream {
    typenum_uint_named(
        n,
        &quote!(::shapecheck::typenum::UInt),
        &quote!(::shapecheck::typenum::UTerm),
        &quote!(::shapecheck::typenum::B0),
        &quote!(::shapecheck::typenum::B1),
    )
}

/// [`typenum_uint`] with the four typenum names given (short names for a table of impls
/// that imports them).
pub(crate) fn typenum_uint_named(
    n: usize,
    uint: &TokenStream,
    uterm: &TokenStream,
    b0: &TokenStream,
    b1: &TokenStream,
) -> TokenStream {
    let mut ty = uterm.clone();
    let bits = usize::BITS - n.leading_zeros();
    for i in (0..bits).rev() {
        let bit = if (n >> i) & 1 == 1 { b1 } else { b0 };
        ty = quote!(#uint<#ty, #bit>);
    }
    ty
}
