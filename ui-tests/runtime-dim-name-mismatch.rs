use shapecheck::prelude::*;

dim!(pub Batch);
dim!(pub Tokens);
dim!(pub DModel = 8);

fn embed(x: &Tensor<(Batch, DModel)>) -> usize {
    x.len()
}

fn main() {
    let x = Tensor::<(Tokens, DModel)>::zeros_with((Tokens::new(5), DModel));
    embed(&x);
}
