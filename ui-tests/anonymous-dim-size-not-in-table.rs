use shapecheck::prelude::*;

fn main() {
    // 1537 is no size a model uses, so `D<N>` does not cover it: name the dim instead.
    let _w = Tensor::<(D<1537>, D<384>)>::zeros();
}
