//! Syntax of `einsum!("spec", a, b, …)` and of the spec itself.
//!
//! The spec is `term, term, … -> term`. A term is written either compactly, one letter per
//! axis (`"bhqd,bhkd->bhqk"`), or spaced, one name per axis separated by whitespace
//! (`"b h q d, b h k d -> b h q k"`, where a name may be longer than one letter). A spec is
//! spaced as soon as one of its terms has whitespace between two names; otherwise every
//! letter is an axis, so `"index->"` is five axes (and an operand of another rank gets an
//! error that says how to write names). A term may hold one `...` (`"...ij,...jk->...ik"`,
//! `"... i j, ... j k -> ... i k"`): the axes not named, the same dims in every operand
//! that has it. `...` is kept in a term as the name [`ELLIPSIS`].

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

/// The name `...` has in a parsed term.
pub(crate) const ELLIPSIS: &str = "...";

/// A parsed spec: the names of the axes of each input and of the output.
pub(crate) struct Spec {
    pub inputs: Vec<Vec<String>>,
    pub output: Vec<String>,
    /// Whether every letter is an axis (no term has spaces between names).
    pub compact: bool,
}

/// Parses the text of the spec; errors point at the string literal.
pub(crate) fn parse_spec(text: &str, span: Span) -> syn::Result<Spec> {
    let err = |msg: String| syn::Error::new(span, msg);
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
        // "... ij" is compact with an ellipsis; "... i j" and "b index" are spaced.
        .any(|t| t.replace("...", "").split_whitespace().count() > 1);
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
    for (i, term) in inputs.iter().chain(core::iter::once(&output)).enumerate() {
        if term.iter().filter(|n| *n == ELLIPSIS).count() > 1 {
            let what = if i == inputs.len() {
                "the output".to_owned()
            } else {
                format!("input {}", i + 1)
            };
            return Err(err(format!(
                "{what} of einsum spec {text:?} has two `...`; one stands for all the axes \
                 not named"
            )));
        }
    }
    Ok(Spec {
        inputs,
        output,
        compact: !spaced,
    })
}

fn parse_term(
    term: &str,
    spaced: bool,
    what: &str,
    text: &str,
    span: Span,
) -> syn::Result<Vec<String>> {
    let err = |msg: String| syn::Error::new(span, msg);
    let term = term.replace('…', "...");
    if spaced {
        term.replace("...", " ... ")
            .split_whitespace()
            .map(|name| {
                if name == ELLIPSIS {
                    return Ok(name.to_owned());
                }
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
        let t = term.trim().replace("...", "\u{1}");
        t.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| {
                if c == '\u{1}' {
                    Ok(ELLIPSIS.to_owned())
                } else if c.is_ascii_alphabetic() {
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
