use shapecheck::prelude::*;

dim!(pub Seq = 4; pub DModel = 8);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    // A runtime range, but on an axis the tensor does not have.
    let _y = x.slice_with(A2, 0..2);
}
