use shapecheck::nn::rope::{Rope, RopeLayout};
use shapecheck::prelude::*;

dim!(pub Seq = 4; pub HeadDim = 8; pub Heads = 4; pub DModel = 32);

fn main() {
    let rope = Rope::<HeadDim>::new(RopeLayout::HalfSplit);
    let x = Tensor::<(Seq, DModel)>::zeros();
    let mut h: Tensor<(Heads, Seq, HeadDim)> = x.split_heads::<Heads, HeadDim>().to_tensor();
    rope.apply(&mut h, 0);
    assert_eq!(h.len(), 128);
}
