use shapecheck::prelude::*;

dim!(pub H = 4; pub W = 6);

fn main() {
    let x = Tensor::<(H, D<1>)>::zeros();
    let y = rearrange!(x, "h 1 -> h");
    let _: &Tensor<(H,)> = &y;
}
