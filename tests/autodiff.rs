//! Reverse-mode gradients against central finite differences in f64, on random runtime
//! shapes (dims of 1 included), strided and transposed operands, and broadcasting.
//!
//! Each check perturbs every element of every parameter by ±h (h = 1e-6) and compares
//! `(L(p + h) − L(p − h)) / 2h` with the analytic gradient, to within
//! `tol · (1 + |numeric|)`. The loss is `Σ out ⊙ R` for a fixed random `R`, so no gradient
//! is zero by symmetry. Tolerances per op:
//!
//! | op | tol |
//! |---|---|
//! | matmul (2-D, `.t()` operands, batched, shared weight, vector forms), `Linear` | 1e-6 |
//! | `+ − × ÷` with broadcasting, scalar ops, neg | 1e-6 |
//! | exp, ln, sqrt, powi, abs, tanh, sigmoid, relu, gelu (erf, tanh), silu | 1e-6 |
//! | sum / mean / max along an axis, sum_all, mean_all | 1e-6 |
//! | softmax, log_softmax (any axis) | 1e-6 |
//! | layer_norm, rms_norm (input, weight, bias) | 1e-5 |
//! | mse, cross-entropy | 1e-6 |
//!
//! (Non-smooth ops — relu, abs, max — are checked at random points, which lie farther than
//! h from a kink with probability 1 − O(h).)

use std::cell::RefCell;

use proptest::prelude::*;
use shapecheck::nn::linear::Linear;
use shapecheck::prelude::*;

mod common;

