use shapecheck::prelude::*;

dim!(pub Vocab = 151936);

fn main() {
    assert_eq!(Vocab.size(), 151936);
}
