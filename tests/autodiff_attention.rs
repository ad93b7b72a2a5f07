//! Traced attention (`shapecheck::autodiff::attention`) and the traced head layout
//! (`split_heads` / `merge_heads` on `Var`), verified three ways:
//!
//! - central finite differences in f64 (tests/common/gradcheck.rs) on random runtime shapes
//!   (one head, heads, batch × heads), masks (none, causal with an offset, padding with
//!   empty rows, a constant bias with −∞ entries, a traced bias broadcast over heads) and
//!   strided inputs (q permuted from `(Sq, H, Dk)` as `split_heads` lays it out, k read
//!   through `.t()`, v permuted);
//! - against attention composed from primitive traced ops (`matmul`, `scale`, `+` bias,
//!   `softmax`) on the same inputs, at sequence lengths that cross the backward's 128-row
//!   blocks and split a head over several units;
//! - against PyTorch autograd (`scaled_dot_product_attention`), from the committed fixture
//!   tests/fixtures/autodiff/attention.safetensors (scripts/golden_attention.py).
//!
//! | check | tolerance |
//! |---|---|
//! | finite differences (q, k, v, traced bias, heads) | `1e-6·(1 + |numeric|)` |
//! | composed primitive ops, f64 | `1e-10·(1 + |x|)` per element |
//! | forward value vs `nn::attention` | bit-equal |
//! | PyTorch f64 | `1e-10·|x| + 1e-12` |
//! | PyTorch f32 | `1e-5·|x| + 5e-7` (the absolute floor is for elements near 0: they are |
//! | | sums of up to 130 terms of size ~1, each rounded to f32 (ulp ~1e-7), whose errors do |
//! | | not cancel with the value; the largest seen is under 2e-7) |

use proptest::prelude::*;
use shapecheck::autodiff::attention::{
    attention, attention_biased, attention_masked, try_attention, try_attention_masked,
};
use shapecheck::nn::attention::{self as plain, AttentionMask};
use shapecheck::prelude::*;

mod common;

use common::gradcheck::*;

type D3 = (Dyn, Dyn, Dyn);

dim!(pub Heads = 2; pub HeadDim = 3; pub DModel = 6);

/// A causal mask (offset `off`) as a constant additive bias, for the composed reference.
fn causal_bias(sq: usize, sk: usize, off: usize) -> Tensor<(Dyn, Dyn), f64> {
    Tensor::from_fn_with(d2(sq, sk), |[i, j]| {
        if j > i + off {
            f64::NEG_INFINITY
        } else {
            0.0
        }
    })
}

