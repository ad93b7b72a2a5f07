use shapecheck::prelude::*;

fn main() {
    // A scalar (rank 0) has no last axis to sum over.
    let loss = Tensor::<()>::full(1.5);
    let _total = loss.sum_last();
}
