//! Reverse-mode gradients of the traced shape ops, the var / norm reductions, `normalize`,
//! cosine similarity and InfoNCE, against central finite differences in f64 (the helpers of
//! `tests/common/gradcheck.rs`: every element of every parameter perturbed by ±1e-6, the
//! loss `Σ out ⊙ R` for a fixed random `R`, agreement to within `tol · (1 + |numeric|)`), on
//! random runtime shapes (dims of 1 included) and on strided inputs (`.t()`, `permute`,
//! slices of slices). Tolerances per op, the rows this file adds to the table of
//! `tests/autodiff.rs`:
//!
//! | op | tol |
//! |---|---|
//! | reshape, try_reshape_with, into_shape, split, merge (view and copy paths), contiguous | 1e-6 |
//! | concat, stack (traced, constant and transposed parts) | 1e-6 |
//! | slice, slice_as, slice_with / try_slice_with, squeeze / try_squeeze, unsqueeze | 1e-6 |
//! | var, norm along an axis; var_all, norm_all, max_all | 1e-6 |
//! | sum / mean / max / var / norm `_keepdim::<I>()` and `_last()` | 1e-6 |
//! | normalize, similarity, cosine_similarity | 1e-6 |
//! | info_nce, info_nce_symmetric (τ ∈ {0.05, 0.3, 1}) | 1e-5 |
//!
//! (InfoNCE at τ = 0.05 has logits up to ±20, whose third derivatives make the central
//! difference's O(h²) error the largest here, hence its looser tolerance.) Besides the
//! finite differences: views record no node; the runtime errors are the tensor ops' very
//! messages; the zero-norm, NaN and small-τ cases.

use proptest::prelude::*;
use shapecheck::autodiff::{cosine_similarity, UnitVar};
use shapecheck::prelude::*;

mod common;

use common::gradcheck::*;

type V2<'t> = Var<'t, (Dyn, Dyn), f64>;
type V3<'t> = Var<'t, (Dyn, Dyn, Dyn), f64>;

/// A parameter of dims `d` read either as stored (`t == false`) or stored transposed and
/// read back through `.t()` (a strided view).
fn p2(d: (usize, usize), t: bool, seed: u64) -> P<(Dyn, Dyn)> {
    if t {
        param(d2(d.1, d.0), seed)
    } else {
        param(d2(d.0, d.1), seed)
    }
}

