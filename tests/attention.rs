//! Scaled dot-product attention against a naive f64 reference: random sizes (across the
//! 256-row query blocks and 256-key online-softmax blocks), masks (bias, causal with offset,
//! padding, fully masked rows), strided heads, thread counts, runtime errors.

mod common;

use common::{assert_close, attention_ref, prop_close};
use proptest::prelude::*;
use shapecheck::nn::attention::{
    attention, attention_masked, attention_weights, try_attention, try_attention_masked,
    AttentionMask,
};
use shapecheck::prelude::*;

dim!(pub Heads = 3);
dim!(pub HeadDim = 8);
dim!(pub DModel = 24);
dim!(pub Sq);
dim!(pub Sk);
dim!(pub Batch);

type Items = Tensor<(Dyn, Sq, Dyn)>;

fn items(n: usize, s: usize, d: usize, seed: u64) -> Items {
    Tensor::randn_with((Dyn::new(n), Sq::new(s), Dyn::new(d)), seed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Sizes straddle the 128-row mark; the long-keys test below crosses the 256-row blocks; k and v use a different sequence dim type
    /// from q only through runtime sizes (both are `Sq` here: the keys are the same dim).
    /// Head dims from 32 up send the scores of up to 48 queries through the in-place
    /// dot-product kernel (scale as α), those below 32 through matrixmultiply.
    #[test]
    fn matches_naive_reference(
        n in 1usize..4, sq in 1usize..150, dk in 1usize..70, dv in 1usize..20,
        causal in proptest::option::of(0usize..5), seed in 0u64..1000,
    ) {
        let (q, k, v) = (items(n, sq, dk, seed), items(n, sq, dk, seed + 1), items(n, sq, dv, seed + 2));
        let mask = match causal {
            Some(off) => AttentionMask::causal(off),
            None => AttentionMask::none(),
        };
        let got = attention_masked(&q, &k, &v, &mask);
        let want = attention_ref(q.as_slice(), k.as_slice(), v.as_slice(), (n, sq, sq, dk, dv), |_, _, _| 0.0, causal);
        prop_close(got.as_slice(), &want, 2e-5, 2e-5)?;
    }
}

/// Sq ≠ Sk, more queries than one query block (256) and more keys than one online-softmax
/// block (256) so the running maximum and sum
/// are rescaled, and scores large enough that an unshifted exp would overflow.
#[test]
fn long_keys_use_the_online_softmax_exactly() {
    let (n, sq, sk, dk, dv) = (2, 270, 1300, 16, 12);
    let q = Tensor::<(Dyn, Sq, Dyn)>::randn_with((Dyn::new(n), Sq::new(sq), Dyn::new(dk)), 1)
        .map(|x| 12.0 * x);
    let k = Tensor::<(Dyn, Sk, Dyn)>::randn_with((Dyn::new(n), Sk::new(sk), Dyn::new(dk)), 2)
        .map(|x| 12.0 * x);
    let v = Tensor::<(Dyn, Sk, Dyn)>::randn_with((Dyn::new(n), Sk::new(sk), Dyn::new(dv)), 3);
    for causal in [None, Some(600)] {
        let mask = match causal {
            Some(off) => AttentionMask::causal(off),
            None => AttentionMask::none(),
        };
        let got = attention_masked(&q, &k, &v, &mask);
        assert!(got.as_slice().iter().all(|x| x.is_finite()));
        let want = attention_ref(
            q.as_slice(),
            k.as_slice(),
            v.as_slice(),
            (n, sq, sk, dk, dv),
            |_, _, _| 0.0,
            causal,
        );
        assert_close(got.as_slice(), &want, 2e-4, 2e-4);
    }
}

#[test]
fn the_scale_is_one_over_root_dk() {
    // q·k = 4 for key 0 and 0 for key 1 with dk = 4: weights softmax([4/2, 0]).
    let q = Tensor::<(D<1>, D<4>)>::from_vec(vec![1., 1., 1., 1.]).unwrap();
    let k = Tensor::<(D<2>, D<4>)>::from_vec(vec![1., 1., 1., 1., 0., 0., 0., 0.]).unwrap();
    let v = Tensor::<(D<2>, D<1>)>::from_vec(vec![1., 0.]).unwrap();
    let o = attention(&q, &k, &v);
    let want = 2f32.exp() / (2f32.exp() + 1.0);
    assert!((o[[0, 0]] - want).abs() < 1e-6, "{} vs {want}", o[[0, 0]]);
}

#[test]
fn bias_masks_broadcast_and_fully_masked_rows_give_zeros() {
    let (sq, sk) = (5, 7);
    let q = Tensor::<(Heads, Sq, HeadDim)>::randn_with((Heads, Sq::new(sq), HeadDim), 1);
    let k = Tensor::<(Heads, Sk, HeadDim)>::randn_with((Heads, Sk::new(sk), HeadDim), 2);
    let v = Tensor::<(Heads, Sk, HeadDim)>::randn_with((Heads, Sk::new(sk), HeadDim), 3);
    // One (Sq, Sk) mask for every head: row 2 fully masked, and a finite bias elsewhere.
    let bias = Tensor::<(Sq, Sk)>::from_fn_with((Sq::new(sq), Sk::new(sk)), |[i, j]| {
        if i == 2 || (i + j) % 3 == 0 {
            f32::NEG_INFINITY
        } else {
            0.25 * j as f32
        }
    });
    let mask = AttentionMask::from_bias(bias.clone());
    let got = attention_masked(&q, &k, &v, &mask);
    let want = attention_ref(
        q.as_slice(),
        k.as_slice(),
        v.as_slice(),
        (3, sq, sk, 8, 8),
        |_, i, j| bias[[i, j]] as f64,
        None,
    );
    assert_close(got.as_slice(), &want, 2e-5, 2e-5);
    for h in 0..3 {
        for d in 0..8 {
            assert_eq!(got[[h, 2, d]], 0.0);
        }
    }
    // The weights are softmax(q·kᵀ/√8 + bias) (the masked row all zero), so rows sum to 1.
    let p = attention_weights(&q, &k, &mask);
    let want = (&(q.matmul(&k.t()) * (1.0 / 8f32.sqrt())) + &bias).softmax::<2>();
    assert_close(p.as_slice(), want.as_slice(), 0.0, 1e-6);
    for h in 0..3 {
        for i in 0..sq {
            let s: f32 = (0..sk).map(|j| p[[h, i, j]]).sum();
            let want = if i == 2 { 0.0 } else { 1.0 };
            assert!((s - want).abs() < 1e-5, "row {i}: {s}");
        }
    }
}

#[test]
fn padding_mask_hides_the_pads_of_each_row() {
    let (b, s) = (Batch::new(3), Sq::new(6));
    let lengths = [6, 2, 4];
    let q = Tensor::<(Batch, Heads, Sq, HeadDim)>::randn_with((b, Heads, s, HeadDim), 4);
    let k = Tensor::<(Batch, Heads, Sq, HeadDim)>::randn_with((b, Heads, s, HeadDim), 5);
    let v = Tensor::<(Batch, Heads, Sq, HeadDim)>::randn_with((b, Heads, s, HeadDim), 6);
    let mask = AttentionMask::try_padding(b, s, &lengths).unwrap();
    // The reference's bias: item (batch row × 3 heads) sees its row's first keys.
    let pad = |item: usize, _: usize, j: usize| {
        if j < lengths[item / 3] {
            0.0
        } else {
            f64::NEG_INFINITY
        }
    };
    let got = attention_masked(&q, &k, &v, &mask);
    let want = attention_ref(
        q.as_slice(),
        k.as_slice(),
        v.as_slice(),
        (9, 6, 6, 8, 8),
        pad,
        None,
    );
    assert_close(got.as_slice(), &want, 2e-5, 2e-5);
    // Changing a padded key or value does not change the result.
    let mut v2 = v.clone();
    v2[[1, 0, 5, 0]] = 1e6;
    assert_eq!(
        attention_masked(&q, &k, &v2, &mask).as_slice(),
        got.as_slice()
    );
    // Padding plus causal.
    let both = AttentionMask::try_padding(b, s, &lengths)
        .unwrap()
        .and_causal(0);
    let got = attention_masked(&q, &k, &v, &both);
    let want = attention_ref(
        q.as_slice(),
        k.as_slice(),
        v.as_slice(),
        (9, 6, 6, 8, 8),
        pad,
        Some(0),
    );
    assert_close(got.as_slice(), &want, 2e-5, 2e-5);
    let err = AttentionMask::<_, f32>::try_padding(b, s, &[6, 7, 1]).unwrap_err();
    assert!(
        err.to_string()
            .contains("a length of 7 exceeds the sequence dim (6)"),
        "{err}"
    );
    let err = AttentionMask::<_, f32>::try_padding(b, s, &[6, 1]).unwrap_err();
    assert!(
        err.to_string().contains("2 lengths for a batch of 3"),
        "{err}"
    );
}

#[test]
fn strided_heads_equal_contiguous_heads_and_threads_do_not_change_results() {
    dim!(pub Seq = 130);
    let x = Tensor::<(Seq, DModel)>::randn(7);
    let y = Tensor::<(Seq, DModel)>::randn(8);
    let (qh, kh) = (
        x.split_heads::<Heads, HeadDim>(),
        y.split_heads::<Heads, HeadDim>(),
    );
    let strided = attention_masked(&qh, &kh, &kh, &AttentionMask::causal(0));
    let (qc, kc) = (qh.to_tensor(), kh.to_tensor());
    let contiguous = attention_masked(&qc, &kc, &kc, &AttentionMask::causal(0));
    assert_eq!(strided.as_slice(), contiguous.as_slice());
    let one = shapecheck::with_threads(1, || {
        attention_masked(&qh, &kh, &kh, &AttentionMask::causal(0))
    });
    assert_eq!(one.as_slice(), strided.as_slice());
    // Merge back: (Heads, Seq, HeadDim) → (Seq, DModel); head h is columns 8h..8h+8.
    let merged: Tensor<(Seq, DModel)> = strided.merge_heads::<DModel>();
    assert_eq!(merged[[17, 8 + 3]], strided[[1, 17, 3]]);
}

#[test]
fn runtime_mismatches_are_errors() {
    let q = items(2, 4, 8, 0);
    let k = items(2, 4, 6, 1);
    let v = items(2, 4, 8, 2);
    let err = try_attention(&q, &k, &v).unwrap_err();
    assert_eq!(
        err.to_string(),
        "attention: cannot combine q (Dyn=2, Sq=4, Dyn=8) with k (Dyn=2, Sq=4, Dyn=6), \
         v (Dyn=2, Sq=4, Dyn=8): q's head dim is 8 and k's is 6"
    );
    let k = items(3, 4, 8, 1);
    let err = try_attention(&q, &k, &v).unwrap_err();
    assert!(err.to_string().ends_with("the batch dims differ"), "{err}");
    let k = items(2, 4, 8, 1);
    let v = items(2, 5, 8, 2);
    let err = try_attention(&q, &k, &v).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("k holds 4 positions and v holds 5"),
        "{err}"
    );
    let v = items(2, 4, 8, 2);
    let bias = Tensor::<(Sq, Sq)>::zeros_with((Sq::new(3), Sq::new(4)));
    let err = try_attention_masked(&q, &k, &v, &AttentionMask::from_bias(bias)).unwrap_err();
    assert!(
        err.to_string()
            .contains("the mask does not broadcast to the scores"),
        "{err}"
    );
}

