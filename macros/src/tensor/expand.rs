//! Code generated for a literal: `::shapecheck::tensor::literal::rank<r>([…])`, whose
//! signature fixes the dims from the array type, so the shape is inferred by the type
//! checker and nothing can fail at run time. Unsuffixed integer literals become float
//! literals, so `tensor!([1, 2])` works.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{Expr, ExprLit, ExprUnary, Lit, LitFloat, UnOp};

use super::parse::{Literal, Node};

/// Expands a validated literal of the given dims.
pub(crate) fn expand(lit: &Literal, dims: &[usize]) -> TokenStream {
    let ctor = format_ident!("rank{}", dims.len());
    let array = tokens(&lit.0);
    quote!(::shapecheck::tensor::literal::#ctor(#array))
}

fn tokens(node: &Node) -> TokenStream {
    match node {
        Node::Array { span, elems } => {
            let elems = elems.iter().map(tokens);
            quote_spanned!(*span=> [#(#elems),*])
        }
        Node::Leaf(expr) => leaf(expr),
    }
}

fn leaf(expr: &Expr) -> TokenStream {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) if int.suffix().is_empty() => {
            let float = LitFloat::new(&format!("{}.0", int.base10_digits()), int.span());
            quote!(#float)
        }
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(minus),
            expr: inner,
            ..
        }) => {
            let inner = leaf(inner);
            quote!(#minus #inner)
        }
        other => quote!(#other),
    }
}
