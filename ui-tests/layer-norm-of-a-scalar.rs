use shapecheck::prelude::*;

fn main() {
    let x = Tensor::<()>::zeros();
    let w = Tensor::<(D<1>,)>::ones();
    // A rank-0 tensor has no last axis to normalise along.
    let _y = x.rms_norm(&w, 1e-5);
}
