use shapecheck::prelude::*;

dim!(pub Batch = 2; pub Heads = 3);

fn main() {
    let a = Tensor::<(Batch, D<4>, D<5>)>::zeros();
    let b = Tensor::<(Batch, D<5>, D<6>)>::zeros();
    let c = einsum!("...ij,...jk->...ik", a, b);
    let _: &Tensor<(Batch, D<4>, D<6>)> = &c;
}
