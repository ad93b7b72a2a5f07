//! Syntax of `rearrange!(x, "pattern", name = Dim, …)` and of the pattern: two sides
//! separated by `->`, each a list of axes, where an axis is a name or a parenthesised group
//! of names (`"b s (h d) -> b h s d"`).

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Token, Type};

/// A `name = Dim` argument.
pub(crate) struct Binding {
    pub name: Ident,
    pub ty: Type,
}

/// The macro input as written.
pub(crate) struct RearrangeInput {
    pub tensor: Expr,
    pub pattern: LitStr,
    pub bindings: Vec<Binding>,
}

impl Parse for RearrangeInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let tensor: Expr = input.parse()?;
        input.parse::<Token![,]>()?;
        let pattern: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "`rearrange!` takes the tensor, then its pattern as a string literal, e.g. \
                 `rearrange!(x, \"s (h d) -> h s d\", h = Heads)`",
            )
        })?;
        let mut bindings = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let name: Ident = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected `name = Dim`, giving the dim type of an axis of the pattern",
                )
            })?;
            input.parse::<Token![=]>()?;
            let ty: Type = input.parse()?;
            bindings.push(Binding { name, ty });
        }
        Ok(RearrangeInput {
            tensor,
            pattern,
            bindings,
        })
    }
}

/// One axis of one side: its names (one for a plain axis, several for a group; a group of
/// one name is a plain axis).
pub(crate) struct Axis {
    pub names: Vec<String>,
}

/// A parsed pattern.
pub(crate) struct Pattern {
    pub left: Vec<Axis>,
    pub right: Vec<Axis>,
}

/// Parses the text of a pattern; errors point at the string literal.
pub(crate) fn parse_pattern(text: &str, span: Span) -> syn::Result<Pattern> {
    let mut sides = text.split("->");
    match (sides.next(), sides.next(), sides.next()) {
        (Some(l), Some(r), None) => Ok(Pattern {
            left: parse_side(l, text, span)?,
            right: parse_side(r, text, span)?,
        }),
        (_, None, _) => Err(syn::Error::new(
            span,
            format!("rearrange pattern {text:?} has no `->`, e.g. \"b s (h d) -> b h s d\""),
        )),
        _ => Err(syn::Error::new(
            span,
            format!("rearrange pattern {text:?} has more than one `->`"),
        )),
    }
}

fn parse_side(side: &str, text: &str, span: Span) -> syn::Result<Vec<Axis>> {
    let err = |msg: String| Err(syn::Error::new(span, msg));
    let mut axes = Vec::new();
    let mut group: Option<Vec<String>> = None;
    let mut chars = side.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            chars.next();
            if group.is_some() {
                return err(format!(
                    "rearrange pattern {text:?} nests a group in a group"
                ));
            }
            group = Some(Vec::new());
        } else if c == ')' {
            chars.next();
            match group.take() {
                Some(names) if names.is_empty() => {
                    return err(format!(
                        "rearrange pattern {text:?} has an empty group `()`"
                    ))
                }
                Some(names) => axes.push(Axis { names }),
                None => return err(format!("rearrange pattern {text:?} has an unmatched `)`")),
            }
        } else if c.is_ascii_alphabetic() {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            match &mut group {
                Some(names) => names.push(name),
                None => axes.push(Axis { names: vec![name] }),
            }
        } else {
            return err(format!(
                "`{c}` in rearrange pattern {text:?} is not allowed: axes are names (letters, \
                 digits, `_`) or groups of names in parentheses"
            ));
        }
    }
    if group.is_some() {
        return err(format!("rearrange pattern {text:?} has an unclosed `(`"));
    }
    Ok(axes)
}
