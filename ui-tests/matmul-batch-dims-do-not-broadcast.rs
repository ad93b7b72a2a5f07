use shapecheck::prelude::*;

dim!(pub Seq = 16);
dim!(pub HeadDim = 8);

fn main() {
    // Batch dims (2, 3) against (4, 3): 2 and 4 differ and neither is 1.
    let q = Tensor::<(D<2>, D<3>, Seq, HeadDim)>::zeros();
    let k = Tensor::<(D<4>, D<3>, Seq, HeadDim)>::zeros();
    let _scores = q.matmul(&k.t());
}