/// A random bias `(Sq, Sk)` with about one entry in four −∞ (rows may be fully masked).
fn holey_bias(sq: usize, sk: usize, seed: u64) -> Tensor<(Dyn, Dyn), f64> {
    let r = Tensor::<(Dyn, Dyn), f64>::randn_with(d2(sq, sk), seed);
    Tensor::from_fn_with(d2(sq, sk), |[i, j]| {
        let x = r[[i, j]];
        if x > 0.67 {
            f64::NEG_INFINITY
        } else {
            x
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Heads `(H, S, D)` with every mask kind and strided q, k, v.
    #[test]
    fn gradcheck_heads(h in 1usize..3, sq in 1usize..5, sk in 1usize..5, dk in 1usize..4, dv in 1usize..4,
                       kind in 0usize..4, off in 0usize..3, seed in 0u64..1000) {
        let q = param(d3(sq, h, dk), seed); // permuted to (H, Sq, Dk), as split_heads lays it out
        let k = param(d3(h, dk, sk), seed + 1); // read as kᵀ
        let v = param(d3(sk, h, dv), seed + 2); // permuted to (H, Sk, Dv)
        let bias = param(d2(sq, sk), seed + 3);
        let const_bias = holey_bias(sq, sk, seed + 4);
        let eval = run(|tape| {
            let qv = tape.param(&q.borrow()).permute((A1, A0, A2));
            let kv = tape.param(&k.borrow()).t();
            let vv = tape.param(&v.borrow()).permute((A1, A0, A2));
            let o = match kind {
                0 => attention(&qv, &kv, &vv),
                1 => attention_masked(&qv, &kv, &vv, &AttentionMask::causal(off)),
                2 => attention_masked(&qv, &kv, &vv, &AttentionMask::from_bias(const_bias.clone())),
                _ => attention_biased(&qv, &kv, &vv, &tape.param(&bias.borrow()), off.checked_sub(1)),
            };
            weigh(&o)
        });
        check("attention q", &q, &eval, 1e-6);
        check("attention k", &k, &eval, 1e-6);
        check("attention v", &v, &eval, 1e-6);
        if kind == 3 {
            check("attention bias", &bias, &eval, 1e-6);
        }
    }

    /// One head `(S, D)`, causal with an offset; and batch × heads `(B, H, S, D)` under a
    /// padding mask whose lengths include 0 (fully masked rows).
    #[test]
    fn gradcheck_single_head_and_padded_batch(sq in 1usize..5, sk in 1usize..5, d in 1usize..4,
                                              off in 0usize..3, lens in prop::array::uniform2(0usize..5), seed in 0u64..1000) {
        let q = param(d2(sq, d), seed);
        let kv = param(d2(sk, d), seed + 1);
        let eval = run(|tape| {
            let kvv = tape.param(&kv.borrow());
            weigh(&attention_masked(&tape.param(&q.borrow()), &kvv, &kvv, &AttentionMask::causal(off)))
        });
        check("single head q", &q, &eval, 1e-6);
        check("single head k = v", &kv, &eval, 1e-6);

        let (b, h) = (Dyn::new(2), Dyn::new(2));
        let lens = lens.map(|l| l.min(sk));
        let x = param((b, h, Dyn::new(sq), Dyn::new(d)), seed + 2);
        let y = param((b, h, Dyn::new(sk), Dyn::new(d)), seed + 3);
        let mask = AttentionMask::padding(b, Dyn::new(sk), &lens);
        let eval = run(|tape| {
            let yv = tape.param(&y.borrow());
            weigh(&attention_masked(&tape.param(&x.borrow()), &yv, &yv, &mask))
        });
        check("padded q", &x, &eval, 1e-6);
        check("padded k = v", &y, &eval, 1e-6);
    }

    /// The traced head layout: split, a per-head op, merge.
    #[test]
    fn gradcheck_split_and_merge_heads(s in 1usize..4, batch in any::<bool>()) {
        if batch {
            let x = param((Dyn::new(2), Dyn::new(s), DModel), 30);
            let eval = run(|tape| {
                let hs = tape.param(&x.borrow()).split_heads::<Heads, HeadDim>();
                weigh(&attention(&hs, &hs, &hs.exp()).merge_heads::<DModel>())
            });
            check("split/merge (B, S, C)", &x, &eval, 1e-6);
        } else {
            let x = param((Dyn::new(s), DModel), 31);
            let eval = run(|tape| {
                let hs = tape.param(&x.borrow()).split_heads::<Heads, HeadDim>();
                weigh(&hs.tanh().merge_heads::<DModel>())
            });
            check("split/merge (S, C)", &x, &eval, 1e-6);
        }
    }
}

/// The primitive ops' attention: `softmax(q·kᵀ·scale + bias)·v`.
fn composed<'t>(
    q: &Var<'t, D3, f64>,
    k: &Var<'t, D3, f64>,
    v: &Var<'t, D3, f64>,
    bias: &Var<'t, (Dyn, Dyn), f64>,
) -> Var<'t, D3, f64> {
    let scale = 1.0 / (q.shape().2.size() as f64).sqrt();
    (&q.matmul(&k.t()).scale(scale) + bias)
        .softmax::<2>()
        .matmul(v)
}

fn assert_rel(what: &str, a: &[f64], b: &[f64], tol: f64) {
    common::within(a, b, |_, e| tol * (1.0 + e.abs())).unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Traced attention against the composed primitive ops on the same inputs: values and all
/// gradients (`kind`: 0 no mask, 1 causal with offset `off`, 2 a traced random bias).
fn compare_with_composed(
    h: usize,
    sq: usize,
    sk: usize,
    d: usize,
    kind: usize,
    off: usize,
    seed: u64,
) {
    let q = Param::new(Tensor::<D3, f64>::randn_with(d3(h, sq, d), seed));
    let k = Param::new(Tensor::<D3, f64>::randn_with(d3(h, sk, d), seed + 1));
    let v = Param::new(Tensor::<D3, f64>::randn_with(d3(h, sk, d), seed + 2));
    let bias = match kind {
        0 => Tensor::<(Dyn, Dyn), f64>::zeros_with(d2(sq, sk)),
        1 => causal_bias(sq, sk, off),
        _ => Tensor::randn_with(d2(sq, sk), seed + 3),
    };
    let bp = Param::new(bias.clone());
    let r = Tensor::<D3, f64>::randn_with(d3(h, sq, d), seed + 4);
    let (want, wg) = {
        let tape = Tape::new();
        let o = composed(
            &tape.param(&q),
            &tape.param(&k),
            &tape.param(&v),
            &tape.param(&bp),
        );
        (
            o.to_tensor(),
            (&o * &tape.constant(r.clone())).sum_all().backward(),
        )
    };
    let tape = Tape::new();
    let (qv, kv, vv) = (tape.param(&q), tape.param(&k), tape.param(&v));
    let o = match kind {
        0 => attention(&qv, &kv, &vv),
        1 => attention_masked(&qv, &kv, &vv, &AttentionMask::causal(off)),
        _ => attention_biased(&qv, &kv, &vv, &tape.param(&bp), None),
    };
    let g = (&o * &tape.constant(r)).sum_all().backward();
    assert_rel(
        "value",
        o.value().as_contiguous_slice().unwrap(),
        want.as_slice(),
        1e-10,
    );
    for (name, p) in [("q", &q), ("k", &k), ("v", &v)] {
        assert_rel(
            name,
            &g.of(p).unwrap().to_vec(),
            &wg.of(p).unwrap().to_vec(),
            1e-10,
        );
    }
    if kind == 2 {
        assert_rel(
            "bias",
            &g.of(&bp).unwrap().to_vec(),
            &wg.of(&bp).unwrap().to_vec(),
            1e-10,
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// Long sequences (several 128-row blocks, a head split over units, ragged last
    /// blocks) against the composed primitive ops.
    #[test]
    fn matches_composed_primitive_ops(h in 1usize..3, sq in 1usize..300, sk in 1usize..300, d in 1usize..9,
                                      kind in 0usize..3, off in 0usize..40, seed in 0u64..1000) {
        compare_with_composed(h, sq, sk, d, kind, off, seed);
    }
}

#[test]
fn matches_composed_primitive_ops_across_blocks_and_units() {
    // One head of 3 key blocks (3 units, dQ summed from partials), ragged blocks; then
    // 3 heads (one unit each) with more keys than queries; then a causal offset that skips
    // whole query blocks.
    for kind in 0..3 {
        compare_with_composed(1, 300, 260, 8, kind, 0, 40 + kind as u64);
        compare_with_composed(3, 129, 513, 4, kind, 7, 50 + kind as u64);
    }
    compare_with_composed(2, 400, 280, 5, 1, 130, 60);
}

#[test]
fn gradients_do_not_depend_on_the_thread_count() {
    let shape = d3(1, 700, 16);
    let q = Param::new(Tensor::<D3, f32>::randn_with(shape, 1));
    let kv = Param::new(Tensor::<D3, f32>::randn_with(shape, 2));
    let grads = || {
        let tape = Tape::new();
        let (qv, kvv) = (tape.param(&q), tape.param(&kv));
        attention_masked(&qv, &kvv, &kvv, &AttentionMask::causal(0))
            .sum_all()
            .backward()
    };
    let (one, many) = (
        shapecheck::with_threads(1, grads),
        shapecheck::with_threads(4, grads),
    );
    for p in [&q, &kv] {
        assert_eq!(one.of(p).unwrap().to_vec(), many.of(p).unwrap().to_vec());
    }
}

#[test]
fn forward_value_is_the_tensor_ops_bit_for_bit() {
    dim!(pub Batch; pub Heads = 3; pub Seq = 300; pub HeadDim = 16);
    let b = Batch::new(2);
    let shape = (b, Heads, Seq, HeadDim);
    let q = Param::new(Tensor::<_>::randn_with(shape, 1));
    let k = Tensor::<_>::randn_with(shape, 2);
    let v = Tensor::<_>::randn_with(shape, 3);
    let mask = AttentionMask::padding(b, Seq, &[300, 170]).and_causal(5);
    let tape = Tape::new();
    let (qv, kv, vv) = (
        tape.param(&q),
        tape.constant(k.clone()),
        tape.constant(v.clone()),
    );
    let traced = attention_masked(&qv, &kv, &vv, &mask);
    let want = plain::attention_masked(q.value(), &k, &v, &mask);
    assert_eq!(traced.value().to_vec(), want.as_slice());
    // Untraced (no log-sum-exps kept, nothing recorded): the same value.
    let before = tape.len();
    let untraced = attention(&qv.detach(), &kv, &vv);
    assert_eq!(tape.len(), before);
    assert_eq!(
        untraced.value().to_vec(),
        plain::attention(q.value(), &k, &v).as_slice()
    );
}

#[test]
fn fully_masked_rows_give_zero_gradients_even_next_to_nan_values() {
    // Batch row 1 has length 0: every query of it sees no key.
    let (b, h, s, d) = (Dyn::new(2), Dyn::new(2), Dyn::new(4), Dyn::new(3));
    let q = Param::new(Tensor::<_, f64>::randn_with((b, h, s, d), 1));
    let mut vt = Tensor::<_, f64>::randn_with((b, h, s, d), 2);
    vt[[1, 0, 2, 1]] = f64::NAN; // only fully masked rows could see it
    let v = Param::new(vt);
    let mask = AttentionMask::padding(b, s, &[4, 0]);
    let tape = Tape::new();
    let (qv, vv) = (tape.param(&q), tape.param(&v));
    let o = attention_masked(&qv, &qv, &vv, &mask);
    assert!(o.value().to_vec()[2 * 4 * 3..].iter().all(|&x| x == 0.0));
    let g = o.sum_all().backward();
    let (gq, gv) = (g.of(&q).unwrap().to_vec(), g.of(&v).unwrap().to_vec());
    assert!(gq[..24].iter().all(|x| x.is_finite()) && gq[..24].iter().any(|&x| x != 0.0));
    assert!(gq[24..].iter().all(|&x| x == 0.0), "{gq:?}");
    assert!(gv[24..].iter().all(|&x| x == 0.0), "{gv:?}");
}

#[test]
fn nan_in_an_input_reaches_the_gradients() {
    let (s, d) = (Dyn::new(5), Dyn::new(4));
    for which in 0..3 {
        let mut ts: Vec<Tensor<(Dyn, Dyn), f64>> =
            (0..3).map(|i| Tensor::randn_with((s, d), 10 + i)).collect();
        ts[which][[2, 1]] = f64::NAN;
        let ps: Vec<Param<(Dyn, Dyn), f64>> = ts.into_iter().map(Param::new).collect();
        let tape = Tape::new();
        let (q, k, v) = (tape.param(&ps[0]), tape.param(&ps[1]), tape.param(&ps[2]));
        let o = attention_masked(&q, &k, &v, &AttentionMask::causal(0));
        let g = o.sum_all().backward();
        for (i, (name, p)) in ["q", "k", "v"].iter().zip(&ps).enumerate() {
            let gv = g.of(p).unwrap().to_vec();
            if which == 2 && i == 2 {
                // dV = Pᵀ·dO does not read v: a NaN value leaves the weights finite.
                assert!(gv.iter().all(|x| x.is_finite()), "{gv:?}");
            } else {
                assert!(
                    gv.iter().any(|x| x.is_nan()),
                    "NaN in input {which} did not reach d{name}"
                );
            }
        }
        if which == 0 {
            // A NaN query row: the rows before it see nothing of it.
            let gq = g.of(&ps[0]).unwrap().to_vec();
            assert!(gq[..8].iter().all(|x| x.is_finite()), "{gq:?}");
            assert!(gq[8..12].iter().all(|x| x.is_nan()), "{gq:?}");
        }
    }
}

#[test]
fn runtime_mismatches_are_errors_with_the_tensor_ops_message() {
    let tape = Tape::<f64>::new();
    let q = tape.constant(Tensor::<(Dyn, Dyn), f64>::zeros_with(d2(3, 4)));
    let k = tape.constant(Tensor::<(Dyn, Dyn), f64>::zeros_with(d2(5, 2)));
    let v = tape.constant(Tensor::<(Dyn, Dyn), f64>::zeros_with(d2(5, 4)));
    let err = try_attention(&q, &k, &v).unwrap_err();
    let want = plain::try_attention(&q.value(), &k.value(), &v.value()).unwrap_err();
    assert_eq!(err.to_string(), want.to_string());
    assert!(err.to_string().contains("head dim"), "{err}");
    let k = tape.constant(Tensor::<(Dyn, Dyn), f64>::zeros_with(d2(5, 4)));
    let mask = AttentionMask::from_bias(Tensor::<(Dyn, Dyn), f64>::zeros_with(d2(3, 6)));
    let err = try_attention_masked(&q, &k, &v, &mask).unwrap_err();
    let want = plain::try_attention_masked(&q.value(), &k.value(), &v.value(), &mask).unwrap_err();
    assert_eq!(err.to_string(), want.to_string());
}

// ---------------------------------------------------------------------------------------
// PyTorch golden values (scripts/golden_attention.py)
// ---------------------------------------------------------------------------------------

type D4 = (Dyn, Dyn, Dyn, Dyn);

fn golden() -> shapecheck::io::SafeTensors {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/autodiff/attention.safetensors");
    shapecheck::io::SafeTensors::open(&path).expect("the committed fixture loads")
}

fn load4<T: Float>(f: &shapecheck::io::SafeTensors, name: &str) -> Tensor<D4, T> {
    let d = f
        .info(name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .shape;
    let shape = (
        Dyn::new(d[0]),
        Dyn::new(d[1]),
        Dyn::new(d[2]),
        Dyn::new(d[3]),
    );
    f.load_with(name, shape).unwrap()
}

/// Our value and gradients for one golden case against PyTorch's, in `T`.
fn golden_case<T: Float>(f: &shapecheck::io::SafeTensors, case: &str, rtol: f64, atol: f64) {
    let dt = T::NAME; // "f32" or "f64", as the script names them
    let name = |n: &str| format!("{case}/{dt}/{n}");
    let (q, k, v) = (
        Param::new(load4::<T>(f, &name("q"))),
        Param::new(load4::<T>(f, &name("k"))),
        Param::new(load4::<T>(f, &name("v"))),
    );
    let dout = load4::<T>(f, &name("dout"));
    let bias = (case == "bias").then(|| {
        let d = f.info(&name("bias")).unwrap().shape;
        Param::new(f.load_with::<_, T>(&name("bias"), d2(d[0], d[1])).unwrap())
    });
    let tape = Tape::new();
    let (qv, kv, vv) = (tape.param(&q), tape.param(&k), tape.param(&v));
    let o = match case {
        "causal" | "long_causal" => attention_masked(&qv, &kv, &vv, &AttentionMask::causal(0)),
        "padding" => {
            let lengths: Tensor<(Dyn,), f64> = f.load_with("padding/lengths", d1(2)).unwrap();
            let lengths: Vec<usize> = lengths.as_slice().iter().map(|&l| l as usize).collect();
            let mask = AttentionMask::padding(q.value().shape().0, k.value().shape().2, &lengths);
            attention_masked(&qv, &kv, &vv, &mask)
        }
        _ => attention_biased(&qv, &kv, &vv, &tape.param(bias.as_ref().unwrap()), None),
    };
    let g = (&o * &tape.constant(dout)).sum_all().backward();
    let cmp = |what: &str, ours: &[T], want: &Tensor<D4, T>| {
        common::close(ours, want.as_slice(), rtol, atol)
            .unwrap_or_else(|e| panic!("{case}/{dt}/{what}: {e}"));
    };
    cmp("out", &o.value().to_vec(), &load4(f, &name("out")));
    cmp("dq", &g.of(&q).unwrap().to_vec(), &load4(f, &name("dq")));
    cmp("dk", &g.of(&k).unwrap().to_vec(), &load4(f, &name("dk")));
    cmp("dv", &g.of(&v).unwrap().to_vec(), &load4(f, &name("dv")));
    if let Some(b) = &bias {
        let d = f.info(&name("dbias")).unwrap().shape;
        let want: Tensor<(Dyn, Dyn), T> = f.load_with(&name("dbias"), d2(d[0], d[1])).unwrap();
        common::close(&g.of(b).unwrap().to_vec(), want.as_slice(), rtol, atol)
            .unwrap_or_else(|e| panic!("{case}/{dt}/dbias: {e}"));
    }
}

const GOLDEN_CASES: [&str; 4] = ["causal", "padding", "bias", "long_causal"];

#[test]
fn matches_pytorch_autograd_f64() {
    let f = golden();
    for case in GOLDEN_CASES {
        golden_case::<f64>(&f, case, 1e-10, 1e-12);
    }
}

#[test]
fn matches_pytorch_autograd_f32() {
    let f = golden();
    for case in GOLDEN_CASES {
        golden_case::<f32>(&f, case, 1e-5, 5e-7);
    }
}

#[test]
fn empty_extents_give_empty_or_zero_gradients() {
    // (sq, sk, dk, dv): no query, no key (every row fully masked), no head dim, no value dim.
    for (sq, sk, dk, dv) in [(0, 3, 2, 2), (3, 0, 2, 2), (3, 4, 0, 2), (3, 4, 2, 0)] {
        let q = Param::new(Tensor::<D3, f64>::randn_with(d3(2, sq, dk), 1));
        let k = Param::new(Tensor::<D3, f64>::randn_with(d3(2, sk, dk), 2));
        let v = Param::new(Tensor::<D3, f64>::randn_with(d3(2, sk, dv), 3));
        let tape = Tape::new();
        let o = attention(&tape.param(&q), &tape.param(&k), &tape.param(&v));
        let g = (&o * &tape.constant(Tensor::randn_with(o.shape(), 4)))
            .sum_all()
            .backward();
        let want: Vec<f64> = attention_ref_f64(&q, &k, &v);
        assert_eq!(o.value().to_vec(), want, "({sq}, {sk}, {dk}, {dv})");
        for p in [&q, &k, &v] {
            let gv = g.of(p).map(|t| t.to_vec()).unwrap_or_default();
            assert!(
                gv.iter().all(|x| x.is_finite()),
                "({sq}, {sk}, {dk}, {dv}): {gv:?}"
            );
        }
        if dk == 0 {
            // Every score is 0: uniform weights 1/Sk, so dV_j = Σ_i dO_i / Sk per head.
            let r = Tensor::<D3, f64>::randn_with(o.shape(), 4);
            let gv = g.of(&v).unwrap().to_vec();
            for (h, j, c) in
                (0..2).flat_map(|h| (0..sk).flat_map(move |j| (0..dv).map(move |c| (h, j, c))))
            {
                let want: f64 = (0..sq).map(|i| r[[h, i, c]]).sum::<f64>() / sk as f64;
                let got = gv[(h * sk + j) * dv + c];
                assert!(
                    (got - want).abs() < 1e-12,
                    "dv[{h}, {j}, {c}]: {got} vs {want}"
                );
            }
        }
        if sk == 0 || dv == 0 {
            // Nothing reaches the output: every gradient is zero.
            let gq = g.of(&q).map(|t| t.to_vec()).unwrap_or_default();
            assert!(gq.iter().all(|&x| x == 0.0));
        }
    }
}

/// The tensor op's value, for the empty cases.
fn attention_ref_f64(q: &Param<D3, f64>, k: &Param<D3, f64>, v: &Param<D3, f64>) -> Vec<f64> {
    plain::attention(q.value(), k.value(), v.value())
        .as_slice()
        .to_vec()
}

#[test]
fn a_causal_offset_past_every_key_is_no_mask() {
    let shape = d3(2, 150, 4);
    let q = Param::new(Tensor::<D3, f64>::randn_with(shape, 1));
    let kv = Param::new(Tensor::<D3, f64>::randn_with(shape, 2));
    let grads = |mask: Option<AttentionMask<(), f64>>| {
        let tape = Tape::new();
        let (qv, kvv) = (tape.param(&q), tape.param(&kv));
        let o = match &mask {
            Some(m) => attention_masked(&qv, &kvv, &kvv, m),
            None => attention(&qv, &kvv, &kvv),
        };
        let g = weigh(&o).backward();
        (g.of(&q).unwrap().to_vec(), g.of(&kv).unwrap().to_vec())
    };
    assert_eq!(grads(Some(AttentionMask::causal(usize::MAX))), grads(None));
}

#[test]
fn gradcheck_bias_broadcast_over_queries() {
    // A traced `(H, 1, Sk)` bias: one row per head, broadcast over the queries.
    let (h, sq, sk, d) = (2, 3, 4, 2);
    let q = param(d3(h, sq, d), 70);
    let k = param(d3(h, sk, d), 71);
    let bias = param(d3(h, 1, sk), 72);
    let eval = run(|tape| {
        let kv = tape.param(&k.borrow());
        weigh(&attention_biased(
            &tape.param(&q.borrow()),
            &kv,
            &kv,
            &tape.param(&bias.borrow()),
            Some(1),
        ))
    });
    check("(H, 1, Sk) bias", &bias, &eval, 1e-6);
    check("q under a broadcast bias", &q, &eval, 1e-6);
    check("k = v under a broadcast bias", &k, &eval, 1e-6);
}

#[test]
fn gradcheck_a_causal_multi_head_self_attention_layer() {
    // x → q, k, v projections → split_heads (views) → causal attention → merge_heads → out
    // projection: every weight's gradient against finite differences.
    use shapecheck::nn::linear::Linear;
    use std::cell::RefCell;
    let lin = |seed| {
        RefCell::new(Linear::<DModel, DModel, f64>::new(
            Tensor::randn_with((DModel, DModel), seed),
            None,
        ))
    };
    let (wq, wk, wv, wo) = (lin(80), lin(81), lin(82), lin(83));
    let x = param((Dyn::new(2), Dyn::new(3), DModel), 84);
    let eval = run(|tape| {
        let xv = tape.param(&x.borrow());
        let heads = |l: &RefCell<Linear<DModel, DModel, f64>>| {
            l.borrow().forward(&xv).split_heads::<Heads, HeadDim>()
        };
        let (q, k, v) = (heads(&wq), heads(&wk), heads(&wv));
        let o = attention_masked(&q, &k, &v, &AttentionMask::causal(0)).merge_heads::<DModel>();
        weigh(&wo.borrow().forward(&o))
    });
    check("layer x", &x, &eval, 1e-6);
    for (name, l) in [("wq", &wq), ("wk", &wk), ("wv", &wv), ("wo", &wo)] {
        check_in(name, l, |l| &l.weight, |l| &mut l.weight, &eval, 1e-6);
    }
}
