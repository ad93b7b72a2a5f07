//! Attention with hostile inputs: causal offsets near `usize::MAX`, NaN in q, k or v, +∞
//! scores, and fully masked rows (zeros, the one documented exception) told apart from NaN.

use shapecheck::nn::attention::{attention, attention_masked, attention_weights, AttentionMask};
use shapecheck::prelude::*;

type M = Tensor<(Dyn, Dyn)>;

fn rand(rows: usize, cols: usize, seed: u64) -> M {
    Tensor::randn_with((Dyn::new(rows), Dyn::new(cols)), seed)
}

fn row(t: &M, i: usize) -> &[f32] {
    let w = t.dims()[1];
    &t.as_slice()[i * w..(i + 1) * w]
}

#[test]
fn a_causal_offset_near_usize_max_shows_every_key() {
    // 300 queries: two query blocks, so `i0 + rows + offset` overflows in both.
    let (q, k, v) = (rand(300, 8, 1), rand(270, 8, 2), rand(270, 5, 3));
    let all = attention(&q, &k, &v);
    let all_w = attention_weights(&q, &k, &AttentionMask::none());
    for off in [
        usize::MAX,
        usize::MAX - 1,
        usize::MAX - 299,
        usize::MAX - 300,
    ] {
        let mask = AttentionMask::causal(off);
        assert_eq!(
            attention_masked(&q, &k, &v, &mask).as_slice(),
            all.as_slice(),
            "offset {off}"
        );
        assert_eq!(
            attention_weights(&q, &k, &mask).as_slice(),
            all_w.as_slice(),
            "offset {off}"
        );
        // With a bias too.
        let bias =
            AttentionMask::from_bias(M::zeros_with((Dyn::new(300), Dyn::new(270)))).and_causal(off);
        assert_eq!(
            attention_masked(&q, &k, &v, &bias).as_slice(),
            all.as_slice()
        );
    }
    // Just below the saturation the rule still holds: query i sees key j ≤ i + offset.
    let p = attention_weights(&q, &k, &AttentionMask::causal(0));
    assert_eq!(p.as_slice()[1], 0.0);
    assert!(p.as_slice()[0] == 1.0);
}

#[test]
fn a_nan_in_a_query_makes_its_row_nan_not_zero() {
    let (q, k, v) = (rand(6, 8, 4), rand(7, 8, 5), rand(7, 4, 6));
    let clean = attention(&q, &k, &v);
    let clean_w = attention_weights(&q, &k, &AttentionMask::none());
    for nan_at in [[2, 0], [2, 7]] {
        let mut qn = q.clone();
        qn[nan_at] = f32::NAN;
        let o = attention(&qn, &k, &v);
        let w = attention_weights(&qn, &k, &AttentionMask::none());
        for i in 0..6 {
            if i == 2 {
                assert!(row(&o, i).iter().all(|x| x.is_nan()), "{:?}", row(&o, i));
                assert!(row(&w, i).iter().all(|x| x.is_nan()), "{:?}", row(&w, i));
            } else {
                assert_eq!(row(&o, i), row(&clean, i));
                assert_eq!(row(&w, i), row(&clean_w, i));
            }
        }
    }
    // In f64, batched over heads, across the 256-key blocks: the NaN reaches its row only.
    let q = Tensor::<(D<2>, Dyn, Dyn), f64>::randn_with((D, Dyn::new(3), Dyn::new(4)), 7);
    let k = Tensor::<(D<2>, Dyn, Dyn), f64>::randn_with((D, Dyn::new(600), Dyn::new(4)), 8);
    let mut qn = q.clone();
    qn[[1, 1, 3]] = f64::NAN;
    let o = attention_masked(&qn, &k, &k, &AttentionMask::causal(300));
    let clean = attention_masked(&q, &k, &k, &AttentionMask::causal(300));
    for (idx, (a, b)) in o.as_slice().iter().zip(clean.as_slice()).enumerate() {
        if idx / 4 == 4 {
            assert!(a.is_nan(), "element {idx}");
        } else {
            assert_eq!(a, b, "element {idx}");
        }
    }
}

