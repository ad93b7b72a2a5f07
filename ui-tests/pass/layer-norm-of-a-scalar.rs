use shapecheck::prelude::*;

fn main() {
    let x = Tensor::<(D<1>,)>::full(3.0);
    let w = Tensor::<(D<1>,)>::ones();
    let y = x.rms_norm(&w, 0.0);
    assert!((y.as_slice()[0] - 1.0).abs() < 1e-6);
}
