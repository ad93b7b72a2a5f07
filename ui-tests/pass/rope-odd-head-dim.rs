// Twin of rope-odd-head-dim: an even head dim.
use shapecheck::nn::rope::{Rope, RopeLayout};
use shapecheck::prelude::*;

dim!(pub HeadDim = 64);
dim!(pub Seq = 4);

fn main() {
    let rope = Rope::<HeadDim>::new(RopeLayout::HalfSplit);
    let mut x = Tensor::<(Seq, HeadDim)>::ones();
    rope.apply(&mut x, 0);
    assert_eq!(x[[0, 5]], 1.0); // position 0 is not rotated
}