use common::gradcheck::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn matmul_2d_and_transposed_operands(m in small(), k in small(), n in small(), ta in any::<bool>(), tb in any::<bool>()) {
        // Each operand stored either as itself or as its transpose (then read with `.t()`).
        let a = param(if ta { d2(k, m) } else { d2(m, k) }, 1);
        let b = param(if tb { d2(n, k) } else { d2(k, n) }, 2);
        let eval = run(|tape| {
            let (av, bv) = (tape.param(&a.borrow()), tape.param(&b.borrow()));
            let av = if ta { av.t() } else { av };
            let bv = if tb { bv.t() } else { bv };
            weigh(&av.matmul(&bv))
        });
        check("matmul a", &a, &eval, 1e-6);
        check("matmul b", &b, &eval, 1e-6);
    }

    #[test]
    fn matmul_vector_forms(m in small(), k in small()) {
        let a = param(d2(m, k), 3);
        let v = param(d1(k), 4);
        let eval = run(|tape| weigh(&tape.param(&a.borrow()).matmul(&tape.param(&v.borrow()))));
        check("matvec a", &a, &eval, 1e-6);
        check("matvec v", &v, &eval, 1e-6);
        let eval = run(|tape| weigh(&tape.param(&v.borrow()).matmul(&tape.param(&a.borrow()).t())));
        check("vecmat v", &v, &eval, 1e-6);
        check("vecmat aᵀ", &a, &eval, 1e-6);
    }

    #[test]
    fn matmul_batched_and_permuted(b in small(), m in small(), k in small(), n in small(), perm in any::<bool>()) {
        // The left operand stored (M, B, K) and permuted to (B, M, K) half the time.
        let x = param(if perm { d3(m, b, k) } else { d3(b, m, k) }, 5);
        let y = param(d3(b, n, k), 6);
        let eval = run(|tape| {
            let xv = tape.param(&x.borrow());
            let xv = if perm { xv.permute((A1, A0, A2)) } else { xv };
            weigh(&xv.matmul(&tape.param(&y.borrow()).t()))
        });
        check("batched x", &x, &eval, 1e-6);
        check("batched y", &y, &eval, 1e-6);
    }

    #[test]
    fn matmul_shared_weight(b in small(), m in small(), k in small(), n in small(), tw in any::<bool>(), perm in any::<bool>()) {
        let x = param(if perm { d3(m, b, k) } else { d3(b, m, k) }, 7);
        let w = param(if tw { d2(n, k) } else { d2(k, n) }, 8);
        let eval = run(|tape| {
            let xv = tape.param(&x.borrow());
            let xv = if perm { xv.permute((A1, A0, A2)) } else { xv };
            let wv = tape.param(&w.borrow());
            let wv = if tw { wv.t() } else { wv };
            weigh(&xv.matmul(&wv))
        });
        check("shared x", &x, &eval, 1e-6);
        check("shared w", &w, &eval, 1e-6);
    }

    #[test]
    fn broadcasting_arithmetic(d in prop::array::uniform3(1usize..4), ones in prop::array::uniform3(any::<bool>()), rank1 in any::<bool>()) {
        let x = param(d3(d[0], d[1], d[2]), 9);
        // The other operand: (D,) or (B|1, S|1, D|1).
        let yd = if rank1 { vec![d[2]] } else { (0..3).map(|i| if ones[i] { 1 } else { d[i] }).collect() };
        let y3 = param(d3(yd[0], *yd.get(1).unwrap_or(&1), *yd.get(2).unwrap_or(&1)), 10);
        let y1 = positive(d1(d[2]), 11);
        for op in 0..4 {
            let eval = run(|tape| {
                let xv = tape.param(&x.borrow());
                if rank1 {
                    let yv = tape.param(&y1.borrow()).add_scalar(1.0);
                    let out = match op { 0 => &xv + &yv, 1 => &yv - &xv, 2 => &xv * &yv, _ => &xv / &yv };
                    weigh(&out)
                } else {
                    let yv = tape.param(&y3.borrow()).exp();
                    let out = match op { 0 => &yv + &xv, 1 => &xv - &yv, 2 => &yv * &xv, _ => &yv / &xv.exp() };
                    weigh(&out)
                }
            });
            check("broadcast x", &x, &eval, 1e-6);
            if rank1 { check("broadcast (D,)", &y1, &eval, 1e-6) } else { check("broadcast y", &y3, &eval, 1e-6) }
        }
    }

    #[test]
    fn unary_and_scalar_ops(d in prop::array::uniform2(1usize..5)) {
        let x = param(d2(d[0], d[1]), 12);
        let pos = positive(d2(d[0], d[1]), 13);
        type F = for<'t> fn(&Var<'t, (Dyn, Dyn), f64>) -> Var<'t, (Dyn, Dyn), f64>;
        let on_any: [(&str, F); 14] = [
            ("exp", |v| v.exp()), ("powi", |v| v.powi(3)), ("abs", |v| v.abs()),
            ("tanh", |v| v.tanh()), ("sigmoid", |v| v.sigmoid()), ("relu", |v| v.relu()),
            ("gelu", |v| v.gelu()), ("gelu_tanh", |v| v.gelu_tanh()), ("silu", |v| v.silu()),
            ("neg", |v| -v), ("scalar", |v| 2.0 - &(v * 3.0)), ("scalar div", |v| &(v / 4.0) + 1.0),
            ("scale", |v| v.scale(-1.5).add_scalar(0.5)), ("rdiv", |v| 1.0 / &v.exp()),
        ];
        for (name, f) in on_any {
            let eval = run(|tape| weigh(&f(&tape.param(&x.borrow()))));
            check(name, &x, &eval, 1e-6);
        }
        let on_positive: [(&str, F); 2] = [("ln", |v| v.ln()), ("sqrt", |v| v.sqrt())];
        for (name, f) in on_positive {
            let eval = run(|tape| weigh(&f(&tape.param(&pos.borrow()))));
            check(name, &pos, &eval, 1e-6);
        }
    }

    #[test]
    fn reductions(d in prop::array::uniform3(1usize..4)) {
        let x = param(d3(d[0], d[1], d[2]), 14);
        let eval = run(|tape| {
            let v = tape.param(&x.borrow());
            &(&weigh(&v.sum::<0>()) + &weigh(&v.mean::<1>())) + &weigh(&v.max::<2>())
        });
        check("sum/mean/max along axes", &x, &eval, 1e-6);
        let eval = run(|tape| {
            let v = tape.param(&x.borrow());
            &(&weigh(&v.max::<0>()) + &weigh(&v.sum::<2>())) + &weigh(&v.mean::<0>())
        });
        check("max/sum/mean along other axes", &x, &eval, 1e-6);
        let eval = run(|tape| {
            let v = tape.param(&x.borrow());
            &v.sum_all() * &v.mean_all()
        });
        check("sum_all·mean_all", &x, &eval, 1e-6);
    }

    #[test]
    fn softmax_and_log_softmax(d in prop::array::uniform3(1usize..4), t in any::<bool>()) {
        let x = param(d3(d[0], d[1], d[2]), 15);
        let eval = run(|tape| {
            let v = tape.param(&x.borrow());
            let v = if t { v.t() } else { v }; // a strided input
            &(&weigh(&v.softmax::<2>()) + &weigh(&v.log_softmax::<2>())) + &weigh(&v.softmax::<0>())
        });
        check("softmax", &x, &eval, 1e-6);
        let eval = run(|tape| weigh(&tape.param(&x.borrow()).log_softmax::<1>()));
        check("log_softmax axis 1", &x, &eval, 1e-6);
    }

    #[test]
    fn norms(rows in 1usize..4, n in 1usize..6) {
        let x = param(d2(rows, n), 16);
        let w = param(d1(n), 17);
        let b = param(d1(n), 18);
        let eval = run(|tape| {
            let (xv, wv, bv) = (tape.param(&x.borrow()), tape.param(&w.borrow()), tape.param(&b.borrow()));
            weigh(&xv.layer_norm(&wv, &bv, 1e-5))
        });
        check("layer_norm x", &x, &eval, 1e-5);
        check("layer_norm w", &w, &eval, 1e-5);
        check("layer_norm b", &b, &eval, 1e-5);
        let eval = run(|tape| weigh(&tape.param(&x.borrow()).rms_norm(&tape.param(&w.borrow()), 1e-5)));
        check("rms_norm x", &x, &eval, 1e-5);
        check("rms_norm w", &w, &eval, 1e-5);
    }

    #[test]
    fn losses(rows in 1usize..4, c in 1usize..5, seed in 0u64..1000) {
        let p = param(d2(rows, c), 19 + seed);
        let t = param(d2(rows, c), 20 + seed);
        let eval = run(|tape| tape.param(&p.borrow()).mse(&tape.param(&t.borrow())));
        check("mse prediction", &p, &eval, 1e-6);
        check("mse target", &t, &eval, 1e-6);
        let targets: Vec<usize> = (0..rows).map(|i| (i * 7 + seed as usize) % c).collect();
        let eval = run(|tape| tape.param(&p.borrow()).cross_entropy(&targets));
        check("cross_entropy", &p, &eval, 1e-6);
    }

    #[test]
    fn linear_layer(b in small(), s in small(), din in small(), dout in small(), bias in any::<bool>()) {
        let x = param(d3(b, s, din), 21);
        let layer = RefCell::new(Linear::<Dyn, Dyn, f64>::new(
            Tensor::randn_with(d2(dout, din), 22),
            bias.then(|| Tensor::randn_with(d1(dout), 23)),
        ));
        let eval = run(|tape| weigh(&layer.borrow().forward(&tape.param(&x.borrow()))));
        check("linear x", &x, &eval, 1e-6);
        check_in("linear weight", &layer, |l| &l.weight, |l| &mut l.weight, &eval, 1e-6);
        if bias {
            check_in("linear bias", &layer, |l| l.bias.as_ref().unwrap(), |l| l.bias.as_mut().unwrap(), &eval, 1e-6);
        }
    }
}

