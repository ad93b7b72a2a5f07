//! Rules on a parsed einsum spec, each reported at the spec's span: every output letter
//! comes from an input, no output letter repeats, no term has more than 6 axes, and there
//! are as many operands as inputs. Ranks and "same letter, same dim" are left to the type
//! checker (see `expand`).

use proc_macro2::Span;

use super::parse::{Spec, ELLIPSIS};

/// The most axes a shape has.
const MAX_RANK: usize = 6;

/// Names the generated helper uses for itself; an axis may not be called so.
pub(crate) const RESERVED: &[&str] = &["Elem", "Ellipsis", "Self", "self", "super", "crate"];

/// Checks the spec and the operand count.
pub(crate) fn validate(spec: &Spec, text: &str, span: Span, operands: usize) -> syn::Result<()> {
    let err = |msg: String| Err(syn::Error::new(span, msg));
    for (i, letter) in spec.output.iter().enumerate() {
        if letter == ELLIPSIS && !spec.inputs.iter().any(|t| t.contains(letter)) {
            return err(format!(
                "`...` is in the output of einsum spec {text:?} but in no input: it stands \
                 for axes of the operands"
            ));
        }
        if !spec.inputs.iter().any(|t| t.contains(letter)) {
            return err(format!(
                "output letter `{letter}` of einsum spec {text:?} appears in no input: every \
                 output axis must come from an operand"
            ));
        }
        if spec.output[..i].contains(letter) {
            return err(format!(
                "output letter `{letter}` appears twice in einsum spec {text:?}: each output \
                 axis needs its own letter"
            ));
        }
    }
    for (i, term) in spec.inputs.iter().enumerate() {
        if term.iter().filter(|l| *l != ELLIPSIS).count() > MAX_RANK {
            return err(format!(
                "input {} of einsum spec {text:?} has {} letters; a tensor has at most \
                 {MAX_RANK} axes",
                i + 1,
                term.len()
            ));
        }
    }
    if spec.output.iter().filter(|l| *l != ELLIPSIS).count() > MAX_RANK {
        return err(format!(
            "the output of einsum spec {text:?} has {} letters; a tensor has at most \
             {MAX_RANK} axes",
            spec.output.len()
        ));
    }
    for letter in spec.inputs.iter().flatten() {
        if RESERVED.contains(&letter.as_str()) || letter.starts_with("Operand") {
            return err(format!(
                "`{letter}` is reserved by `einsum!`; call this axis something else"
            ));
        }
    }
    let inputs = spec.inputs.len();
    if inputs != operands {
        return err(format!(
            "einsum spec {text:?} has {inputs} input{} but {operands} operand{} {} given",
            if inputs == 1 { "" } else { "s" },
            if operands == 1 { "" } else { "s" },
            if operands == 1 { "was" } else { "were" },
        ));
    }
    Ok(())
}
