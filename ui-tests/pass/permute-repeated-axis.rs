use shapecheck::prelude::*;

dim!(pub Seq = 4);
dim!(pub Heads = 2);
dim!(pub HeadDim = 8);

fn main() {
    let x = Tensor::<(Seq, Heads, HeadDim)>::zeros();
    let y = x.permute((A1, A0, A2));
    assert_eq!(format!("{:?}", y.shape()), "(Heads=2, Seq=4, HeadDim=8)");
}
