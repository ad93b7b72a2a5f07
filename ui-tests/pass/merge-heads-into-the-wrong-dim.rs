// Twin of merge-heads-into-the-wrong-dim: the heads merge into DModel = 12 × 32.
use shapecheck::prelude::*;

dim!(pub Heads = 12);
dim!(pub Seq = 4);
dim!(pub HeadDim = 32);
dim!(pub DModel = 384);

fn main() {
    let h = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let x: Tensor<(Seq, DModel)> = h.merge_heads::<DModel>();
    assert_eq!(x.dims().as_slice(), &[4, 384]);
}
