use shapecheck::prelude::*;

dim!(pub Batch);

fn main() {
    let x = Tensor::<(D<3>, D<4>)>::zeros();
    let y: Tensor<(Batch, D<4>)> = x.try_reshape_with((Batch::new(3), D)).unwrap();
    assert_eq!(y.dims().as_slice(), &[3, 4]);
}