#[test]
fn nan_in_keys_and_values_propagates_and_a_fully_masked_row_stays_zero() {
    let (q, k, v) = (rand(5, 8, 9), rand(5, 8, 10), rand(5, 3, 11));
    // A NaN key j = 2 under a causal mask: the rows that see it are NaN, the others not.
    let mut kn = k.clone();
    kn[[2, 4]] = f32::NAN;
    let o = attention_masked(&q, &kn, &v, &AttentionMask::causal(0));
    let clean = attention_masked(&q, &k, &v, &AttentionMask::causal(0));
    for i in 0..5 {
        if i >= 2 {
            assert!(row(&o, i).iter().all(|x| x.is_nan()), "row {i}");
        } else {
            assert_eq!(row(&o, i), row(&clean, i));
        }
    }
    // A NaN value v[1, 2]: every output row that weights key 1 is NaN in column 2 only.
    let mut vn = v.clone();
    vn[[1, 2]] = f32::NAN;
    let o = attention(&q, &k, &vn);
    for i in 0..5 {
        assert!(row(&o, i)[2].is_nan());
        assert!(row(&o, i)[..2].iter().all(|x| x.is_finite()));
    }
    // Row 3 fully masked by its bias, with NaN and ∞ in v: zeros, as documented.
    let mut vbad = v.clone();
    vbad[[0, 0]] = f32::NAN;
    vbad[[4, 1]] = f32::INFINITY;
    let bias = M::from_fn_with((Dyn::new(5), Dyn::new(5)), |[i, _]| {
        if i == 3 {
            f32::NEG_INFINITY
        } else {
            0.0
        }
    });
    let mask = AttentionMask::from_bias(bias);
    let o = attention_masked(&q, &k, &vbad, &mask);
    assert_eq!(row(&o, 3), &[0.0, 0.0, 0.0]);
    assert!(row(&o, 2)[0].is_nan()); // a row that sees v's NaN
    let w = attention_weights(&q, &k, &mask);
    assert_eq!(row(&w, 3), &[0.0; 5]);
}

#[test]
fn non_finite_scores_follow_softmax() {
    let (q, k, v) = (rand(4, 8, 12), rand(6, 8, 13), rand(6, 2, 14));
    // Row 0: NaN among −∞ (not a masked row); row 1: +∞; row 2: fully −∞; row 3: ±1e30.
    let ninf = f32::NEG_INFINITY;
    let bias = M::from_vec_with(
        (Dyn::new(4), Dyn::new(6)),
        [
            [f32::NAN, ninf, ninf, ninf, ninf, ninf],
            [f32::INFINITY, 0.0, 0.0, 0.0, ninf, 0.0],
            [ninf; 6],
            [1e30, -1e30, 0.0, 0.0, 0.0, 0.0],
        ]
        .concat(),
    )
    .unwrap();
    let scores = q.matmul(&k.t()) * (1.0 / 8f32.sqrt());
    let want = (&scores + &bias).softmax::<1>();
    let mask = AttentionMask::from_bias(bias);
    let w = attention_weights(&q, &k, &mask);
    let o = attention_masked(&q, &k, &v, &mask);
    for i in [0, 1] {
        assert!(
            row(&w, i).iter().all(|x| x.is_nan()),
            "row {i}: {:?}",
            row(&w, i)
        );
        assert!(row(&want, i).iter().all(|x| x.is_nan()));
        assert!(
            row(&o, i).iter().all(|x| x.is_nan()),
            "row {i}: {:?}",
            row(&o, i)
        );
    }
    assert_eq!(row(&w, 2), &[0.0; 6]);
    assert_eq!(row(&o, 2), &[0.0; 2]);
    assert_eq!(row(&w, 3), &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(row(&o, 3), row(&v, 0));
}
