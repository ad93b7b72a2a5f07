//! `rearrange!`: splitting, permuting and merging axes, checked against index arithmetic,
//! and round trips on random sizes.

use proptest::prelude::*;
use shapecheck::prelude::*;

shapecheck::dim!(
    pub Batch = 2;
    pub Seq = 3;
    pub DModel = 12;
    pub Heads = 4;
    pub HeadDim = 3;
    pub Rows = 6;
    pub Tokens
);

fn ramp<S: StaticShape>() -> Tensor<S> {
    let mut t = Tensor::<S>::zeros();
    for (i, x) in t.as_mut_slice().iter_mut().enumerate() {
        *x = i as f32;
    }
    t
}

#[test]
fn split_heads_and_back() {
    let x = ramp::<(Batch, Seq, DModel)>();
    let h: Tensor<(Batch, Heads, Seq, HeadDim)> = rearrange!(x, "b s (h d) -> b h s d", h = Heads);
    for b in 0..2 {
        for hh in 0..4 {
            for s in 0..3 {
                for d in 0..3 {
                    assert_eq!(h[[b, hh, s, d]], x[[b, s, hh * 3 + d]]);
                }
            }
        }
    }
    let back: Tensor<(Batch, Seq, DModel)> = rearrange!(h, "b h s d -> b s (h d)");
    assert_eq!(back, x);
    // The same split with both factors named, compared with split + permute.
    let h2 = rearrange!(x, "b s (h d) -> b h s d", h = Heads, d = HeadDim);
    let by_ops = x
        .clone()
        .split::<Heads, HeadDim>()
        .permute((A0, A2, A1, A3))
        .to_tensor();
    assert_eq!(h2, by_ops);
}

#[test]
fn unflatten_and_flatten() {
    let flat = ramp::<(Rows, DModel)>();
    let y: Tensor<(Batch, Seq, DModel)> = rearrange!(flat, "(b s) d -> b s d", b = Batch);
    assert_eq!(y.as_slice(), flat.as_slice());
    let again: Tensor<(Rows, DModel)> = rearrange!(y, "b s d -> (b s) d");
    assert_eq!(again, flat);
    // Merging in the other order interleaves.
    let swapped: Tensor<(Rows, DModel)> = rearrange!(y, "b s d -> (s b) d");
    assert_eq!(swapped[[1, 0]], y[[1, 0, 0]]);
    assert_eq!(swapped[[2, 5]], y[[0, 1, 5]]);
}

#[test]
fn plain_permutation_and_views() {
    let x = ramp::<(Batch, Seq, DModel)>();
    let p = rearrange!(x, "b s d -> d b s");
    let _: &Tensor<(DModel, Batch, Seq)> = &p;
    assert_eq!(p, x.permute((A2, A0, A1)).to_tensor());
    // A strided view as input, by reference.
    let t = x.permute((A1, A0, A2));
    let q = rearrange!(&t, "s b d -> b s d");
    assert_eq!(q, x);
}

#[test]
fn runtime_dims_pass_through() {
    let x = Tensor::<(Tokens, DModel)>::randn_with((Tokens::new(5), DModel), 3);
    let h: Tensor<(Heads, Tokens, HeadDim)> = rearrange!(x, "t (h d) -> h t d", h = Heads);
    assert_eq!(h.dims().as_slice(), &[4, 5, 3]);
    let back: Tensor<(Tokens, DModel)> = rearrange!(h, "h t d -> t (h d)");
    assert_eq!(back, x);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn round_trips_on_random_sizes(b in 1usize..4, s in 1usize..6, seed in 0u64..1000) {
        // Runtime outer dims, static groups.
        let x = Tensor::<(Dyn, Dyn, DModel)>::randn_with((Dyn::new(b), Dyn::new(s), DModel), seed);
        let h: Tensor<(Dyn, Heads, Dyn, HeadDim)> = rearrange!(x, "b s (h d) -> b h s d", h = Heads);
        prop_assert_eq!(h.dims().to_vec(), vec![b, 4, s, 3]);
        for bi in 0..b {
            for si in 0..s {
                for j in 0..12 {
                    prop_assert_eq!(h[[bi, j / 3, si, j % 3]], x[[bi, si, j]]);
                }
            }
        }
        let back: Tensor<(Dyn, Dyn, DModel)> = rearrange!(h, "b h s d -> b s (h d)");
        prop_assert_eq!(&back, &x);
        let swapped = rearrange!(x, "b s d -> s b d");
        let twice = rearrange!(swapped, "s b d -> b s d");
        prop_assert_eq!(&twice, &x);
    }
}
