//! Syntax of `einsum!("spec", a, b, …)` and of the spec itself.
//!
//! The spec is `term, term, … -> term`. A term is written either compactly, one letter per
//! axis (`"bhqd,bhkd->bhqk"`), or spaced, one name per axis separated by whitespace
//! (`"b h q d, b h k d -> b h q k"`, where a name may be longer than one letter). A spec is
//! spaced as soon as one of its terms has whitespace between two names.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, LitStr, Token};

/// The macro input as written.
pub(crate) struct EinsumInput {
    pub spec: LitStr,
    pub operands: Vec<Expr>,
}

impl Parse for EinsumInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let spec: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "`einsum!` starts with its spec as a string literal, e.g. \
                 `einsum!(\"ij,jk->ik\", a, b)`",
            )
        })?;
        let mut operands = Vec::new();
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
            let rest = Punctuated::<Expr, Token![,]>::parse_terminated(input)?;
            operands.extend(rest);
        }
        Ok(EinsumInput { spec, operands })
    }
}

/// A parsed spec: the names of the axes of each input and of the output.
pub(crate) struct Spec {
    pub inputs: Vec<Vec<String>>,
    pub output: Vec<String>,
}

/// Parses the text of the spec; errors point at the string literal.
pub(crate) fn parse_spec(text: &str, span: Span) -> syn::Result<Spec> {
    let err = |msg: String| syn::Error::new(span, msg);
    if text.contains("...") || text.contains('…') {
        return Err(err(
            "`...` is not supported in an einsum spec: name every axis with a letter".into(),
        ));
    }
    let mut halves = text.split("->");
    let (lhs, rhs) = match (halves.next(), halves.next(), halves.next()) {
        (Some(l), Some(r), None) => (l, r),
        (_, None, _) => {
            return Err(err(format!(
                "einsum spec {text:?} has no `->`: write the output letters too, e.g. \"ij,jk->ik\""
            )))
        }
        _ => return Err(err(format!("einsum spec {text:?} has more than one `->`"))),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    let spaced = terms
        .iter()
        .chain(core::iter::once(&rhs))
        .any(|t| t.split_whitespace().count() > 1);
    let inputs = terms
        .iter()
        .enumerate()
        .map(|(i, t)| parse_term(t, spaced, &format!("input {}", i + 1), text, span))
        .collect::<syn::Result<Vec<_>>>()?;
    if inputs.len() == 1 && inputs[0].is_empty() && lhs.trim().is_empty() {
        return Err(err(format!(
            "einsum spec {text:?} has no input before `->`"
        )));
    }
    let output = parse_term(rhs, spaced, "the output", text, span)?;
    Ok(Spec { inputs, output })
}

fn parse_term(
    term: &str,
    spaced: bool,
    what: &str,
    text: &str,
    span: Span,
) -> syn::Result<Vec<String>> {
    let err = |msg: String| syn::Error::new(span, msg);
    if spaced {
        term.split_whitespace()
            .map(|name| {
                let mut chars = name.chars();
                let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
                if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    Ok(name.to_owned())
                } else {
                    Err(err(format!(
                        "`{name}` in {what} of einsum spec {text:?} is not an axis name: \
                         names start with a letter and hold letters, digits and `_`"
                    )))
                }
            })
            .collect()
    } else {
        term.trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    Ok(c.to_string())
                } else {
                    Err(err(format!(
                        "`{c}` in {what} of einsum spec {text:?} is not a letter: einsum \
                         axes are the letters a-z and A-Z"
                    )))
                }
            })
            .collect()
    }
}
