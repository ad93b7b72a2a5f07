//! Linear, Embedding, FeedForward, the multi-head layout and the KV cache, against direct
//! computations.

mod common;

use common::assert_close;
use shapecheck::nn::attention::{attention_masked, AttentionMask};
use shapecheck::nn::kv_cache::KvCache;
use shapecheck::nn::{
    embedding::Embedding,
    ffn::{Activation, FeedForward},
    linear::Linear,
};
use shapecheck::ops::activations::gelu;
use shapecheck::prelude::*;

dim!(pub DIn = 7);
dim!(pub DOut = 5);
dim!(pub Seq);
dim!(pub Batch);
dim!(pub Vocab = 11);
dim!(pub Heads = 3);
dim!(pub HeadDim = 4);
dim!(pub DModel = 12);
dim!(pub Ctx);

/// x·Wᵀ + b by loops, row by row over the flattened leading dims.
fn linear_ref(x: &[f32], w: &Tensor<(DOut, DIn)>, b: Option<&Tensor<(DOut,)>>) -> Vec<f32> {
    common::linear_ref(x, w.as_slice(), b.map(|b| b.as_slice()), 7, 5)
}

#[test]
fn linear_matches_x_times_w_transposed_plus_bias_for_every_rank_and_layout() {
    let w = Tensor::<(DOut, DIn)>::randn(1);
    let b = Tensor::<(DOut,)>::randn(2);
    let lin = Linear::new(w.clone(), Some(b.clone()));
    let plain = Linear::new(w.clone(), None);

    let v = Tensor::<(DIn,)>::randn(3);
    assert_close(
        lin.forward(&v).as_slice(),
        &linear_ref(v.as_slice(), &w, Some(&b)),
        1e-5,
        1e-5,
    );

    let x = Tensor::<(Seq, DIn)>::randn_with((Seq::new(9), DIn), 4);
    let y: Tensor<(Seq, DOut)> = lin.forward(&x);
    assert_close(
        y.as_slice(),
        &linear_ref(x.as_slice(), &w, Some(&b)),
        1e-5,
        1e-5,
    );
    assert_close(
        plain.forward(&x).as_slice(),
        &linear_ref(x.as_slice(), &w, None),
        1e-5,
        1e-5,
    );

    let x3 = Tensor::<(Batch, Seq, DIn)>::randn_with((Batch::new(2), Seq::new(3), DIn), 5);
    let y3: Tensor<(Batch, Seq, DOut)> = lin.forward(&x3);
    assert_close(
        y3.as_slice(),
        &linear_ref(x3.as_slice(), &w, Some(&b)),
        1e-5,
        1e-5,
    );

    // A permuted input whose leading axes do not collapse: (Seq, Batch, DIn) read from a
    // (Batch, Seq, DIn) buffer.
    let p = x3.permute((A1, A0, A2));
    let yp = lin.forward(&p);
    assert_close(
        yp.as_slice(),
        &linear_ref(&p.to_vec(), &w, Some(&b)),
        1e-5,
        1e-5,
    );
    // A transposed 2-D input (columns strided).
    let xt = Tensor::<(DIn, Seq)>::randn_with((DIn, Seq::new(4)), 6);
    let yt = lin.forward(&xt.t());
    assert_close(
        yt.as_slice(),
        &linear_ref(&xt.t().to_vec(), &w, Some(&b)),
        1e-5,
        1e-5,
    );
}

/// Few rows through a wide layer — the shape of a transformer layer on one sentence — with
/// and without bias (the bias is the β = 1 accumulation of the product), against loops.
#[test]
fn linear_on_a_few_rows_of_a_wide_layer_matches_loops() {
    for (rows, din, dout) in [(1, 384, 9), (19, 384, 13), (5, 33, 4), (48, 40, 6)] {
        let lin = Linear::<Dyn, Dyn>::init_with((Dyn::new(din), Dyn::new(dout)), true, 7);
        let plain = Linear::new(lin.weight().clone(), None);
        let x = Tensor::<(Seq, Dyn)>::randn_with((Seq::new(rows), Dyn::new(din)), 8);
        let (w, b) = (lin.weight(), lin.bias().expect("has a bias"));
        for (layer, with_bias) in [(&lin, true), (&plain, false)] {
            let y = layer.forward(&x);
            let bias = with_bias.then(|| b.as_slice());
            let want = common::linear_ref(x.as_slice(), w.as_slice(), bias, din, dout);
            assert_close(y.as_slice(), &want, 1e-5, 1e-5);
        }
    }
}