dim!(pub Batch = 2; pub Seq = 3; pub DModel = 4);

/// The classic bug: the gradient of a bias `(D,)` added to `(B, S, D)` must be the output
/// gradient summed over B and S, with the bias's own shape.
#[test]
fn broadcast_bias_gradient_is_summed_over_the_broadcast_axes() {
    let bias = Param::new(Tensor::<(DModel,), f64>::randn(1));
    let r = Tensor::<(Batch, Seq, DModel), f64>::randn(2);
    let tape = Tape::new();
    let x = tape.constant(Tensor::<(Batch, Seq, DModel), f64>::randn(3));
    let loss = (&(&x + &tape.param(&bias)) * &tape.constant(r.clone())).sum_all();
    let grads = loss.backward();
    let g: TensorView<(DModel,), f64> = grads.of(&bias).unwrap();
    let expected = r.sum::<0>().sum::<0>();
    for d in 0..4 {
        assert!((g[[d]] - expected[[d]]).abs() < 1e-12);
    }
    // A (B, 1, D) operand: summed over S only.
    let mid = Param::new(Tensor::<(Batch, D<1>, DModel), f64>::randn(4));
    let tape = Tape::new();
    let x = tape.constant(Tensor::<(Batch, Seq, DModel), f64>::randn(3));
    let loss = (&(&x * &tape.param(&mid)) * &tape.constant(r.clone())).sum_all();
    let g = loss.backward();
    let g = g.of(&mid).unwrap();
    let expected = (&r * &x.value()).sum_keepdim::<1>();
    for b in 0..2 {
        for d in 0..4 {
            assert!((g[[b, 0, d]] - expected[[b, 0, d]]).abs() < 1e-12);
        }
    }
}

