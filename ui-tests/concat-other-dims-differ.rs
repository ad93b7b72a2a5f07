use shapecheck::prelude::*;

dim!(pub Seq = 4);
dim!(pub DModel = 8);
dim!(pub DHidden = 16);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    let cls = Tensor::<(D<1>, DHidden)>::zeros();
    let _y: Tensor<(D<5>, DModel)> = x.concat(A0, &cls);
}
