use shapecheck::prelude::*;

dim!(pub H = 4; pub W = 6);

fn main() {
    let x = Tensor::<(H, W)>::zeros();
    let _y = reduce!(x, "h w -> h", median);
}
