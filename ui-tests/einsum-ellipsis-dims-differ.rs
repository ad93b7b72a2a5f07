use shapecheck::prelude::*;

dim!(pub Batch = 2; pub Heads = 3);

fn main() {
    let a = Tensor::<(Batch, D<4>, D<5>)>::zeros();
    let b = Tensor::<(Heads, D<5>, D<6>)>::zeros();
    let _c = einsum!("...ij,...jk->...ik", a, b);
}
