// RoPE rotates pairs of features: a head dim of 63 has one left over.
use shapecheck::nn::rope::{Rope, RopeLayout};
use shapecheck::prelude::*;

dim!(pub HeadDim = 63);

fn main() {
    let _rope = Rope::<HeadDim>::new(RopeLayout::HalfSplit);
}
