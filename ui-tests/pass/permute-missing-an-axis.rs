use shapecheck::prelude::*;

dim!(pub Seq = 4; pub Heads = 2; pub HeadDim = 8);

fn main() {
    let x = Tensor::<(Seq, Heads, HeadDim)>::zeros();
    let y: TensorView<(Heads, Seq, HeadDim)> = x.permute((A1, A0, A2));
    assert_eq!(y.dims().as_slice(), &[2, 4, 8]);
}
