use shapecheck::prelude::*;

dim!(pub Heads = 12);
dim!(pub Seq = 16);
dim!(pub HeadDim = 8);

fn main() {
    let q = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let k = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let scores: Tensor<(Heads, Seq, Seq)> = q.matmul(&k.t());
    assert_eq!(scores.dims().as_slice(), &[12, 16, 16]);
}
