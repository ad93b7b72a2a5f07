// A rank-5 truncation of a 6×4 matrix: there are only min(6, 4) = 4 singular values.
use shapecheck::prelude::*;

fn main() {
    let a = Tensor::<(D<6>, D<4>)>::randn(0);
    let t = a.truncated_svd::<D<5>>();
    let _ = t.reconstruct();
}
