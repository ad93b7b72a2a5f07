use shapecheck::prelude::*;

dim!(pub H = 4; pub W = 6);

fn main() {
    let x = Tensor::<(H, W)>::zeros();
    let y = reduce!(x, "h w -> h", mean);
    let _: &Tensor<(H,)> = &y;
}
