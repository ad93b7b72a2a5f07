//! Syntax of `rearrange!(x, "pattern", name = Dim, …)`, `reduce!(x, "pattern", op, …)` and
//! `repeat!(x, "pattern", …)`, and of the pattern they share (einops' grammar): two sides
//! separated by `->`, each a list of axes, where an axis is a name, a parenthesised group
//! of names and numbers (`(h d)`, `(h 2)`), `()` or `1` (an axis of size 1), a number
//! (`repeat!` only: a new axis of that size), or `...` (the axes not named, in order).

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Token, Type};

/// Which macro a pattern belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rearrange,
    Reduce,
    Repeat,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Rearrange => "rearrange",
            Kind::Reduce => "reduce",
            Kind::Repeat => "repeat",
        }
    }
}

/// A `name = Dim` argument.
pub(crate) struct Binding {
    pub name: Ident,
    pub ty: Type,
}

/// The macro input as written.
pub(crate) struct RearrangeInput {
    pub kind: Kind,
    pub tensor: Expr,
    pub pattern: LitStr,
    /// `reduce!`'s reduction: `sum`, `mean`, `max`, `min` or `prod`.
    pub op: Option<Ident>,
    pub bindings: Vec<Binding>,
}

/// The reductions `reduce!` knows, and their types in `shapecheck::ops::rearrange`.
pub(crate) const REDUCTIONS: &[(&str, &str)] = &[
    ("sum", "Sum"),
    ("mean", "Mean"),
    ("max", "Max"),
    ("min", "Min"),
    ("prod", "Prod"),
];

/// Parses the input of the macro `kind`.
pub(crate) fn parse_input(kind: Kind, input: ParseStream) -> syn::Result<RearrangeInput> {
    let example = match kind {
        Kind::Rearrange => "`rearrange!(x, \"s (h d) -> h s d\", h = Heads)`",
        Kind::Reduce => "`reduce!(x, \"b s d -> b d\", mean)`",
        Kind::Repeat => "`repeat!(x, \"s d -> b s d\", b = Batch)`",
    };
    let tensor: Expr = input.parse()?;
    input.parse::<Token![,]>()?;
    let pattern: LitStr = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!(
                "`{}!` takes the tensor, then its pattern as a string literal, e.g. {example}",
                kind.name()
            ),
        )
    })?;
    let mut op = None;
    if kind == Kind::Reduce {
        let missing = |span| {
            syn::Error::new(
                span,
                "`reduce!` takes the reduction after the pattern: one of `sum`, `mean`, \
                 `max`, `min`, `prod`, e.g. `reduce!(x, \"b s d -> b d\", mean)`",
            )
        };
        if input.is_empty() {
            return Err(missing(pattern.span()));
        }
        input.parse::<Token![,]>()?;
        let id: Ident = input.parse().map_err(|e| missing(e.span()))?;
        if !REDUCTIONS.iter().any(|(n, _)| id == n) {
            return Err(missing(id.span()));
        }
        op = Some(id);
    }
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
        kind,
        tensor,
        pattern,
        op,
        bindings,
    })
}

/// `rearrange!`'s input.
pub(crate) struct ForRearrange(pub RearrangeInput);
/// `reduce!`'s input.
pub(crate) struct ForReduce(pub RearrangeInput);
/// `repeat!`'s input.
pub(crate) struct ForRepeat(pub RearrangeInput);

impl Parse for ForRearrange {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        parse_input(Kind::Rearrange, input).map(ForRearrange)
    }
}
impl Parse for ForReduce {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        parse_input(Kind::Reduce, input).map(ForReduce)
    }
}
impl Parse for ForRepeat {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        parse_input(Kind::Repeat, input).map(ForRepeat)
    }
}

/// A part of an axis: a name, or a number (an anonymous axis of that size, at least 2;
/// the `1`s are dropped when parsed).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Factor {
    Name(String),
    Lit(usize),
}

