use shapecheck::prelude::*;

dim!(pub Seq = 4; pub DModel = 8);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    // A rank-2 tensor takes a new axis at 0, 1 or 2.
    let _y = x.unsqueeze::<3>();
}
