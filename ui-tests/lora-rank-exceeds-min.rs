// A rank-48 adapter for a 32 × 64 weight: the rank can be at most min(64, 32) = 32.
use shapecheck::prelude::*;

dim!(pub DIn = 64);
dim!(pub DOut = 32);
dim!(pub Rank = 48);

fn main() {
    let _lora = LoRA::<DIn, DOut, Rank>::init(16.0, 1);
}