fn read2<'t>(tape: &'t Tape<f64>, p: &P<(Dyn, Dyn)>, t: bool) -> V2<'t> {
    let v = tape.param(&p.borrow());
    if t {
        v.t()
    } else {
        v
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn reshape_into_shape_and_contiguous(a in small(), b in small(), c in small(), t in any::<bool>()) {
        // (a·b, c) stored, or its transpose read through `.t()`: the copy path.
        let x = p2((a * b, c), t, 1);
        let eval = run(|tape| {
            let v = read2(tape, &x, t);
            let r: V3 = v.try_reshape_with(d3(a, b, c)).unwrap();
            let r2: V2 = r.try_reshape_with(d2(a, b * c)).unwrap();
            let s = v.into_shape(d2(a * b, c)).unwrap();
            &(&weigh(&r) + &weigh(&r2)) + &(&weigh(&s.contiguous()) + &weigh(&v.contiguous().exp()))
        });
        check("reshape", &x, &eval, 1e-6);
    }

    #[test]
    fn static_reshape_split_and_merge(t in any::<bool>(), perm in any::<bool>()) {
        // (2, 6) read as itself or as the transpose of a (6, 2).
        let xt = param((D::<6>, D::<2>), 2);
        let x2 = param((D::<2>, D::<6>), 2);
        let eval = run(|tape| {
            let v: Var<(D<2>, D<6>), f64> = if t { tape.param(&xt.borrow()).t() } else { tape.param(&x2.borrow()) };
            let r: Var<(D<3>, D<4>), f64> = v.reshape();
            let h: Var<(D<2>, D<2>, D<3>), f64> = v.split::<D<2>, D<3>>();
            // Merge as laid out (a view), or after swapping the two axes (a copy).
            let m: Var<(D<2>, D<6>), f64> = if perm {
                h.permute((A0, A2, A1)).merge::<D<6>>()
            } else {
                h.merge::<D<6>>()
            };
            let hm = h.sigmoid();
            // Static slices of the strided value, and of a slice.
            let s: Var<(D<2>, D<3>), f64> = v.slice::<1, 2, 3>();
            let s1: Var<(D<1>, D<3>), f64> = s.slice_as::<0, 1, D<1>>();
            let sl = &weigh(&s.exp()) + &weigh(&s1.squeeze::<0>());
            &(&(&weigh(&r) + &weigh(&h)) + &(&weigh(&m) + &weigh(&hm.merge::<D<6>>()))) + &sl
        });
        if t { check("split/merge of vᵀ", &xt, &eval, 1e-6) } else { check("split/merge", &x2, &eval, 1e-6) }
    }

    #[test]
    fn concat_of_traced_constant_and_transposed_parts(a in small(), b in small(), n in small(), ta in any::<bool>(), tb in any::<bool>(), constant in any::<bool>()) {
        let x = p2((a, n), ta, 3);
        let y = p2((b, n), tb, 4);
        let z = p2((n, b), tb, 5);
        let eval = run(|tape| {
            let xv = read2(tape, &x, ta);
            let yv = if constant { read2(tape, &y, tb).detach() } else { read2(tape, &y, tb) };
            let rows: V2 = xv.try_concat::<0, _, Dyn>(A0, &yv).unwrap(); // (a + b, n)
            let cols: V2 = xv.t().try_concat::<1, _, Dyn>(A1, &read2(tape, &z, tb)).unwrap(); // (n, a + b)
            &weigh(&rows.tanh()) + &weigh(&cols)
        });
        check("concat x", &x, &eval, 1e-6);
        if constant {
            // A detached part is a constant: no gradient reaches it.
            prop_assert!(eval(true).1.unwrap().of(&y.borrow()).is_none());
        } else {
            check("concat y", &y, &eval, 1e-6);
        }
        check("concat z", &z, &eval, 1e-6);
    }

    #[test]
    fn stack_along_every_axis(m in small(), n in small(), k in 1usize..4, t in any::<bool>(), axis in 0usize..3) {
        let ps: Vec<_> = (0..k).map(|i| p2((m, n), t && i % 2 == 0, 10 + i as u64)).collect();
        let eval = run(|tape| {
            // Part 1 is a constant when there is more than one part.
            let parts: Vec<V2> = ps.iter().enumerate().map(|(i, p)| {
                let v = read2(tape, p, t && i % 2 == 0);
                if i == 1 { v.detach() } else { v }
            }).collect();
            let refs: Vec<&V2> = parts.iter().collect();
            let s: V3 = match axis {
                0 => Var::try_stack::<0, _, Dyn>(A0, &refs).unwrap(),
                1 => Var::try_stack::<1, _, Dyn>(A1, &refs).unwrap(),
                _ => Var::try_stack::<2, _, Dyn>(A2, &refs).unwrap(),
            };
            weigh(&s.powi(2))
        });
        for (i, p) in ps.iter().enumerate() {
            if i != 1 {
                check(&format!("stack part {i}"), p, &eval, 1e-6);
            }
        }
    }

    #[test]
    fn slices_squeeze_and_unsqueeze(a in 1usize..5, b in 1usize..5, r in (0usize..5, 0usize..5), t in any::<bool>()) {
        let x = p2((a, b), t, 20);
        let (lo, hi) = (r.0 % a, (r.0 % a + 1 + r.1).min(a));
        let eval = run(|tape| {
            let v = read2(tape, &x, t);
            let rows: V2 = v.try_slice_with(A0, lo..hi).unwrap();
            let cols: V2 = rows.slice_with(A1, (b - 1)..); // a slice of a slice: its last column
            let one: Var<(Dyn,), f64> = rows.t().try_slice_with(A0, 0..1).unwrap().try_squeeze::<0>().unwrap();
            let u0: V3 = cols.unsqueeze::<0>().try_reshape_with(d3(1, hi - lo, 1)).unwrap();
            let u: Var<(Dyn, D<1>, Dyn), f64> = v.unsqueeze::<1>();
            let u2: Var<(Dyn, Dyn, D<1>), f64> = v.unsqueeze::<2>();
            &(&weigh(&rows) + &(&weigh(&cols.exp()) + &weigh(&one))) + &(&weigh(&u0) + &(&weigh(&u.squeeze::<1>()) + &weigh(&u2)))
        });
        check("slice/squeeze/unsqueeze", &x, &eval, 1e-6);
    }

    #[test]
    fn var_and_norm_reductions(d in prop::array::uniform3(1usize..4), perm in any::<bool>()) {
        let x = param(d3(d[0], d[1], d[2]), 30);
        let eval = run(|tape| {
            let v = tape.param(&x.borrow());
            let v: V3 = if perm { v.permute((A2, A0, A1)) } else { v };
            let axes = &(&weigh(&v.var::<0>()) + &weigh(&v.var::<1>())) + &weigh(&v.var::<2>());
            let norms = &(&weigh(&v.norm::<0>()) + &weigh(&v.norm::<1>())) + &weigh(&v.norm::<2>());
            let whole = &(&v.var_all() * &v.norm_all()) + &v.max_all().scale(0.7);
            &(&axes + &norms) + &whole
        });
        check("var/norm", &x, &eval, 1e-6);
        let eval = run(|tape| {
            let v = tape.param(&x.borrow());
            let v: V3 = if perm { v.permute((A1, A2, A0)) } else { v };
            let kept = &(&weigh(&v.sum_keepdim::<0>()) + &weigh(&v.mean_keepdim::<1>()))
                + &(&weigh(&v.max_keepdim::<2>()) + &(&weigh(&v.var_keepdim::<1>()) + &weigh(&v.norm_keepdim::<0>())));
            let last = &(&weigh(&v.sum_last()) + &weigh(&v.mean_last()))
                + &(&weigh(&v.max_last()) + &(&weigh(&v.var_last()) + &weigh(&v.norm_last())));
            &kept + &last
        });
        check("keepdim/last reductions", &x, &eval, 1e-6);
    }

    #[test]
    fn normalize_similarity_and_cosine(n in small(), m in small(), k in small(), t in any::<bool>()) {
        let a = p2((n, k), t, 40);
        let b = p2((m, k), false, 41);
        let u = param(d1(k), 42);
        let w = param(d1(k), 43);
        let eval = run(|tape| {
            let ua = read2(tape, &a, t).normalize();
            let ub = read2(tape, &b, false).normalize();
            let cos = cosine_similarity(&tape.param(&u.borrow()).normalize(), &tape.param(&w.borrow()).normalize());
            &(&weigh(&ua.similarity(&ub)) + &weigh(ua.as_var())) + &cos.scale(1.3)
        });
        check("normalize a", &a, &eval, 1e-6);
        check("normalize b", &b, &eval, 1e-6);
        check("cosine u", &u, &eval, 1e-6);
        check("cosine w", &w, &eval, 1e-6);
    }

    #[test]
    fn info_nce_one_directional_and_symmetric(bsz in 1usize..5, e in 1usize..5, tau_i in 0usize..3, t in any::<bool>()) {
        let tau = [0.05, 0.3, 1.0][tau_i];
        let a = p2((bsz, e), t, 50);
        let p = p2((bsz, e), false, 51);
        for symmetric in [false, true] {
            let eval = run(|tape| {
                let ua = read2(tape, &a, t).normalize();
                let up = read2(tape, &p, false).normalize();
                if symmetric { ua.info_nce_symmetric(&up, tau) } else { ua.info_nce(&up, tau) }
            });
            check("info_nce anchors", &a, &eval, 1e-5);
            check("info_nce positives", &p, &eval, 1e-5);
        }
    }
}