#[test]
fn f64_attention_matches_the_reference_closely() {
    let q = Tensor::<(D<9>, D<5>), f64>::randn(1);
    let k = Tensor::<(D<11>, D<5>), f64>::randn(2);
    let v = Tensor::<(D<11>, D<3>), f64>::randn(3);
    let o = attention(&q, &k, &v);
    let p = (q.matmul(&k.t()) * (1.0 / 5f64.sqrt())).softmax::<1>();
    let want = p.matmul(&v);
    assert_close(o.as_slice(), want.as_slice(), 0.0, 1e-13);
}

#[test]
fn weights_and_padding_have_try_forms_and_panicking_forms_with_the_same_message() {
    use shapecheck::nn::attention::try_attention_weights;
    let q = items(2, 4, 8, 0);
    let k = items(2, 4, 6, 1);
    let err = try_attention_weights(&q, &k, &AttentionMask::none()).unwrap_err();
    assert!(
        err.to_string().ends_with("q's head dim is 8 and k's is 6"),
        "{err}"
    );
    let panic =
        std::panic::catch_unwind(|| attention_weights(&q, &k, &AttentionMask::none())).unwrap_err();
    assert_eq!(panic.downcast_ref::<String>(), Some(&err.to_string()));
    let k = items(2, 4, 8, 1);
    let ok = try_attention_weights(&q, &k, &AttentionMask::none()).unwrap();
    assert_eq!(
        ok.as_slice(),
        attention_weights(&q, &k, &AttentionMask::none()).as_slice()
    );

    let (b, s) = (Batch::new(2), Sq::new(3));
    let err = AttentionMask::<_, f32>::try_padding(b, s, &[1, 4]).unwrap_err();
    let panic =
        std::panic::catch_unwind(|| AttentionMask::<_, f32>::padding(b, s, &[1, 4])).unwrap_err();
    assert_eq!(panic.downcast_ref::<String>(), Some(&err.to_string()));
    let plain = AttentionMask::<_, f32>::padding(b, s, &[1, 3]);
    let tried = AttentionMask::<_, f32>::try_padding(b, s, &[1, 3]).unwrap();
    assert_eq!(
        plain.bias().unwrap().as_slice(),
        tried.bias().unwrap().as_slice()
    );
}
