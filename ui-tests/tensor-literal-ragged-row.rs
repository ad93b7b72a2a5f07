use shapecheck::prelude::*;

fn main() {
    let _x = tensor!([[1., 2., 3.], [4., 5.]]);
}
