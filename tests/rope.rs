//! RoPE: the relative-position property, norm preservation, identity at position 0, an
//! independent complex-number reference for both layouts, the permutation relating the
//! layouts, position interpolation, the offset form, the base, and the runtime checks.

mod common;

use common::{dot, max_abs_diff as max_diff};
use proptest::prelude::*;
use shapecheck::nn::rope::{Rope, RopeLayout};
use shapecheck::prelude::*;

const LAYOUTS: [RopeLayout; 2] = [RopeLayout::HalfSplit, RopeLayout::Interleaved];

fn layout() -> impl Strategy<Value = RopeLayout> {
    prop_oneof![Just(RopeLayout::HalfSplit), Just(RopeLayout::Interleaved)]
}

/// The indices of the two features of pair `j` in a head of width `d`.
fn pair(layout: RopeLayout, d: usize, j: usize) -> (usize, usize) {
    match layout {
        RopeLayout::HalfSplit => (j, j + d / 2),
        RopeLayout::Interleaved => (2 * j, 2 * j + 1),
    }
}

/// One head vector at (possibly fractional) position `pos`, by the definition: the pair
/// `(x_a, x_b)` read as `x_a + i·x_b`, multiplied by `e^{i·pos·θ_j}` with
/// `θ_j = exp(−(2j/d)·ln base)`.
fn reference_row(x: &[f64], pos: f64, base: f64, layout: RopeLayout) -> Vec<f64> {
    let d = x.len();
    let mut out = x.to_vec();
    for j in 0..d / 2 {
        let theta = (-(2.0 * j as f64 / d as f64) * base.ln()).exp();
        let (re_w, im_w) = ((pos * theta).cos(), (pos * theta).sin());
        let (a, b) = pair(layout, d, j);
        let (re, im) = (x[a], x[b]);
        out[a] = re * re_w - im * im_w;
        out[b] = re * im_w + im * re_w;
    }
    out
}

