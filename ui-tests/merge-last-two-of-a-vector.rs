use shapecheck::prelude::*;

dim!(pub DModel = 6);

fn main() {
    let x = Tensor::<(DModel,)>::zeros();
    // A vector has one axis: there are no last two to merge.
    let _m = x.merge::<DModel>();
}
