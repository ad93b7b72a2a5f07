use shapecheck::prelude::*;

dim!(pub H = 4; pub W = 6);

fn main() {
    let x = Tensor::<(D<1>, D<1>, H, W)>::zeros();
    let y = repeat!(x, "... -> a b ...", a = D<2>, b = D<3>);
    let _: &Tensor<(D<2>, D<3>, D<1>, D<1>, H, W)> = &y;
}
