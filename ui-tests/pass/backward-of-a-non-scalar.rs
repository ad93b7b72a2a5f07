// Twin of backward-of-a-non-scalar: the per-token losses reduced to their mean first.
use shapecheck::autodiff::{Param, Tape};
use shapecheck::prelude::*;

dim!(pub Batch = 2);
dim!(pub Seq = 3);

fn main() {
    let w = Param::new(Tensor::<(Batch, Seq)>::ones());
    let tape = Tape::new();
    let per_token = tape.param(&w).powi(2);
    let grads = per_token.mean_all().backward();
    let g: TensorView<(Batch, Seq)> = grads.of(&w).unwrap();
    assert!(g.to_vec().iter().all(|&v| (v - 2.0 / 6.0).abs() < 1e-6));
}
