use shapecheck::prelude::*;

dim!(pub H = 4; pub W = 6);

fn main() {
    let x = Tensor::<(H, W)>::zeros();
    let y = einsum!("...ij->...ji", x);
    let _: &Tensor<(W, H)> = &y;
}
