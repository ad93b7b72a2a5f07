use shapecheck::prelude::*;

fn main() {
    let a = Tensor::<(D<3>, D<3>)>::ones();
    let d = einsum!("ii->i", a); // the diagonal
    assert_eq!(d.as_slice(), &[1.0; 3]);
}
