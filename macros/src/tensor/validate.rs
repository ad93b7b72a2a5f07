//! Rules on a parsed `tensor!`: every array along an axis has the same length (the literal
//! is rectangular), no axis is empty, and the rank is at most 6. The first offending row is
//! reported at its own span.

use super::parse::{Literal, Node};

/// The most axes a shape has.
const MAX_RANK: usize = 6;

/// What the rows seen so far at one depth look like.
#[derive(Clone, Copy)]
enum Level {
    /// Arrays of this many elements.
    Array(usize),
    /// Single values.
    Leaf,
}

/// The dims of a rectangular literal, outermost first.
pub(crate) fn validate(lit: &Literal) -> syn::Result<Vec<usize>> {
    let mut levels: Vec<Level> = Vec::new();
    walk(&lit.0, &mut Vec::new(), &mut levels)?;
    let dims: Vec<usize> = levels
        .iter()
        .map_while(|l| match l {
            Level::Array(n) => Some(*n),
            Level::Leaf => None,
        })
        .collect();
    Ok(dims)
}

/// "row 2" for a child of the outer array, "row 3 of block 1" deeper down (1-based).
fn row_name(path: &[usize]) -> String {
    match path {
        [] => "the literal".to_owned(),
        [row] => format!("row {row}"),
        [block @ .., row] => {
            let block: Vec<String> = block.iter().map(usize::to_string).collect();
            format!("row {row} of block {}", block.join("."))
        }
    }
}

fn walk(node: &Node, path: &mut Vec<usize>, levels: &mut Vec<Level>) -> syn::Result<()> {
    let depth = path.len();
    match node {
        Node::Array { span, elems } => {
            if elems.is_empty() {
                return Err(syn::Error::new(
                    *span,
                    "a tensor literal needs at least one element along each axis",
                ));
            }
            match levels.get(depth).copied() {
                None => {
                    if depth == MAX_RANK {
                        return Err(syn::Error::new(
                            *span,
                            format!("a tensor has at most {MAX_RANK} axes; this literal has more"),
                        ));
                    }
                    levels.push(Level::Array(elems.len()));
                }
                Some(Level::Array(n)) if n != elems.len() => {
                    return Err(syn::Error::new(
                        *span,
                        format!(
                            "{} has {} element{}; the rows before it have {n}",
                            row_name(path),
                            elems.len(),
                            if elems.len() == 1 { "" } else { "s" }
                        ),
                    ));
                }
                Some(Level::Array(_)) => {}
                Some(Level::Leaf) => {
                    return Err(syn::Error::new(
                        *span,
                        format!(
                            "{} is an array, but the rows before it hold single values here",
                            row_name(path)
                        ),
                    ));
                }
            }
            for (i, elem) in elems.iter().enumerate() {
                path.push(i + 1);
                walk(elem, path, levels)?;
                path.pop();
            }
            Ok(())
        }
        Node::Leaf(expr) => match levels.get(depth).copied() {
            None => {
                levels.push(Level::Leaf);
                Ok(())
            }
            Some(Level::Leaf) => Ok(()),
            Some(Level::Array(n)) => Err(syn::Error::new_spanned(
                expr,
                format!(
                    "{} is a single value, but the rows before it are arrays of {n} here",
                    row_name(path)
                ),
            )),
        },
    }
}
