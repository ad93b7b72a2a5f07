use shapecheck::prelude::*;

dim!(pub Emb = 8);

fn main() {
    let v = Tensor::<(D<1>, Emb)>::ones();
    let vt: TensorView<'_, (Emb, D<1>)> = v.t();
    assert_eq!(vt.dims().as_slice(), &[8, 1]);
}
