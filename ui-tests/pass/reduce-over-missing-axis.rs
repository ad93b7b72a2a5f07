use shapecheck::prelude::*;

dim!(pub Seq = 16);
dim!(pub DModel = 384);

fn main() {
    let x = Tensor::<(Seq, DModel)>::ones();
    let pooled: Tensor<(DModel,)> = x.mean::<0>();
    assert_eq!(pooled[[0]], 1.0);
}
