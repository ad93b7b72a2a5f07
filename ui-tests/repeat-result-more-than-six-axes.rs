use shapecheck::prelude::*;

dim!(pub H = 4; pub W = 6);

fn main() {
    let x = Tensor::<(D<1>, D<1>, D<1>, H, W)>::zeros();
    let _y = repeat!(x, "... -> a b ...", a = D<2>, b = D<3>);
}
