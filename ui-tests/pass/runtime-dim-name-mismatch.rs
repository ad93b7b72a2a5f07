use shapecheck::prelude::*;

dim!(pub Batch);
dim!(pub DModel = 8);

fn embed(x: &Tensor<(Batch, DModel)>) -> usize {
    x.len()
}

fn main() {
    let x = Tensor::<(Batch, DModel)>::zeros_with((Batch::new(5), DModel));
    assert_eq!(embed(&x), 40);
}