#[test]
fn gradients_accumulate_across_backward_calls_until_zeroed() {
    let w = Param::new(Tensor::<(Seq, DModel), f64>::randn(5));
    let x = Tensor::<(DModel,), f64>::randn(6);
    fn loss_of<'t>(
        tape: &'t Tape<f64>,
        w: &Param<(Seq, DModel), f64>,
        x: &Tensor<(DModel,), f64>,
    ) -> Var<'t, (), f64> {
        tape.param(w)
            .matmul(&tape.constant(x.clone()))
            .tanh()
            .sum_all()
    }
    let once = {
        let tape = Tape::new();
        loss_of(&tape, &w, &x).backward().of(&w).unwrap().to_vec()
    };
    let mut grads = Gradients::new();
    {
        let tape = Tape::new();
        let loss = loss_of(&tape, &w, &x);
        loss.backward_into(&mut grads);
        loss.backward_into(&mut grads); // the same tape walked twice
    }
    let twice = grads.of(&w).unwrap().to_vec();
    for (a, b) in once.iter().zip(&twice) {
        assert!((2.0 * a - b).abs() < 1e-12);
    }
    grads.zero();
    assert!(grads.of(&w).unwrap().to_vec().iter().all(|&v| v == 0.0));
    let tape = Tape::new();
    loss_of(&tape, &w, &x).backward_into(&mut grads);
    assert_eq!(grads.of(&w).unwrap().to_vec(), once);
}

#[test]
fn a_frozen_parameter_gets_no_gradient_and_constants_record_nothing() {
    let mut base = Param::new(Tensor::<(DModel, DModel), f64>::randn(7));
    let adapter = Param::new(Tensor::<(DModel, DModel), f64>::randn(8));
    base.freeze();
    let tape = Tape::new();
    let x = tape.constant(Tensor::<(Seq, DModel), f64>::randn(9));
    assert!(!tape.param(&base).is_traced());
    let y = &x.matmul(&tape.param(&base).t()) + &x.matmul(&tape.param(&adapter).t());
    let grads = y.powi(2).mean_all().backward();
    assert!(grads.of(&base).is_none());
    assert!(grads.of(&adapter).is_some());
    assert_eq!(grads.len(), 1);

    // Constants only: the `no_grad` evaluation records no node at all.
    let tape = Tape::new();
    let x = tape.constant(Tensor::<(Seq, DModel), f64>::randn(9));
    let y = x
        .matmul(&tape.param(&base).t())
        .relu()
        .softmax::<1>()
        .sum_all();
    assert!(!y.is_traced());
    assert_eq!(tape.len(), 0);
    assert!(y.backward().is_empty());
    // …and computes the same value as the tensor ops.
    let t = x
        .value()
        .matmul(&base.value().t())
        .relu()
        .softmax::<1>()
        .sum_all();
    assert_eq!(y.item(), t);
}

#[test]
fn cross_entropy_is_stable_at_large_logits() {
    let logits = Param::new(
        Tensor::<(D<2>, D<3>), f32>::from_vec(vec![1e4, -1e4, 0.0, -1e4, 1e4, 1e4]).unwrap(),
    );
    let tape = Tape::new();
    let loss = tape.param(&logits).cross_entropy(&[1, 2]);
    // Row 0: −log_softmax at −1e4 = 2e4; row 1: two equal maxima, ln 2.
    assert!((loss.item() - (2e4 + std::f32::consts::LN_2) / 2.0).abs() < 1e-2);
    let g = loss.backward();
    let g = g.of(&logits).unwrap().to_vec();
    assert!(g.iter().all(|v| v.is_finite()));
    // (softmax − onehot) / rows.
    let expected = [0.5, -0.5, 0.0, 0.0, 0.25, -0.25];
    for (a, b) in g.iter().zip(expected) {
        assert!((a - b).abs() < 1e-6, "{g:?}");
    }
    let err = tape.param(&logits).try_cross_entropy(&[0]).unwrap_err();
    assert!(err.to_string().contains("one target per row"), "{err}");
    let err = tape.param(&logits).try_cross_entropy(&[0, 3]).unwrap_err();
    assert!(
        err.to_string()
            .contains("class 3 is out of range for 3 classes"),
        "{err}"
    );
}