#[test]
fn views_record_no_node_and_their_gradient_lands_through_strides() {
    let x = Param::new(Tensor::<(D<3>, D<4>), f64>::from_fn(|[i, j]| {
        (4 * i + j) as f64
    }));
    let tape = Tape::new();
    let v = tape.param(&x);
    let s: Var<(D<2>, D<2>), f64> = v.t().slice::<0, 1, 2>().slice_as::<1, 1, D<2>>(); // xᵀ[1..3, 1..3]
    let s = s
        .unsqueeze::<0>()
        .squeeze::<0>()
        .split::<D<2>, D<1>>()
        .merge::<D<2>>();
    let r: Var<(D<2>, D<2>), f64> = s.into_shape((D, D)).unwrap();
    assert_eq!(tape.len(), 1, "only the leaf: every op above is a view");
    assert_eq!(r.value().to_vec(), [5., 9., 6., 10.]);
    let g = (&r
        * &tape.constant(Tensor::<(D<2>, D<2>), f64>::from_vec(vec![1., 2., 3., 4.]).unwrap()))
        .sum_all()
        .backward();
    let mut expected = vec![0.0; 12];
    // r[i][j] = x[1 + j][1 + i].
    for (i, j, w) in [(0, 0, 1.), (0, 1, 2.), (1, 0, 3.), (1, 1, 4.)] {
        expected[4 * (1 + j) + (1 + i)] = w;
    }
    assert_eq!(g.of(&x).unwrap().to_vec(), expected);
    // A row-major value reshapes without a node; a strided one is copied (one node).
    let before = tape.len();
    let _: Var<(D<12>,), f64> = v.reshape();
    assert_eq!(tape.len(), before);
    let _: Var<(D<12>,), f64> = v.t().reshape();
    assert_eq!(tape.len(), before + 1);
}

