use shapecheck::prelude::*;

dim!(pub Seq = 4; pub DModel = 8);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    let y: TensorView<(Seq, DModel, D<1>)> = x.unsqueeze::<2>();
    assert_eq!(y.dims().as_slice(), &[4, 8, 1]);
}
