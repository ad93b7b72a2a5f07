use shapecheck::prelude::*;

dim!(pub Seq = 16);
dim!(pub DModel = 8);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    let last_four: TensorView<(D<4>, DModel)> = x.slice::<0, 12, 4>();
    assert_eq!(last_four.offset(), 96);
}