#[test]
fn runtime_errors_are_the_tensor_ops_messages() {
    let t = Tensor::<(Dyn, Dyn), f64>::zeros_with(d2(3, 4));
    let tape = Tape::new();
    let v = tape.constant(t.clone());
    let msg = |e: ShapeError| e.to_string();
    assert_eq!(
        msg(v.try_reshape_with(d2(5, 2)).unwrap_err()),
        msg(t.clone().try_reshape_with(d2(5, 2)).unwrap_err())
    );
    assert_eq!(
        msg(v.t().try_reshape_with(d2(5, 2)).unwrap_err()),
        msg(t.t().to_tensor().try_reshape_with(d2(5, 2)).unwrap_err())
    );
    assert_eq!(
        msg(v.into_shape(d2(4, 3)).unwrap_err()),
        msg(t.clone().into_shape(d2(4, 3)).unwrap_err())
    );
    assert!(v.to_static::<(D<3>, D<4>)>().is_ok());
    assert_eq!(
        msg(v.try_slice_with(A1, 2..6).unwrap_err()),
        msg(t.try_slice_with(A1, 2..6).unwrap_err())
    );
    assert_eq!(
        msg(v.try_squeeze::<0>().unwrap_err()),
        msg(t.try_squeeze::<0>().unwrap_err())
    );
    let o = Tensor::<(Dyn, Dyn), f64>::zeros_with(d2(2, 5));
    let ov = tape.constant(o.clone());
    assert_eq!(
        msg(v.try_concat::<0, _, Dyn>(A0, &ov).unwrap_err()),
        msg(t.try_concat::<0, _, Dyn>(A0, &o).unwrap_err())
    );
    assert_eq!(
        msg(Var::<(Dyn, Dyn, Dyn), f64>::try_stack::<0, _, Dyn>(A0, &[&v, &ov]).unwrap_err()),
        msg(Tensor::<(Dyn, Dyn, Dyn), f64>::try_stack::<0, _, Dyn>(A0, &[&t, &o]).unwrap_err())
    );
    let none: [&Var<(Dyn, Dyn), f64>; 0] = [];
    assert!(Var::<(Dyn, Dyn, Dyn), f64>::try_stack::<0, _, Dyn>(A0, &none).is_err());
}

#[test]
#[should_panic(expected = "concat: cannot combine")]
fn concat_panics_with_the_tensor_message() {
    let tape = Tape::<f64>::new();
    let a = tape.constant(Tensor::<(Dyn, D<2>), f64>::zeros_with((Dyn::new(2), D)));
    let b = tape.constant(Tensor::<(Dyn, D<3>), f64>::zeros_with((Dyn::new(3), D)));
    let _: Var<(Dyn, D<5>), f64> = a.concat(A1, &b);
}

