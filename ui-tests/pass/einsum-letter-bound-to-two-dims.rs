use shapecheck::prelude::*;

dim!(pub Seq = 64; pub HeadDim = 64);

fn main() {
    let q = Tensor::<(Seq, HeadDim)>::zeros();
    let k = Tensor::<(Seq, HeadDim)>::zeros();
    let scores = einsum!("q d, k d -> q k", q, k);
    let _: &Tensor<(Seq, Seq)> = &scores;
}
