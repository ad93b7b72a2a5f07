//! Rules on a parsed `rearrange!`, reported at the pattern (or at the offending argument):
//! each name appears once per side and on both sides, a group has at most two names (its
//! product is checked by `SplitsInto`, a rule on two factors), each side has at most 6
//! axes, and every `name = Dim` argument names an axis of the pattern.

use std::collections::HashSet;

use proc_macro2::Span;

use super::parse::{Pattern, RearrangeInput};

/// The most axes a shape has.
const MAX_RANK: usize = 6;

/// Names the generated helper uses for itself.
const RESERVED: &[&str] = &["Elem", "Input", "Self", "self", "super", "crate"];

/// Checks the pattern and the arguments.
pub(crate) fn validate(input: &RearrangeInput, pattern: &Pattern, span: Span) -> syn::Result<()> {
    let text = input.pattern.value();
    let err = |msg: String| Err(syn::Error::new(span, msg));
    let mut sides: Vec<HashSet<&str>> = Vec::new();
    for (side, axes) in [("left", &pattern.left), ("right", &pattern.right)] {
        if axes.len() > MAX_RANK {
            return err(format!(
                "the {side} side of rearrange pattern {text:?} has {} axes; a tensor has at \
                 most {MAX_RANK}",
                axes.len()
            ));
        }
        let mut seen = HashSet::new();
        for axis in axes.iter() {
            if axis.names.len() > 2 {
                return err(format!(
                    "group ({}) of rearrange pattern {text:?} has {} names; a group splits or \
                     merges exactly two axes (rearrange twice for more)",
                    axis.names.join(" "),
                    axis.names.len()
                ));
            }
            for name in &axis.names {
                if RESERVED.contains(&name.as_str()) || name.starts_with("Group") {
                    return err(format!(
                        "`{name}` is reserved by `rearrange!`; call this axis something else"
                    ));
                }
                if !seen.insert(name.as_str()) {
                    return err(format!(
                        "`{name}` appears twice on the {side} side of rearrange pattern \
                         {text:?}"
                    ));
                }
            }
        }
        sides.push(seen);
    }
    let (left, right) = (&sides[0], &sides[1]);
    for axis in pattern.left.iter().flat_map(|a| &a.names) {
        if !right.contains(axis.as_str()) {
            return err(format!(
                "`{axis}` is on the left of rearrange pattern {text:?} but not on the right: \
                 rearrange moves axes, it does not drop them (use a reduction for that)"
            ));
        }
    }
    for axis in pattern.right.iter().flat_map(|a| &a.names) {
        if !left.contains(axis.as_str()) {
            return err(format!(
                "`{axis}` is on the right of rearrange pattern {text:?} but not on the left"
            ));
        }
    }
    let mut bound = HashSet::new();
    for b in &input.bindings {
        let name = b.name.to_string();
        if !left.contains(name.as_str()) {
            return Err(syn::Error::new(
                b.name.span(),
                format!("`{name}` is not an axis of rearrange pattern {text:?}"),
            ));
        }
        if !bound.insert(name.clone()) {
            return Err(syn::Error::new(
                b.name.span(),
                format!("`{name}` is given twice"),
            ));
        }
    }
    Ok(())
}