/// One item of one side.
#[derive(Clone)]
pub(crate) enum Item {
    /// An axis: its factors, outermost first (one for a plain name or number, none for
    /// `()` or `1`, several for a group).
    Axis(Vec<Factor>),
    /// `...`.
    Ellipsis,
}

/// A parsed pattern.
pub(crate) struct Pattern {
    pub left: Vec<Item>,
    pub right: Vec<Item>,
}

impl Pattern {
    /// The names of one side, in order.
    pub(crate) fn names(side: &[Item]) -> impl Iterator<Item = &String> {
        side.iter()
            .flat_map(|i| match i {
                Item::Axis(f) => f.as_slice(),
                Item::Ellipsis => &[],
            })
            .filter_map(|f| match f {
                Factor::Name(n) => Some(n),
                Factor::Lit(_) => None,
            })
    }
}

/// Parses the text of a pattern; errors point at the string literal.
pub(crate) fn parse_pattern(kind: Kind, text: &str, span: Span) -> syn::Result<Pattern> {
    let what = kind.name();
    let mut sides = text.split("->");
    match (sides.next(), sides.next(), sides.next()) {
        (Some(l), Some(r), None) => Ok(Pattern {
            left: parse_side(l, what, text, span)?,
            right: parse_side(r, what, text, span)?,
        }),
        (_, None, _) => Err(syn::Error::new(
            span,
            format!("{what} pattern {text:?} has no `->`, e.g. \"b s (h d) -> b h s d\""),
        )),
        _ => Err(syn::Error::new(
            span,
            format!("{what} pattern {text:?} has more than one `->`"),
        )),
    }
}

fn parse_side(side: &str, what: &str, text: &str, span: Span) -> syn::Result<Vec<Item>> {
    let err = |msg: String| Err(syn::Error::new(span, msg));
    let mut items = Vec::new();
    let mut group: Option<Vec<Factor>> = None;
    let mut chars = side.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            chars.next();
            if group.is_some() {
                return err(format!("{what} pattern {text:?} nests a group in a group"));
            }
            group = Some(Vec::new());
        } else if c == ')' {
            chars.next();
            match group.take() {
                Some(factors) => items.push(Item::Axis(factors)),
                None => return err(format!("{what} pattern {text:?} has an unmatched `)`")),
            }
        } else if c == '.' || c == '…' {
            let mut dots = String::new();
            while let Some(&c) = chars.peek() {
                if c == '.' || c == '…' {
                    dots.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if dots != "..." && dots != "…" {
                return err(format!(
                    "`{dots}` in {what} pattern {text:?}: an ellipsis is written `...`"
                ));
            }
            if group.is_some() {
                return err(format!(
                    "`...` inside a group in {what} pattern {text:?} is not supported: the \
                     axes under an ellipsis cannot be merged or split; name them instead"
                ));
            }
            if items.iter().any(|i| matches!(i, Item::Ellipsis)) {
                return err(format!(
                    "{what} pattern {text:?} has two `...` on one side; one stands for all the \
                     axes not named"
                ));
            }
            items.push(Item::Ellipsis);
        } else if c.is_ascii_digit() {
            let mut digits = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_digit() {
                    digits.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            let n: usize = match digits.parse() {
                Ok(n) if n > 0 => n,
                _ => {
                    return err(format!(
                        "`{digits}` in {what} pattern {text:?} is not an axis size: a number \
                         in a pattern is an anonymous axis of that size, at least 1"
                    ))
                }
            };
            let factors = if n == 1 { vec![] } else { vec![Factor::Lit(n)] };
            match &mut group {
                Some(g) => g.extend(factors),
                None => items.push(Item::Axis(factors)),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
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
                Some(g) => g.push(Factor::Name(name)),
                None => items.push(Item::Axis(vec![Factor::Name(name)])),
            }
        } else {
            return err(format!(
                "`{c}` in {what} pattern {text:?} is not allowed: axes are names (letters, \
                 digits, `_`), numbers, groups in parentheses, or `...`"
            ));
        }
    }
    if group.is_some() {
        return err(format!("{what} pattern {text:?} has an unclosed `(`"));
    }
    Ok(items)
}