/// The reference over a row-major `(lead…, seq, d)` buffer, row `i` at `(offset + i) / scale`.
fn reference(
    x: &[f64],
    seq: usize,
    d: usize,
    offset: usize,
    base: f64,
    scale: f64,
    layout: RopeLayout,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for (r, v) in x.chunks_exact(d).enumerate() {
        let pos = (offset + r % seq) as f64 / scale;
        out.extend(reference_row(v, pos, base, layout));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// ⟨R(q, m), R(k, n)⟩ = ⟨R(q, m + t), R(k, n + t)⟩: the score sees only m − n.
    #[test]
    fn scores_depend_only_on_the_relative_position(
        layout in layout(),
        pairs in 1usize..=16,
        seed in any::<u64>(),
        m in 0usize..4096,
        n in 0usize..4096,
        t in 0usize..4096,
        base in prop_oneof![Just(10_000.0), Just(500_000.0), 2.0f64..1e6],
        scale in prop_oneof![Just(1.0), 0.5f64..8.0],
    ) {
        let d = 2 * pairs;
        let rope = Rope::new_with(Dyn::new(d), layout).unwrap().base(base).interpolation(scale);
        let shape = (Dyn::new(1), Dyn::new(d));
        let q = Tensor::<_, f64>::randn_with(shape, seed);
        let k = Tensor::<_, f64>::randn_with(shape, seed ^ 0x9e37_79b9);
        let s1 = dot(rope.rotate(&q, m).as_slice(), rope.rotate(&k, n).as_slice());
        let s2 = dot(rope.rotate(&q, m + t).as_slice(), rope.rotate(&k, n + t).as_slice());
        let size = dot(q.as_slice(), q.as_slice()).sqrt() * dot(k.as_slice(), k.as_slice()).sqrt();
        prop_assert!((s1 - s2).abs() <= 1e-10 * size.max(1.0), "{s1} vs {s2}");
        // At m = n the rotations cancel: the score is the unrotated one.
        if m == n {
            let s0 = dot(q.as_slice(), k.as_slice());
            prop_assert!((s1 - s0).abs() <= 1e-10 * size.max(1.0));
        }
    }

    /// A rotation keeps the norm of every head vector.
    #[test]
    fn rotation_preserves_norms(
        layout in layout(),
        pairs in 1usize..=12,
        seq in 1usize..6,
        offset in 0usize..100_000,
        seed in any::<u64>(),
    ) {
        let d = 2 * pairs;
        let rope = Rope::new_with(Dyn::new(d), layout).unwrap();
        let x = Tensor::<_, f64>::randn_with((D::<2>, D::<3>, Dyn::new(seq), Dyn::new(d)), seed);
        let y = rope.rotate(&x, offset);
        for (a, b) in x.as_slice().chunks(d).zip(y.as_slice().chunks(d)) {
            let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
            prop_assert!((na - nb).abs() <= 1e-12 * na.max(1.0));
        }
    }

    /// Against the complex-number reference, on 2-, 3- and 4-D shapes, f64 and f32.
    #[test]
    fn matches_the_complex_reference(
        layout in layout(),
        pairs in 1usize..=16,
        lead in 1usize..4,
        seq in 1usize..7,
        offset in 0usize..5000,
        seed in any::<u64>(),
        base in prop_oneof![Just(10_000.0), 10.0f64..1e6],
        scale in prop_oneof![Just(1.0), 1.0f64..16.0],
    ) {
        let d = 2 * pairs;
        let rope = Rope::new_with(Dyn::new(d), layout).unwrap().base(base).interpolation(scale);
        let want = |x: &[f64]| reference(x, seq, d, offset, base, scale, layout);

        let x2 = Tensor::<_, f64>::randn_with((Dyn::new(seq), Dyn::new(d)), seed);
        prop_assert!(max_diff(rope.rotate(&x2, offset).as_slice(), &want(x2.as_slice())) < 1e-11);

        let x3 = Tensor::<_, f64>::randn_with((Dyn::new(lead), Dyn::new(seq), Dyn::new(d)), seed);
        let mut y3 = x3.clone();
        rope.apply(&mut y3, offset);
        prop_assert!(max_diff(y3.as_slice(), &want(x3.as_slice())) < 1e-11);

        let shape4 = (D::<2>, Dyn::new(lead), Dyn::new(seq), Dyn::new(d));
        let x4 = Tensor::<_, f32>::randn_with(shape4, seed);
        let x4_64: Vec<f64> = x4.as_slice().iter().map(|&v| v as f64).collect();
        prop_assert!(max_diff(rope.rotate(&x4, offset).as_slice(), &want(&x4_64)) < 1e-5);
    }

    /// Interleaved RoPE is HalfSplit RoPE conjugated by the permutation that sends feature
    /// 2j to j and 2j + 1 to j + d/2.
    #[test]
    fn layouts_differ_by_a_permutation_of_features(
        pairs in 1usize..=16,
        seq in 1usize..6,
        offset in 0usize..10_000,
        seed in any::<u64>(),
    ) {
        let d = 2 * pairs;
        let half = Rope::new_with(Dyn::new(d), RopeLayout::HalfSplit).unwrap();
        let inter = Rope::new_with(Dyn::new(d), RopeLayout::Interleaved).unwrap();
        let shape = (Dyn::new(seq), Dyn::new(d));
        let x = Tensor::<_, f64>::randn_with(shape, seed);
        // y[j] = x[2j], y[j + d/2] = x[2j + 1]
        let to_half = |v: &[f64]| -> Vec<f64> {
            v.chunks(d)
                .flat_map(|r| (0..d).map(move |k| if k < d / 2 { r[2 * k] } else { r[2 * (k - d / 2) + 1] }))
                .collect()
        };
        let y = Tensor::from_vec_with(shape, to_half(x.as_slice())).unwrap();
        let via_half = half.rotate(&y, offset);
        let direct = inter.rotate(&x, offset);
        prop_assert_eq!(via_half.as_slice(), &to_half(direct.as_slice())[..]);
    }
}

#[test]
fn position_zero_is_the_identity() {
    dim!(pub Heads = 3; pub HeadDim = 16);
    dim!(pub Seq);
    let x = Tensor::<(Heads, Seq, HeadDim)>::randn_with((Heads, Seq::new(1), HeadDim), 7);
    for layout in LAYOUTS {
        for rope in [
            Rope::<HeadDim>::new(layout),
            Rope::<HeadDim>::new(layout)
                .base(500_000.0)
                .interpolation(4.0),
        ] {
            let mut y = x.clone();
            rope.apply(&mut y, 0);
            assert_eq!(y.as_slice(), x.as_slice());
        }
    }
    // Later positions do move the vector.
    let y = Rope::<HeadDim>::new(RopeLayout::HalfSplit).rotate(&x, 1);
    assert!(
        max_diff(
            y.as_slice(),
            &x.as_slice().iter().map(|&v| v as f64).collect::<Vec<_>>()
        ) > 0.1
    );
}

#[test]
fn interpolation_by_s_rotates_m_as_m_over_s() {
    dim!(pub Seq = 1; pub HeadDim = 32);
    let x = Tensor::<(Seq, HeadDim), f64>::randn(3);
    for layout in LAYOUTS {
        let plain = Rope::<HeadDim>::new(layout);
        for s in [2.0, 4.0, 8.0] {
            let stretched = Rope::<HeadDim>::new(layout).interpolation(s);
            assert_eq!(stretched.interpolation_scale(), s);
            for m in [0usize, 8, 24, 4096] {
                // m / s is a whole position: exactly plain RoPE there.
                let a = stretched.rotate(&x, m);
                let b = plain.rotate(&x, (m as f64 / s) as usize);
                assert_eq!(a.as_slice(), b.as_slice(), "s = {s}, m = {m}");
            }
            // Between whole positions: the reference at the fractional position.
            for m in [1usize, 3, 4097] {
                let a = stretched.rotate(&x, m);
                let want = reference_row(x.as_slice(), m as f64 / s, 10_000.0, layout);
                assert!(max_diff(a.as_slice(), &want) < 1e-12);
            }
        }
    }
}

#[test]
fn offset_equals_slicing_a_longer_sequence() {
    dim!(pub Batch = 2; pub Heads = 3; pub HeadDim = 8);
    dim!(pub Seq);
    let long = Tensor::<(Batch, Heads, Seq, HeadDim), f64>::randn_with(
        (Batch, Heads, Seq::new(10), HeadDim),
        11,
    );
    for layout in LAYOUTS {
        let rope = Rope::<HeadDim>::new(layout).base(1000.0);
        let whole = rope.rotate(&long, 0);
        // Positions 4..10 rotated as their own (strided) view starting at offset 4.
        let tail = rope.rotate(&long.slice_with(A2, 4..), 4);
        assert_eq!(
            tail.as_slice(),
            whole.slice_with(A2, 4..).to_vec().as_slice()
        );
        // A KV cache appending one token at position 9 does the same.
        let mut last = long.slice_with(A2, 9..).to_tensor();
        rope.apply(&mut last, 9);
        assert_eq!(
            last.as_slice(),
            whole.slice_with(A2, 9..).to_vec().as_slice()
        );
    }
}

#[test]
fn the_base_sets_the_frequencies() {
    dim!(pub Seq = 5; pub HeadDim = 16);
    let x = Tensor::<(Seq, HeadDim), f64>::randn(5);
    for layout in LAYOUTS {
        let default = Rope::<HeadDim>::new(layout);
        assert_eq!(default.base_frequency(), 10_000.0);
        let llama3 = Rope::<HeadDim>::new(layout).base(500_000.0);
        assert_eq!(llama3.layout(), layout);
        let (a, b) = (default.rotate(&x, 3), llama3.rotate(&x, 3));
        // Pair 0 turns at θ_0 = 1 whatever the base; the others turn slower with a larger base.
        let (p0a, p0b) = pair(layout, 16, 0);
        assert_eq!([a[[2, p0a]], a[[2, p0b]]], [b[[2, p0a]], b[[2, p0b]]]);
        assert!(max_diff(a.as_slice(), b.as_slice()) > 1e-3);
        for (rope, base) in [(&default, 10_000.0), (&llama3, 500_000.0)] {
            let want = reference(x.as_slice(), 5, 16, 3, base, 1.0, layout);
            assert!(max_diff(rope.rotate(&x, 3).as_slice(), &want) < 1e-12);
            for (j, &theta) in rope.frequencies().iter().enumerate() {
                assert!((theta - base.powf(-(2.0 * j as f64) / 16.0)).abs() < 1e-15);
            }
        }
    }
}

#[test]
fn rotate_reads_strided_views() {
    dim!(pub Seq = 6; pub Heads = 2; pub HeadDim = 8);
    // (Seq, Heads, HeadDim) as it comes out of a projection, viewed as (Heads, Seq, HeadDim).
    let x = Tensor::<(Seq, Heads, HeadDim)>::randn(9);
    let v = x.permute((A1, A0, A2));
    for layout in LAYOUTS {
        let rope = Rope::<HeadDim>::new(layout);
        let mut copied = v.to_tensor();
        rope.apply(&mut copied, 2);
        assert_eq!(rope.rotate(&v, 2).as_slice(), copied.as_slice());
    }
}

#[test]
fn runtime_head_dims_are_checked() {
    let err = Rope::new_with(Dyn::new(7), RopeLayout::HalfSplit).unwrap_err();
    assert_eq!(
        err.to_string(),
        "rope: cannot combine head dim Dyn=7 with pairs of features: the head dim must have \
         an even size to be rotated in pairs, found 7"
    );
    dim!(pub HeadDim);
    let rope = Rope::new_with(HeadDim::new(8), RopeLayout::Interleaved).unwrap();
    assert_eq!(rope.head_dim().size(), 8);
    let mut x = Tensor::<(D<3>, HeadDim)>::zeros_with((D, HeadDim::new(6)));
    let err = rope.try_apply(&mut x, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "rope: cannot combine (3, HeadDim=6) with head dim HeadDim=8: the last axis has size \
         6, the rope was built for 8"
    );
    assert!(rope.try_rotate(&x, 0).is_err());
    let ok = Tensor::<(D<3>, HeadDim)>::ones_with((D, HeadDim::new(8)));
    assert!(rope.try_rotate(&ok, 5).is_ok());
}

#[test]
#[should_panic(expected = "the last axis has size 6, the rope was built for 8")]
fn apply_panics_on_a_head_dim_mismatch() {
    let rope = Rope::new_with(Dyn::new(8), RopeLayout::HalfSplit).unwrap();
    let mut x = Tensor::<(D<3>, Dyn)>::zeros_with((D, Dyn::new(6)));
    rope.apply(&mut x, 0);
}

#[test]
#[should_panic(expected = "the base must be a finite number greater than 0")]
fn a_non_positive_base_is_refused() {
    let _ = Rope::<D<4>>::new(RopeLayout::HalfSplit).base(0.0);
}

#[test]
fn an_empty_sequence_is_left_alone() {
    let rope = Rope::<D<4>>::new(RopeLayout::Interleaved);
    let mut x = Tensor::<(Dyn, D<4>)>::zeros_with((Dyn::new(0), D));
    rope.apply(&mut x, 3);
    assert!(x.is_empty());
}
