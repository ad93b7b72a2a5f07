use shapecheck::prelude::*;

dim!(pub Seq = 4);
dim!(pub DModel = 8);

fn main() {
    let pooled = Tensor::<(Seq, DModel)>::zeros();
    let _v = pooled.squeeze::<0>();
}
