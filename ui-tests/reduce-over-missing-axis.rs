use shapecheck::prelude::*;

dim!(pub Seq = 16);
dim!(pub DModel = 384);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    let _pooled = x.mean::<2>();
}
