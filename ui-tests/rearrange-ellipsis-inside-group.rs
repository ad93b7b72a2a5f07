use shapecheck::prelude::*;

dim!(pub Batch = 2; pub H = 4; pub W = 6);

fn main() {
    let x = Tensor::<(Batch, H, W)>::zeros();
    let _y = rearrange!(x, "... w -> (... w)");
}
