use shapecheck::prelude::*;

dim!(pub DModel = 8);

fn main() {
    let pooled = Tensor::<(D<1>, DModel)>::zeros();
    let v: TensorView<(DModel,)> = pooled.squeeze::<0>();
    assert_eq!(v.len(), 8);
}