#[test]
fn nan_in_the_forward_reaches_the_gradient() {
    let w = Param::new(Tensor::<(D<2>,), f64>::from_vec(vec![f64::NAN, 1.0]).unwrap());
    let tape = Tape::new();
    let grads = (&tape.param(&w) * &tape.param(&w)).sum_all().backward();
    assert!(grads.of(&w).unwrap()[[0]].is_nan());
}

#[test]
fn the_same_value_used_twice_gets_both_contributions() {
    // y = x·xᵀ: both operands are the same node, read through different strides.
    let x = Param::new(Tensor::<(Seq, DModel), f64>::randn(10));
    let tape = Tape::new();
    let xv = tape.param(&x);
    let grads = xv.matmul(&xv.t()).sum_all().backward();
    // d/dx Σ x·xᵀ = 2 · (Σ_rows x) broadcast to every row.
    let col = x.value().sum::<0>();
    let g = grads.of(&x).unwrap();
    for i in 0..3 {
        for j in 0..4 {
            assert!((g[[i, j]] - 2.0 * col[[j]]).abs() < 1e-12);
        }
    }
}

/// The benches' hand-written baseline computes the same step as the tape (so the perf
/// ratio compares like with like): `Σ A·B` and both gradients, on a non-square product.
#[test]
fn the_hand_written_matmul_backward_baseline_matches_the_tape() {
    use bench_support::raw::{matmul_forward_backward, ForwardBackward};
    let (m, k, n) = (5, 7, 3);
    let a = Param::new(Tensor::<_, f32>::randn_with((Dyn::new(m), Dyn::new(k)), 1));
    let b = Param::new(Tensor::<_, f32>::randn_with((Dyn::new(k), Dyn::new(n)), 2));
    let tape = Tape::new();
    let loss = tape.param(&a).matmul(&tape.param(&b)).sum_all();
    let grads = loss.backward();
    let mut bufs = ForwardBackward::new(m, k, n);
    let by_hand = matmul_forward_backward(
        (m, k, n),
        a.value().as_slice(),
        b.value().as_slice(),
        &mut bufs,
    );
    assert!((by_hand - loss.item()).abs() <= 1e-4 * (1.0 + by_hand.abs()));
    let (da, db) = bufs.grads();
    for (name, tape, hand) in [
        ("dA", grads.of(&a).unwrap().to_vec(), da),
        ("dB", grads.of(&b).unwrap().to_vec(), db),
    ] {
        assert_eq!(tape.len(), hand.len(), "{name}");
        for (i, (x, y)) in tape.iter().zip(hand).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                "{name}[{i}]: {x} vs {y}"
            );
        }
    }
}

