use shapecheck::prelude::*;

dim!(pub Rows = 24; pub W = 6);

fn main() {
    let x = Tensor::<(Rows, W)>::zeros();
    let y = rearrange!(x, "(a b c) w -> a b c w", a = D<2>, b = D<3>, c = D<4>);
    let _: &Tensor<(D<2>, D<3>, D<4>, W)> = &y;
}
