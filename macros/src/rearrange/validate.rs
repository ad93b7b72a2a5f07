//! Rules on a parsed `rearrange!`, `reduce!` or `repeat!`, reported at the pattern (or at
//! the offending argument): each name once per side; the names on both sides for
//! `rearrange!`, the right's on the left for `reduce!` (the others are reduced), the
//! left's on the right for `repeat!` (the others are new); numbers other than 1 only
//! where an axis may appear or vanish; `...` on the right only if on the left; at most 6
//! axes a side; every `name = Dim` argument names an axis; a split (a left group) has all
//! its parts but one given, as einops asks; and every name whose dim the types cannot find
//! (inside a group, and nowhere an axis of its own) given as an argument.

use std::collections::HashSet;

use proc_macro2::Span;

use super::parse::{Factor, Item, Kind, Pattern, RearrangeInput};

/// The most axes a shape has.
const MAX_RANK: usize = 6;

/// Names the generated helper uses for itself.
const RESERVED: &[&str] = &["Elem", "Input", "Arg", "Self", "self", "super", "crate"];

/// Checks the pattern and the arguments.
pub(crate) fn validate(input: &RearrangeInput, pattern: &Pattern, span: Span) -> syn::Result<()> {
    let text = input.pattern.value();
    let kind = input.kind;
    let what = kind.name();
    let err = |msg: String| Err(syn::Error::new(span, msg));
    let mut sides: Vec<HashSet<&str>> = Vec::new();
    for (side, items) in [("left", &pattern.left), ("right", &pattern.right)] {
        let axes = items.iter().filter(|i| matches!(i, Item::Axis(_))).count();
        if axes > MAX_RANK {
            return err(format!(
                "the {side} side of {what} pattern {text:?} has {axes} axes; a tensor has at \
                 most {MAX_RANK}"
            ));
        }
        let mut seen = HashSet::new();
        for item in items.iter() {
            let Item::Axis(factors) = item else { continue };
            if factors.len() > MAX_RANK {
                return err(format!(
                    "a group of {what} pattern {text:?} has {} parts; at most {MAX_RANK}",
                    factors.len()
                ));
            }
            for f in factors {
                match f {
                    Factor::Name(name) => {
                        if RESERVED.contains(&name.as_str())
                            || name.starts_with("Group")
                            || name.starts_with("__")
                        {
                            return err(format!(
                                "`{name}` is reserved by `{what}!`; call this axis something else"
                            ));
                        }
                        if !seen.insert(name.as_str()) {
                            return err(format!(
                                "`{name}` appears twice on the {side} side of {what} pattern \
                                 {text:?}"
                            ));
                        }
                    }
                    Factor::Lit(n) => {
                        let allowed = match kind {
                            Kind::Rearrange => false,
                            Kind::Reduce => side == "left",
                            Kind::Repeat => side == "right",
                        };
                        if !allowed {
                            let hint = match kind {
                                Kind::Rearrange => {
                                    "rearrange keeps every element: only `()` or `1` (an axis \
                                     of size 1) may appear on one side; use repeat! to add an \
                                     axis of size {n}, reduce! to remove one"
                                }
                                Kind::Reduce => {
                                    "a number on the right of a reduction would be an axis \
                                     that is not in the input; only `()` or `1` may be added"
                                }
                                Kind::Repeat => {
                                    "a number on the left of a repeat would be an axis that \
                                     is dropped; only `()` or `1` may be"
                                }
                            };
                            return err(format!(
                                "the anonymous axis `{n}` on the {side} side of {what} \
                                 pattern {text:?} is not allowed: {}",
                                hint.replace("{n}", &n.to_string())
                            ));
                        }
                    }
                }
            }
        }
        sides.push(seen);
    }
    let ell_left = pattern.left.iter().any(|i| matches!(i, Item::Ellipsis));
    let ell_right = pattern.right.iter().any(|i| matches!(i, Item::Ellipsis));
    if ell_right && !ell_left {
        return err(format!(
            "`...` is on the right of {what} pattern {text:?} but not on the left: it stands \
             for axes of the input"
        ));
    }
    if ell_left && !ell_right && kind != Kind::Reduce {
        return err(format!(
            "`...` is on the left of {what} pattern {text:?} but not on the right: {what} \
             keeps the axes it stands for (reduce! removes them)"
        ));
    }
    let (left, right) = (&sides[0], &sides[1]);
    for axis in Pattern::names(&pattern.left) {
        if !right.contains(axis.as_str()) && kind != Kind::Reduce {
            return err(format!(
                "`{axis}` is on the left of {what} pattern {text:?} but not on the right: \
                 {what} moves axes, it does not drop them (use reduce! for that)"
            ));
        }
    }
    for axis in Pattern::names(&pattern.right) {
        if !left.contains(axis.as_str()) && kind != Kind::Repeat {
            return err(format!(
                "`{axis}` is on the right of {what} pattern {text:?} but not on the left{}",
                if kind == Kind::Rearrange {
                    " (use repeat! to add an axis)"
                } else {
                    ""
                }
            ));
        }
    }
    let mut bound = HashSet::new();
    for b in &input.bindings {
        let name = b.name.to_string();
        if !left.contains(name.as_str()) && !right.contains(name.as_str()) {
            return Err(syn::Error::new(
                b.name.span(),
                format!("`{name}` is not an axis of {what} pattern {text:?}"),
            ));
        }
        if !bound.insert(name.clone()) {
            return Err(syn::Error::new(
                b.name.span(),
                format!("`{name}` is given twice"),
            ));
        }
    }
    // einops' rule: a split needs all its parts but one (whose dim, here, comes from the
    // result type, and whose product with the others the type checker checks).
    for item in &pattern.left {
        let Item::Axis(factors) = item else { continue };
        let unknown: Vec<&String> = factors
            .iter()
            .filter_map(|f| match f {
                Factor::Name(n) if !bound.contains(n) => Some(n),
                _ => None,
            })
            .collect();
        if factors.len() > 1 && unknown.len() > 1 {
            let group: Vec<String> = factors
                .iter()
                .map(|f| match f {
                    Factor::Name(n) => n.clone(),
                    Factor::Lit(k) => k.to_string(),
                })
                .collect();
            return err(format!(
                "group ({}) of {what} pattern {text:?} splits an axis into {} parts whose dims \
                 are not given: give all but one, e.g. `{} = <its dim>`{}",
                group.join(" "),
                unknown.len(),
                unknown[0],
                if unknown.len() == 2 {
                    format!(" (then `{}` is read from the result type)", unknown[1])
                } else {
                    String::new()
                }
            ));
        }
    }
    // A name has the dim of its own axis on the left, or of its own axis on the right
    // (through the result type); inside groups only, it must be given.
    let standalone = |side: &[Item], name: &str| {
        side.iter().any(
            |i| matches!(i, Item::Axis(f) if f.len() == 1 && f[0] == Factor::Name(name.to_owned())),
        )
    };
    for name in Pattern::names(&pattern.left).chain(Pattern::names(&pattern.right)) {
        if bound.contains(name)
            || standalone(&pattern.left, name)
            || standalone(&pattern.right, name)
        {
            continue;
        }
        return err(format!(
            "the dim of `{name}` in {what} pattern {text:?} must be given as an argument, \
             `{name} = <its dim>` (e.g. `{name} = D<4>`): it is only ever part of a group, so \
             neither the input nor the result type says what it is"
        ));
    }
    Ok(())
}
