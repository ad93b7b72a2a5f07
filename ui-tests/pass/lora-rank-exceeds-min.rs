// A rank of at most min(DIn, DOut).
use shapecheck::prelude::*;

dim!(pub DIn = 64);
dim!(pub DOut = 32);
dim!(pub Rank = 16);

fn main() {
    let lora = LoRA::<DIn, DOut, Rank>::init(16.0, 1);
    assert_eq!(lora.rank(), 16);
}
