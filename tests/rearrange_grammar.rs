//! The einops grammar of `rearrange!`, `reduce!` and `repeat!`: `...`, `()` and `1`,
//! groups of any size, numbers, against index arithmetic; and the same patterns on traced
//! `Var`s, their gradients checked by finite differences.

use shapecheck::autodiff::{Param, Tape};
use shapecheck::prelude::*;

shapecheck::dim!(
    pub Batch = 2;
    pub Chan = 3;
    pub H = 4;
    pub W = 6;
    pub HW = 24;
    pub H2 = 2;
    pub W3 = 3;
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
fn ellipsis_keeps_leading_and_middle_dims_typed() {
    let x = ramp::<(Batch, Chan, H, W)>();
    let flat: Tensor<(Batch, Chan, HW)> = rearrange!(x, "... h w -> ... (h w)");
    assert_eq!(flat.as_slice(), x.as_slice());
    // The ellipsis in the middle, and moved to the end.
    let y = rearrange!(x, "b ... w -> w b ...");
    let _: &Tensor<(W, Batch, Chan, H)> = &y;
    assert_eq!(y[[5, 1, 2, 3]], x[[1, 2, 3, 5]]);
    // `...` standing for no dims at all.
    let z = rearrange!(x, "b c h w ... -> ... w h c b");
    let _: &Tensor<(W, H, Chan, Batch)> = &z;
    assert_eq!(z[[1, 2, 0, 1]], x[[1, 0, 2, 1]]);
    // On a strided input.
    let t = x.permute((A3, A2, A1, A0)); // (W, H, Chan, Batch)
    let back = rearrange!(t, "... c b -> b c ...");
    let _: &Tensor<(Batch, Chan, W, H)> = &back;
    assert_eq!(back[[1, 2, 5, 3]], x[[1, 2, 3, 5]]);
}

#[test]
fn anonymous_axes_add_and_remove_size_one_dims() {
    let x = ramp::<(H, W)>();
    let y = rearrange!(x, "h w -> () h 1 w ()");
    let _: &Tensor<(D<1>, H, D<1>, W, D<1>)> = &y;
    assert_eq!(y.as_slice(), x.as_slice());
    let back = rearrange!(y, "1 h () w 1 -> w h");
    let _: &Tensor<(W, H)> = &back;
    assert_eq!(back[[5, 3]], x[[3, 5]]);
    // Inside a group, a 1 changes nothing.
    let g: Tensor<(HW,)> = rearrange!(x, "h w -> (1 h w 1)");
    assert_eq!(g.as_slice(), x.as_slice());
}

#[test]
fn groups_of_any_size_check_their_product() {
    let x = ramp::<(Batch, HW)>();
    // (h2 a w3 c): 2 × 2 × 3 × 2 = 24.
    let y = rearrange!(x, "b (h2 a w3 c) -> c w3 a h2 b", h2 = H2, a = D<2>, w3 = W3, c = D<2>);
    let _: &Tensor<(D<2>, W3, D<2>, H2, Batch)> = &y;
    for (i2, i_a, i3, i_c) in [(1, 0, 2, 1), (0, 1, 1, 0), (1, 1, 0, 1)] {
        let flat = ((i2 * 2 + i_a) * 3 + i3) * 2 + i_c;
        assert_eq!(y[[i_c, i3, i_a, i2, 1]], x[[1, flat]]);
    }
    // Merged back in another order: three names into one group.
    let z: Tensor<(Batch, HW)> = rearrange!(y, "c w3 a h2 b -> b (c w3 h2 a)");
    let (c, w3, h2, a) = (1, 2, 1, 0);
    assert_eq!(
        z[[1, ((c * 3 + w3) * 2 + h2) * 2 + a]],
        x[[1, ((h2 * 2 + a) * 3 + w3) * 2 + c]]
    );
}

#[test]
fn reductions_over_named_numbered_and_ellipsis_axes() {
    let x = ramp::<(Batch, Chan, H, W)>();
    // 2 × 2 max pooling.
    let pooled = reduce!(x, "b c (h 2) (w 2) -> b c h w", max, h = H2, w = W3);
    let _: &Tensor<(Batch, Chan, H2, W3)> = &pooled;
    assert_eq!(pooled[[1, 2, 1, 2]], x[[1, 2, 3, 5]]);
    let avg = reduce!(x, "b c (h 2) (w 2) -> b c h w", mean, h = H2, w = W3);
    let want = (x[[0, 1, 2, 2]] + x[[0, 1, 2, 3]] + x[[0, 1, 3, 2]] + x[[0, 1, 3, 3]]) / 4.0;
    assert_eq!(avg[[0, 1, 1, 1]], want);
    let per_channel = reduce!(x, "b c ... -> c", sum);
    let _: &Tensor<(Chan,)> = &per_channel;
    let mut want = 0.0;
    for b in 0..2 {
        for h in 0..4 {
            for w in 0..6 {
                want += x[[b, 2, h, w]];
            }
        }
    }
    assert_eq!(per_channel[[2]], want);
    let kept = reduce!(x, "b c h w -> b () h 1", min);
    let _: &Tensor<(Batch, D<1>, H, D<1>)> = &kept;
    assert_eq!(kept[[1, 0, 2, 0]], x[[1, 0, 2, 0]]);
    let small = Tensor::<(D<2>, D<3>)>::from_vec(vec![1., 2., 3., 4., 5., 6.]).unwrap();
    assert_eq!(reduce!(small, "a b -> a", prod).as_slice(), &[6., 120.]);
    assert_eq!(reduce!(small, "a b -> b", sum).as_slice(), &[5., 7., 9.]);
    // NaN propagates through max and min.
    let nan = Tensor::<(D<1>, D<3>)>::from_vec(vec![1., f32::NAN, 3.]).unwrap();
    assert!(reduce!(nan, "a b -> a", max)[[0]].is_nan());
    assert!(reduce!(nan, "a b -> a", min)[[0]].is_nan());
}

#[test]
fn repeat_adds_axes_and_upsamples() {
    let x = ramp::<(H2, W3)>();
    let b: Tensor<(Batch, H2, W3)> = repeat!(x, "h w -> b h w", b = Batch);
    assert_eq!(b[[1, 1, 2]], x[[1, 2]]);
    let up = repeat!(x, "h w -> (h 2) (w 2)", h = H2, w = W3);
    let _: &Tensor<(H, W)> = &up;
    assert_eq!(up[[3, 4]], x[[1, 2]]);
    assert_eq!(up[[2, 5]], x[[1, 2]]);
    let rgb = repeat!(x, "h w -> h w 3");
    let _: &Tensor<(H2, W3, D<3>)> = &rgb;
    assert_eq!(rgb[[1, 2, 2]], x[[1, 2]]);
    let lead = repeat!(x, "... w -> ... (w c)", c = D<2>);
    let _: &Tensor<(H2, W)> = &lead;
    assert_eq!(lead[[1, 5]], x[[1, 2]]);
}

#[test]
fn runtime_dims_pass_through_plain_axes_and_ellipsis() {
    let x = Tensor::<(Tokens, Chan, H)>::from_vec_with(
        (Tokens::new(5), Chan, H),
        (0..60).map(|i| i as f32).collect(),
    )
    .unwrap();
    let y = rearrange!(x, "t ... h -> h ... t");
    assert_eq!(y.shape().0, H);
    assert_eq!(y[[3, 2, 4]], x[[4, 2, 3]]);
    let s = reduce!(x, "t ... -> t", sum);
    assert_eq!(s.shape().0.size(), 5);
    let r = repeat!(x, "t c h -> t c h 2");
    assert_eq!(r[[4, 2, 3, 1]], x[[4, 2, 3]]);
}

/// Central differences of `f` at `x`, element by element, against `grad`.
fn check_grad<S: StaticShape>(
    x: &Tensor<S, f64>,
    grad: &Tensor<S, f64>,
    f: impl Fn(&Tensor<S, f64>) -> f64,
) {
    let eps = 1e-6;
    for i in 0..x.len() {
        let (mut p, mut m) = (x.clone(), x.clone());
        p.as_mut_slice()[i] += eps;
        m.as_mut_slice()[i] -= eps;
        let fd = (f(&p) - f(&m)) / (2.0 * eps);
        let g = grad.as_slice()[i];
        assert!(
            (fd - g).abs() < 1e-6 * (1.0 + g.abs()),
            "element {i}: {fd} vs {g}"
        );
    }
}

/// A fixed weighting so that every output element has its own gradient.
fn weights<S: StaticShape>() -> Tensor<S, f64> {
    let n = S::default().num_elements();
    Tensor::<S, f64>::from_vec((0..n).map(|k| ((k * 5) % 7) as f64 - 2.5).collect()).unwrap()
}

#[test]
fn traced_patterns_have_finite_difference_gradients() {
    let x0 = Tensor::<(Batch, Chan, H, W), f64>::randn(3);
    let p = Param::new(x0.clone());

    // rearrange with an ellipsis and anonymous axes.
    let w1 = weights::<(D<1>, W, Batch, Chan, H)>();
    let f1 = |x: &Tensor<(Batch, Chan, H, W), f64>| {
        let y = rearrange!(x, "b ... w -> () w b ...");
        (&y * &w1).sum_all()
    };
    let tape = Tape::new();
    let y = rearrange!(tape.param(&p), "b ... w -> () w b ...");
    let g = (&y * &tape.constant(w1.clone())).sum_all().backward();
    check_grad(&x0, &g.of(&p).unwrap().to_tensor(), f1);

    // reduce with each traced reduction.
    let w2 = weights::<(Batch, H2, W3)>();
    macro_rules! reduction {
        ($op:ident) => {{
            let f = |x: &Tensor<(Batch, Chan, H, W), f64>| {
                let y = reduce!(x, "b c (h 2) (w 2) -> b h w", $op, h = H2, w = W3);
                (&y * &w2).sum_all()
            };
            let tape = Tape::new();
            let y = reduce!(
                tape.param(&p),
                "b c (h 2) (w 2) -> b h w",
                $op,
                h = H2,
                w = W3
            );
            let g = (&y * &tape.constant(w2.clone())).sum_all().backward();
            check_grad(&x0, &g.of(&p).unwrap().to_tensor(), f);
        }};
    }
    reduction!(sum);
    reduction!(mean);
    reduction!(max);
    reduction!(min);

    // repeat: the copies' gradients add up.
    let w3 = weights::<(Batch, D<2>, Chan, H, W)>();
    let f3 = |x: &Tensor<(Batch, Chan, H, W), f64>| {
        let y = repeat!(x, "b ... -> b r ...", r = D<2>);
        (&y * &w3).sum_all()
    };
    let tape = Tape::new();
    let y = repeat!(tape.param(&p), "b ... -> b r ...", r = D<2>);
    let g = (&y * &tape.constant(w3.clone())).sum_all().backward();
    check_grad(&x0, &g.of(&p).unwrap().to_tensor(), f3);
}
