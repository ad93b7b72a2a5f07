use shapecheck::prelude::*;

dim!(pub Seq = 64);
dim!(pub HeadDim = 64);

fn main() {
    let q = Tensor::<(Seq, HeadDim)>::randn(0);
    let k = Tensor::<(Seq, HeadDim)>::randn(1);
    let _scores = q.matmul(&k);
}
