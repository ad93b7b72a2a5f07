use shapecheck::prelude::*;

fn main() {
    let a = Tensor::<(D<3>, D<3>)>::zeros();
    let _d = einsum!("ii->ii", a);
}
