use shapecheck::prelude::*;

dim!(pub H = 4; pub W = 6);

fn main() {
    let p = Param::new(Tensor::<(H, W)>::ones());
    let tape = Tape::new();
    let _y = reduce!(tape.param(&p), "h w -> h", prod);
}
