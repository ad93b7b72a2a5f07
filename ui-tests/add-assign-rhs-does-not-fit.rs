use shapecheck::prelude::*;

dim!(pub Seq = 16);
dim!(pub DModel = 32);

fn main() {
    let mut x = Tensor::<(DModel,)>::zeros();
    let residual = Tensor::<(Seq, DModel)>::ones();
    // `+=` cannot grow `x` to the shape of the right side.
    x += &residual;
}
