//! Syntax of `tensor!`: one array expression, nested to any depth; the leaves are
//! arbitrary expressions.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, Token};

/// A node of the literal: an array of nodes, or one element.
pub(crate) enum Node {
    Array { span: Span, elems: Vec<Node> },
    Leaf(Expr),
}

/// The whole literal, as written.
pub(crate) struct Literal(pub Node);

fn node(expr: Expr) -> syn::Result<Node> {
    match expr {
        Expr::Array(array) => {
            let span = array.span();
            let elems = array
                .elems
                .into_iter()
                .map(node)
                .collect::<syn::Result<_>>()?;
            Ok(Node::Array { span, elems })
        }
        Expr::Repeat(rep) => Err(syn::Error::new(
            rep.span(),
            "`[x; n]` is not supported in a tensor literal: write every element, or use \
             `Tensor::full`",
        )),
        other => Ok(Node::Leaf(other)),
    }
}

impl Parse for Literal {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(syn::Error::new(
                input.span(),
                "`tensor!` needs a nested array literal, e.g. `tensor!([[1., 2.], [3., 4.]])`",
            ));
        }
        let expr: Expr = input.parse()?;
        if !matches!(expr, Expr::Array(_)) {
            return Err(syn::Error::new(
                expr.span(),
                "`tensor!` needs an array literal such as `[1., 2., 3.]` or `[[1., 2.], [3., 4.]]`",
            ));
        }
        input.parse::<Option<Token![,]>>()?;
        if !input.is_empty() {
            return Err(syn::Error::new(
                input.span(),
                "`tensor!` takes one array literal; nothing may follow it",
            ));
        }
        Ok(Literal(node(expr)?))
    }
}
