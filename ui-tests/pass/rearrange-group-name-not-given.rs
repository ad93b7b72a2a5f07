use shapecheck::prelude::*;

dim!(pub Rows = 6; pub W = 4);

fn main() {
    let x = Tensor::<(Rows, W)>::zeros();
    let _y: Tensor<(Rows, W)> = rearrange!(x, "(a b) w -> (b a) w", a = D<2>, b = D<3>);
}
