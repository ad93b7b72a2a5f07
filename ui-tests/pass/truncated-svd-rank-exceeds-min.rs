// The rank is at most min(6, 4).
use shapecheck::prelude::*;

fn main() {
    let a = Tensor::<(D<6>, D<4>)>::randn(0);
    let t = a.truncated_svd::<D<4>>();
    assert_eq!(t.reconstruct().dims().as_slice(), &[6, 4]);
}
