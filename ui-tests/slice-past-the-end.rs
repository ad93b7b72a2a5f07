use shapecheck::prelude::*;

dim!(pub Seq = 16);
dim!(pub DModel = 8);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    let _last_four = x.slice::<0, 13, 4>();
}