/// A `Linear` split over threads (by columns on a few rows, by rows on many) gives the same
/// bits as on one thread, with and without bias.
#[test]
fn linear_results_do_not_depend_on_threads() {
    for (rows, din, dout) in [(19, 384, 1541), (200, 384, 383)] {
        for bias in [true, false] {
            let lin = Linear::<Dyn, Dyn>::init_with((Dyn::new(din), Dyn::new(dout)), bias, 9);
            let x = Tensor::<(Seq, Dyn)>::randn_with((Seq::new(rows), Dyn::new(din)), 10);
            let serial = shapecheck::with_threads(1, || lin.forward(&x));
            let parallel = shapecheck::with_threads(2, || lin.forward(&x));
            assert_eq!(serial, parallel, "{rows}×{din}→{dout}, bias: {bias}");
        }
    }
}

#[test]
fn linear_runtime_width_mismatch_is_an_error() {
    let lin = Linear::<Dyn, Dyn>::init_with((Dyn::new(4), Dyn::new(3)), true, 0);
    let x = Tensor::<(Seq, Dyn)>::zeros_with((Seq::new(2), Dyn::new(5)));
    let err = lin.try_forward(&x).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Linear::forward: cannot combine input (Seq=2, Dyn=5) with weight (Dyn=3, Dyn=4): \
         the input has width 5 and the weight 4"
    );
    let bad_bias = Tensor::<(Dyn,)>::zeros_with((Dyn::new(2),));
    let w = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(3), Dyn::new(4)));
    assert!(Linear::try_new(w, Some(bad_bias)).is_err());
}

#[test]
fn embedding_gathers_rows_and_rejects_bad_ids() {
    let table = Tensor::<(Vocab, DOut)>::randn(7);
    let e = Embedding::new(table.clone());
    let ids = [3u32, 0, 10, 3];
    let x = e.try_forward_with(Seq::new(4), &ids).unwrap();
    for (p, &id) in ids.iter().enumerate() {
        for j in 0..5 {
            assert_eq!(x[[p, j]], table[[id as usize, j]]);
        }
    }
    let err = e.try_forward_with(Seq::new(2), &[1u32, 11]).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("id 11 at position 1 is out of range for a table of 11 rows"),
        "{err}"
    );
    let err = e.try_forward_with(Seq::new(1), &[-1i64]).unwrap_err();
    assert!(
        err.to_string()
            .contains("id (negative or too large) at position 0"),
        "{err}"
    );
    let err = e.try_forward_with(Seq::new(3), &[1u32, 2]).unwrap_err();
    assert!(
        err.to_string().ends_with("2 ids for a sequence dim of 3"),
        "{err}"
    );
    let s: Tensor<(D<2>, DOut)> = e.try_forward(&[1usize, 2]).unwrap();
    assert_eq!(s[[1, 4]], table[[2, 4]]);
}

#[test]
fn feed_forward_is_down_of_gelu_of_up() {
    dim!(pub DFf = 9);
    let up = Linear::<DIn, DFf>::init(true, 1);
    let down = Linear::<DFf, DIn>::init(true, 2);
    let ffn = FeedForward::new(up.clone(), down.clone(), Activation::Gelu);
    let x = Tensor::<(Seq, DIn)>::randn_with((Seq::new(3), DIn), 3);
    let h = up.forward(&x).map(gelu);
    let want = down.forward(&h);
    assert_eq!(ffn.forward(&x).as_slice(), want.as_slice());
    let relu = FeedForward::new(up, down, Activation::Relu);
    assert_ne!(relu.forward(&x).as_slice(), want.as_slice());
}

