// backward() on the mean of the per-token losses: a scalar.
use shapecheck::autodiff::{Param, Tape};
use shapecheck::prelude::*;

dim!(pub Batch = 2);
dim!(pub Seq = 3);

fn main() {
    let w = Param::new(Tensor::<(Batch, Seq)>::ones());
    let tape = Tape::new();
    let per_token = tape.param(&w).powi(2);
    let grads = per_token.mean_all().backward();
    assert!(grads.of(&w).is_some());
}
