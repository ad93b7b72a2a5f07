//! Gathering rows of a table `(Vocab, Width)` by index: the lookup of an embedding layer,
//! with its checks and messages, written once for the layer's tensor forward
//! ([`nn::embedding::Embedding`](crate::nn::embedding::Embedding)) and the traced lookup
//! ([`Var::embed`](crate::autodiff::Var::embed)).

use crate::dim::Dim;
use crate::element::Float;
use crate::error::ShapeError;
use crate::shape::Shape;
use crate::tensor::{Tensor, TensorView};

/// Rows `ids` of `table` (exactly `n` of them) as a tensor of `shape`, whose element count
/// is `n · Width`, and the row indices (for a backward). `Err` when `ids` does not hold `n`
/// ids or one is not below `Vocab` (negative, too large), naming the id and its position.
pub(crate) fn gather_rows<V: Dim, C: Dim, O: Shape, T: Float, I: Copy + TryInto<usize>>(
    table: &TensorView<'_, (V, C), T>,
    shape: O,
    n: usize,
    ids: &[I],
) -> Result<(Tensor<O, T>, Vec<usize>), ShapeError> {
    let [vocab, width] = [table.dims()[0], table.dims()[1]];
    let err = |detail: String| {
        ShapeError::incompatible_described(
            "Embedding::forward",
            format!("table {:?}", table.shape()),
            format!("ids {}", ids_for_message(ids)),
            detail,
        )
    };
    if ids.len() != n {
        return Err(err(format!(
            "{} ids for a shape of {n} positions {shape:?}",
            ids.len()
        )));
    }
    let mut rows = Vec::with_capacity(n);
    for (pos, &id) in ids.iter().enumerate() {
        match id.try_into() {
            Ok(i) if i < vocab => rows.push(i),
            _ => {
                return Err(err(format!(
                    "id {} at position {pos} is out of range for a table of {vocab} rows",
                    id_for_message(id)
                )))
            }
        }
    }
    let mut out = crate::pool::with_capacity(n * width);
    let copied;
    let t = match table.as_contiguous_slice() {
        Some(t) => t,
        None => {
            copied = table.to_vec();
            &copied[..]
        }
    };
    rows.iter()
        .for_each(|&i| out.extend_from_slice(&t[i * width..(i + 1) * width]));
    Ok((Tensor::from_parts(shape, out), rows))
}

/// One id as a message prints it (ids that are no index, e.g. negative, print as such).
fn id_for_message<I: Copy + TryInto<usize>>(id: I) -> String {
    match id.try_into() {
        Ok(u) => u.to_string(),
        Err(_) => "(negative or too large)".to_string(),
    }
}

/// Ids as a message prints them: `[3, 4]`, the first 16 then `…`.
pub(crate) fn ids_for_message<I: Copy + TryInto<usize>>(ids: &[I]) -> String {
    let mut s: Vec<String> = ids.iter().take(16).map(|&i| id_for_message(i)).collect();
    if ids.len() > 16 {
        s.push("…".into());
    }
    format!("[{}]", s.join(", "))
}
