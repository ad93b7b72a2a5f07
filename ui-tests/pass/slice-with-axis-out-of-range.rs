use shapecheck::prelude::*;

dim!(pub Seq = 4; pub DModel = 8);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    let y: TensorView<(Seq, Dyn)> = x.slice_with(A1, 0..2);
    assert_eq!(y.dims().as_slice(), &[4, 2]);
}
