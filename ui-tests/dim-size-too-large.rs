shapecheck::dim!(pub Vocab = 18446744073709551616);

fn main() {}
