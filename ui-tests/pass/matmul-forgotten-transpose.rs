use shapecheck::prelude::*;

dim!(pub Seq = 64);
dim!(pub HeadDim = 64);

fn main() {
    let q = Tensor::<(Seq, HeadDim)>::randn(0);
    let k = Tensor::<(Seq, HeadDim)>::randn(1);
    let scores: Tensor<(Seq, Seq)> = q.matmul(&k.t());
    assert_eq!(format!("{:?}", scores.shape()), "(Seq=64, Seq=64)");
}