/// The backward passes split over threads (element-wise gradients, the accumulation of a
/// gradient into its node, the norms' input gradient by rows and weight/bias gradients by
/// columns, the cross-entropy's rows) give every gradient the same bits on 2 threads as on 1, on a tensor large enough
/// to split, with a row count and a width that do not divide into the blocks evenly.
#[test]
fn split_backward_passes_do_not_depend_on_threads() {
    let (rows, n) = (517, 263);
    let shape = (Dyn::new(rows), Dyn::new(n));
    let x = Param::new(Tensor::<(Dyn, Dyn), f32>::randn_with(shape, 31));
    let w = Param::new(Tensor::<(Dyn,), f32>::randn_with((Dyn::new(n),), 32));
    let w2 = Param::new(Tensor::<(Dyn,), f32>::randn_with((Dyn::new(n),), 33));
    let bias = Param::new(Tensor::<(Dyn,), f32>::randn_with((Dyn::new(n),), 34));
    let r = Tensor::<(Dyn, Dyn), f32>::randn_with(shape, 35);
    let grads = |threads| {
        shapecheck::with_threads(threads, || {
            let tape = Tape::new();
            let xv = tape.param(&x);
            let a = xv.rms_norm(&tape.param(&w), 1e-5);
            let b = xv.layer_norm(&tape.param(&w2), &tape.param(&bias), 1e-5);
            // `x` gets its gradient from both norms, `tanh` (element-wise) and the sum;
            // `a + b` accumulates into fresh buffers, `silu` through its element-wise map.
            let h = (&a + &b).silu() + xv.tanh() + &xv;
            let targets: Vec<usize> = (0..rows).map(|i| (i * 37 + 5) % n).collect();
            let ce = h.cross_entropy(&targets);
            let g = ((&h * &tape.constant(r.clone())).sum_all() + ce).backward();
            vec![
                g.of(&x).unwrap().to_vec(),
                g.of(&w).unwrap().to_vec(),
                g.of(&w2).unwrap().to_vec(),
                g.of(&bias).unwrap().to_vec(),
            ]
        })
    };
    let (one, two) = (grads(1), grads(2));
    for (name, (a, b)) in ["x", "w", "w2", "bias"].iter().zip(one.iter().zip(&two)) {
        assert!(
            a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
            "the gradient of {name} differs between 1 and 2 threads"
        );
    }
}

/// A product's gradient in a node that has none yet is written whole (β = 0) into a fresh
/// buffer, with no zero-filled buffer before it: a pooled buffer full of NaN from an
/// earlier step is never read, and the bits are those of adding the product to zeros
/// (β = 1), −0.0 included: `x`'s rows where the loss's weights are 0 (products of +0 and
/// −0) are +0.0 either way.
#[test]
fn a_products_gradient_needs_no_zeroed_buffer() {
    let (m, k, n) = (160, 256, 96);
    let x = Param::new(Tensor::<(Dyn, Dyn), f32>::randn_with(
        (Dyn::new(m), Dyn::new(k)),
        41,
    ));
    let w = Param::new(Tensor::<(Dyn, Dyn), f32>::randn_with(
        (Dyn::new(n), Dyn::new(k)),
        42,
    ));
    // Zero weights on every third row of the output: those rows of dx are sums of ±0.
    let r = Tensor::<(Dyn, Dyn), f32>::from_fn_with((Dyn::new(m), Dyn::new(n)), |[i, j]| {
        if i % 3 == 0 {
            0.0
        } else {
            ((i * 7 + j * 3) % 11) as f32 - 5.0
        }
    });
    // `zeros_first`: `x` and `w` first get a gradient of 0 from another op, so that the
    // product adds into zeros (β = 1) instead of writing a new buffer.
    let grads = |zeros_first: bool| {
        // Buffers of NaN, of the gradients' sizes, go back to this thread's pool.
        let nan = Tape::new();
        for shape in [(m, k), (n, k)] {
            let c = Tensor::<(Dyn, Dyn), f32>::full_with(
                (Dyn::new(shape.0), Dyn::new(shape.1)),
                f32::NAN,
            );
            let _ = nan.constant(c).scale(1.0);
        }
        drop(nan);
        let tape = Tape::new();
        let (xv, wv) = (tape.param(&x), tape.param(&w));
        let mut loss = (xv.matmul(&wv.t()) * tape.constant(r.clone())).sum_all();
        if zeros_first {
            loss = loss + xv.scale(0.0).sum_all() + wv.scale(0.0).sum_all();
        }
        let g = loss.backward();
        (g.of(&x).unwrap().to_vec(), g.of(&w).unwrap().to_vec())
    };
    let (fresh, added) = (grads(false), grads(true));
    for (name, (a, b)) in [("x", (&fresh.0, &added.0)), ("w", (&fresh.1, &added.1))] {
        assert!(
            a.iter().all(|v| v.is_finite()),
            "dL/d{name} read a stale buffer"
        );
        assert!(
            a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
            "dL/d{name} differs between a new buffer and zeros"
        );
    }
    assert!(
        fresh.0[..k].iter().all(|v| v.to_bits() == 0),
        "a row of ±0 products is +0.0"
    );
}
