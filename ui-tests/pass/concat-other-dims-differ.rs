use shapecheck::prelude::*;

dim!(pub Seq = 4);
dim!(pub DModel = 8);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    let cls = Tensor::<(D<1>, DModel)>::ones();
    let y: Tensor<(D<5>, DModel)> = cls.concat(A0, &x);
    assert_eq!(y[[0, 7]], 1.0);
    assert_eq!(y[[4, 7]], 0.0);
}
