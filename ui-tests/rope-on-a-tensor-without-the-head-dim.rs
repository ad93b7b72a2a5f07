use shapecheck::nn::rope::{Rope, RopeLayout};
use shapecheck::prelude::*;

dim!(pub Seq = 4; pub HeadDim = 8; pub DModel = 32);

fn main() {
    let rope = Rope::<HeadDim>::new(RopeLayout::HalfSplit);
    // RoPE rotates heads: split (Seq, DModel) into (Heads, Seq, HeadDim) first.
    let mut x = Tensor::<(Seq, DModel)>::zeros();
    rope.apply(&mut x, 0);
}