#[test]
fn zero_norms_get_zero_gradients_and_nan_propagates() {
    let x = Param::new(Tensor::<(D<2>, D<2>), f64>::from_vec(vec![0., 0., 1., 2.]).unwrap());
    let tape = Tape::new();
    let v = tape.param(&x);
    let g = (&v.norm::<1>().sum_all() + &v.normalize().as_var().scale(2.0).sum_all()).backward();
    let g = g.of(&x).unwrap().to_vec();
    assert_eq!(&g[..2], [0., 0.], "the zero row");
    assert!(g.iter().all(|v| v.is_finite()));
    assert_eq!(
        tape.param(&x).norm_all().backward().of(&x).unwrap().len(),
        4
    );

    let y = Param::new(Tensor::<(D<1>, D<3>), f64>::from_vec(vec![1., f64::NAN, 2.]).unwrap());
    let tape = Tape::new();
    let v = tape.param(&y);
    for loss in [
        v.var::<1>().sum_all(),
        v.norm_all(),
        v.normalize().as_var().sum_all(),
        v.var_all(),
    ] {
        let g = loss.backward();
        assert!(
            g.of(&y).unwrap().to_vec().iter().all(|v| v.is_nan()),
            "{:?}",
            g.of(&y)
        );
    }
    // max_all: NaN wins, and takes the gradient.
    let g = v.max_all().backward();
    assert_eq!(g.of(&y).unwrap()[[0, 0]], 0.0);
    assert_eq!(g.of(&y).unwrap()[[0, 1]], 1.0);
}

/// InfoNCE by hand in f64: mean over rows of logsumexp(cos/τ) − cos_ii/τ, max-subtracted.
fn info_nce_reference(a: &[Vec<f64>], p: &[Vec<f64>], tau: f64) -> f64 {
    let unit = |v: &Vec<f64>| {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<_>>()
    };
    let (a, p): (Vec<_>, Vec<_>) = (a.iter().map(unit).collect(), p.iter().map(unit).collect());
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    let mut total = 0.0;
    for i in 0..a.len() {
        let l: Vec<f64> = p.iter().map(|pj| dot(&a[i], pj) / tau).collect();
        let m = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        total += m + l.iter().map(|x| (x - m).exp()).sum::<f64>().ln() - l[i];
    }
    total / a.len() as f64
}

#[test]
fn info_nce_is_stable_at_small_temperatures_and_checks_its_arguments() {
    dim!(pub Batch = 3; pub Emb = 4);
    let a = Param::new(Tensor::<(Batch, Emb), f64>::randn(60));
    let p = Param::new(Tensor::<(Batch, Emb), f64>::randn(61));
    let rows = |t: &Tensor<(Batch, Emb), f64>| -> Vec<Vec<f64>> {
        t.as_slice().chunks(4).map(|r| r.to_vec()).collect()
    };
    for tau in [1e-4, 1e-2, 0.05, 1.0] {
        let tape = Tape::new();
        let ua: UnitVar<(Batch, Emb), f64> = tape.param(&a).normalize();
        let loss = ua.info_nce(&tape.param(&p).normalize(), tau);
        let expected = info_nce_reference(&rows(a.value()), &rows(p.value()), tau);
        assert!(
            (loss.item() - expected).abs() <= 1e-9 * (1.0 + expected.abs()),
            "τ = {tau}: {} vs {expected}",
            loss.item()
        );
        let g = loss.backward();
        assert!(g.of(&a).unwrap().to_vec().iter().all(|v| v.is_finite()));
        assert!(g.of(&p).unwrap().to_vec().iter().all(|v| v.is_finite()));
    }
    // f32 at τ = 1e-4: logits of ±1e4, still finite.
    let a32 = Param::new(Tensor::<(Batch, Emb), f32>::randn(62));
    let tape = Tape::new();
    let u = tape.param(&a32).normalize();
    let loss = u.info_nce_symmetric(&u, 1e-4);
    assert!(loss.item().is_finite());
    assert!(loss
        .backward()
        .of(&a32)
        .unwrap()
        .to_vec()
        .iter()
        .all(|v| v.is_finite()));

    let tape = Tape::<f64>::new();
    let u = tape.param(&a).normalize();
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = u.try_info_nce(&u, bad).unwrap_err().to_string();
        assert!(
            err.contains("tau") && err.contains("finite and greater than 0"),
            "{err}"
        );
    }
    let x = tape
        .constant(Tensor::<(Dyn, Dyn), f64>::randn_with(d2(3, 4), 1))
        .normalize();
    let y = tape
        .constant(Tensor::<(Dyn, Dyn), f64>::randn_with(d2(4, 4), 2))
        .normalize();
    let err = x.try_info_nce_symmetric(&y, 0.1).unwrap_err().to_string();
    assert!(err.contains("same size"), "{err}");
}

