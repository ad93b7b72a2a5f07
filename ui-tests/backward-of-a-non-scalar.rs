// backward() called on the per-token losses (Batch, Seq) instead of their mean.
use shapecheck::autodiff::{Param, Tape};
use shapecheck::prelude::*;

dim!(pub Batch = 2);
dim!(pub Seq = 3);

fn main() {
    let w = Param::new(Tensor::<(Batch, Seq)>::ones());
    let tape = Tape::new();
    let per_token = tape.param(&w).powi(2);
    let _grads = per_token.backward();
}
