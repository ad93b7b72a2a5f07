use shapecheck::prelude::*;

dim!(pub H = 4; pub W = 6);

fn main() {
    let x = Tensor::<(H, W)>::zeros();
    let y = repeat!(x, "h w -> h w c", c = D<2>);
    let _: &Tensor<(H, W, D<2>)> = &y;
}
