//! Syntax of `dim!`: `attrs* vis Name (= size)?` separated by `;`.

use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, LitInt, Token, Visibility};

/// One declaration, as written.
pub(crate) struct DimDecl {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// `Some` for a static dim; the literal is kept so errors can point at it.
    pub size: Option<LitInt>,
}

/// All the declarations of one invocation.
pub(crate) struct DimDecls(pub Vec<DimDecl>);

impl Parse for DimDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let name: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a dim declaration such as `pub Seq = 128` or `pub Batch`",
            )
        })?;
        let size = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let lit: LitInt = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("the size of `{name}` must be an integer literal, e.g. `{name} = 128`"),
                )
            })?;
            Some(lit)
        } else {
            None
        };
        Ok(DimDecl {
            attrs,
            vis,
            name,
            size,
        })
    }
}

impl Parse for DimDecls {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut decls: Vec<DimDecl> = Vec::new();
        while !input.is_empty() {
            decls.push(input.parse()?);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![;]>().map_err(|e| {
                let name = &decls.last().expect("just pushed").name;
                syn::Error::new(
                    e.span(),
                    format!(
                        "expected `= size` or `;` after `{name}`: dims are declared as \
                         `pub {name} = 128;` (static) or `pub {name};` (runtime)"
                    ),
                )
            })?;
        }
        if decls.is_empty() {
            return Err(syn::Error::new(
                input.span(),
                "`dim!` needs at least one declaration, e.g. `dim!(pub Seq = 128);`",
            ));
        }
        Ok(DimDecls(decls))
    }
}
