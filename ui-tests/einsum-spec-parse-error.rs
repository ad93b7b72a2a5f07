use shapecheck::prelude::*;

fn main() {
    let a = Tensor::<(D<2>, D<3>)>::zeros();
    let b = Tensor::<(D<3>, D<4>)>::zeros();
    let _c = einsum!("ij,jk=>ik", a, b);
}