#[test]
fn heads_split_as_views_and_merge_back_with_a_batch() {
    let x = Tensor::<(Batch, Seq, DModel)>::from_fn_with(
        (Batch::new(2), Seq::new(3), DModel),
        |[b, s, c]| (100 * b + 10 * s + c) as f32,
    );
    let h = x.split_heads::<Heads, HeadDim>();
    assert_eq!(h.dims().as_slice(), &[2, 3, 3, 4]);
    assert_eq!(h.get([1, 2, 0, 3]), Some(&(100.0 + 0.0 + 8.0 + 3.0)));
    let back: Tensor<(Batch, Seq, DModel)> = h.merge_heads::<DModel>();
    assert_eq!(back.as_slice(), x.as_slice());
}

#[test]
fn decoding_token_by_token_or_in_chunks_equals_full_causal_attention() {
    dim!(pub Len = 45);
    let q = Tensor::<(Heads, Len, HeadDim)>::randn(10);
    let k = Tensor::<(Heads, Len, HeadDim)>::randn(11);
    let v = Tensor::<(Heads, Len, HeadDim)>::randn(12);
    let full = attention_masked(&q, &k, &v, &AttentionMask::causal(0));
    for chunk in [1, 4, 45] {
        let mut cache = KvCache::<Heads, Ctx, HeadDim>::with_capacity(3);
        let mut t = 0;
        while t < 45 {
            let n = chunk.min(45 - t);
            let o = cache
                .attend(
                    &q.slice_with(A1, t..t + n),
                    &k.slice_with(A1, t..t + n),
                    &v.slice_with(A1, t..t + n),
                )
                .unwrap();
            for h in 0..3 {
                for i in 0..n {
                    let got: Vec<f32> = (0..4).map(|d| o[[h, i, d]]).collect();
                    let want: Vec<f32> = (0..4).map(|d| full[[h, t + i, d]]).collect();
                    assert_close(&got, &want, 0.0, 2e-6);
                }
            }
            t += n;
        }
        assert_eq!(cache.len(), 45);
        assert_eq!(cache.keys().to_vec(), k.as_slice());
        assert_eq!(cache.values().to_vec(), v.as_slice());
    }
    let mut cache = KvCache::<Heads, Ctx, HeadDim>::new();
    let err = cache
        .try_append(&k.slice_with(A1, 0..2), &v.slice_with(A1, 0..3))
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("k holds 2 positions and v holds 3"),
        "{err}"
    );
    assert!(cache.is_empty());
}

#[test]
fn kv_cache_append_panics_with_the_message_of_try_append() {
    let k = Tensor::<(Heads, Seq, HeadDim)>::randn_with((Heads, Seq::new(2), HeadDim), 1);
    let v = Tensor::<(Heads, Seq, HeadDim)>::randn_with((Heads, Seq::new(3), HeadDim), 2);
    let mut cache = KvCache::<Heads, Ctx, HeadDim>::new();
    let err = cache.try_append(&k, &v).unwrap_err();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.append(&k, &v)))
        .unwrap_err();
    assert_eq!(panic.downcast_ref::<String>(), Some(&err.to_string()));
    assert!(cache.is_empty());
    cache.append(&k, &k);
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.keys().to_vec(), k.as_slice());
}

#[test]
fn embedding_plain_forms_panic_with_the_try_forms_message() {
    let table = Tensor::<(Vocab, DOut)>::randn(8);
    let e = Embedding::new(table.clone());
    let s: Tensor<(D<2>, DOut)> = e.forward(&[4u32, 1]);
    assert_eq!(s[[0, 3]], table[[4, 3]]);
    let x = e.forward_with(Seq::new(1), &[10u8]);
    assert_eq!(x[[0, 2]], table[[10, 2]]);

    let err = e.try_forward_with(Seq::new(2), &[1u32, 11]).unwrap_err();
    let caught = std::panic::catch_unwind(|| e.forward_with(Seq::new(2), &[1u32, 11])).unwrap_err();
    assert_eq!(caught.downcast_ref::<String>(), Some(&err.to_string()));
    let err = e.try_forward::<D<3>, _>(&[1u32]).unwrap_err();
    let caught = std::panic::catch_unwind(|| e.forward::<D<3>, _>(&[1u32])).unwrap_err();
    assert_eq!(caught.downcast_ref::<String>(), Some(&err.to_string()));
}
