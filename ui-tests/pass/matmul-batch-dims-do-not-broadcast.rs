use shapecheck::prelude::*;

dim!(pub Seq = 16);
dim!(pub HeadDim = 8);

fn main() {
    // Batch dims (2, 1) against (1, 3) broadcast to (2, 3), as NumPy's do.
    let q = Tensor::<(D<2>, D<1>, Seq, HeadDim)>::zeros();
    let k = Tensor::<(D<1>, D<3>, Seq, HeadDim)>::zeros();
    let scores: Tensor<(D<2>, D<3>, Seq, Seq)> = q.matmul(&k.t());
    assert_eq!(scores.dims().as_slice(), &[2, 3, 16, 16]);
}
