use shapecheck::prelude::*;

dim!(pub Seq = 16);
dim!(pub DModel = 32);

fn main() {
    let mut x = Tensor::<(Seq, DModel)>::zeros();
    let bias = Tensor::<(DModel,)>::ones();
    x += &bias;
    assert_eq!(x.sum_all(), 16.0 * 32.0);
}
