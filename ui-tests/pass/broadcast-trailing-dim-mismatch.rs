use shapecheck::prelude::*;

dim!(pub Seq = 64);
dim!(pub HeadDim = 64);

fn main() {
    let x = Tensor::<(Seq, HeadDim)>::ones();
    let bias = Tensor::<(HeadDim,)>::ones();
    let sum: Tensor<(Seq, HeadDim)> = &x + &bias;
    assert_eq!(sum[[3, 5]], 2.0);
}
