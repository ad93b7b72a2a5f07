use shapecheck::prelude::*;

dim!(pub Width = 1537);

fn main() {
    let w = Tensor::<(Width, D<384>)>::zeros();
    assert_eq!(w.dims().as_slice(), &[1537, 384]);
    // The widths and vocabularies of common checkpoints are covered by `D<N>` itself.
    let ffn = Tensor::<(D<4>, D<1536>)>::zeros();
    assert_eq!(ffn.len(), 4 * 1536);
    assert_eq!(<D<11008> as StaticDim>::SIZE, 11008);
    assert_eq!(<D<151936> as StaticDim>::SIZE, 151936);
}