#[test]
fn normalize_gradients_are_finite_at_both_ends_of_the_range() {
    // x = s·[3, 4], g = [1, 0]: dx = ([1, 0] − 0.6·[0.6, 0.8]) / (5s) = [0.128, −0.096] / s.
    for s in [1e19f32, 1e-30] {
        let x = Param::new(Tensor::<(D<2>,), f32>::from_vec(vec![3.0 * s, 4.0 * s]).unwrap());
        let tape = Tape::new();
        let u = tape.param(&x).normalize();
        let e = tape.constant_unit(
            Tensor::<(D<2>,), f32>::from_vec(vec![1.0, 0.0])
                .unwrap()
                .normalize(),
        );
        let cos = cosine_similarity(&u, &e);
        assert!((cos.item() - 0.6).abs() < 1e-6, "s = {s:e}: {}", cos.item());
        let g = cos.backward();
        let g = g.of(&x).unwrap().to_vec();
        for (got, want) in g.iter().zip([0.128 / s, -0.096 / s]) {
            assert!(
                got.is_finite() && ((got - want) / want).abs() < 1e-5,
                "s = {s:e}: {g:?}"
            );
        }
    }
}

#[test]
fn info_nce_against_constant_unit_positives() {
    // Traced anchors against fixed (untraced) document embeddings.
    let a = param(d2(3, 4), 70);
    let docs = Tensor::<(Dyn, Dyn), f64>::randn_with(d2(3, 4), 71).normalize();
    let eval = run(|tape| {
        let anchors = tape.param(&a.borrow()).normalize();
        anchors.info_nce(&tape.constant_unit(docs.clone()), 0.1)
    });
    check("info_nce vs constant units", &a, &eval, 1e-5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// `rearrange!` on a `Var`: the tensor form's value, and gradients through a split
    /// group, a permutation, a merge and a runtime-dim transpose, on stored and `.t()` inputs.
    #[test]
    fn traced_rearrange(a in small(), b in small(), t in any::<bool>()) {
        let xt = param((D::<6>, D::<2>), 11);
        let x2 = param((D::<2>, D::<6>), 11);
        let y = p2((a, b), t, 12);
        let eval = run(|tape| {
            let v: Var<(D<2>, D<6>), f64> = if t { tape.param(&xt.borrow()).t() } else { tape.param(&x2.borrow()) };
            let h: Var<(D<3>, D<2>, D<2>), f64> = rearrange!(v, "s (h d) -> h d s", h = D<3>);
            let want: Tensor<(D<3>, D<2>, D<2>), f64> = rearrange!(v.value(), "s (h d) -> h d s", h = D<3>);
            assert_eq!(h.value().to_vec(), want.into_vec());
            let m: Var<(D<2>, D<6>), f64> = rearrange!(&h, "h d s -> s (d h)");
            let w = read2(tape, &y, t);
            let wt: V2 = rearrange!(w, "a b -> b a");
            &(&weigh(&h.exp()) + &weigh(&m)) + &weigh(&wt.tanh())
        });
        if t { check("rearrange of vᵀ", &xt, &eval, 1e-6) } else { check("rearrange", &x2, &eval, 1e-6) }
        check("rearrange of a runtime-dim transpose", &y, &eval, 1e-6);
    }
}
