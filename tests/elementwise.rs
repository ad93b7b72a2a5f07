//! Broadcasting ops, reductions, softmax, norms, reshapes and unit vectors against naive
//! references, on random runtime shapes (dims of 1 included) and non-contiguous layouts.

mod common;

use common::{layer_norm_ref, log_softmax_ref, prop_close, rms_norm_ref, softmax_ref, variance};
use proptest::prelude::*;
use shapecheck::prelude::*;

type T3 = Tensor<(Dyn, Dyn, Dyn), f64>;

fn t3(d: [usize; 3], seed: u64) -> T3 {
    Tensor::randn_with((Dyn::new(d[0]), Dyn::new(d[1]), Dyn::new(d[2])), seed)
}

/// A size and, half the time, 1 instead (so it broadcasts).
fn dims_pair() -> impl Strategy<Value = ([usize; 3], [usize; 3])> {
    (
        prop::array::uniform3(1usize..6),
        prop::array::uniform3(any::<bool>()),
        prop::array::uniform3(any::<bool>()),
    )
        .prop_map(|(d, ones_a, ones_b)| {
            let a = [0, 1, 2].map(|k| if ones_a[k] { 1 } else { d[k] });
            let b = [0, 1, 2].map(|k| if ones_b[k] && !ones_a[k] { 1 } else { d[k] });
            (a, b)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn broadcasting_ops_match_naive((da, db) in dims_pair(), transpose in any::<bool>()) {
        let a = t3(da, 1);
        // The right operand, stored transposed in its last two axes half the time.
        let b_store = t3(if transpose { [db[0], db[2], db[1]] } else { db }, 2);
        let b = if transpose { b_store.t() } else { b_store.view() };
        let out = [0, 1, 2].map(|k| da[k].max(db[k]));
        for (op, f) in [("add", (|x, y| x + y) as fn(f64, f64) -> f64), ("sub", |x, y| x - y), ("mul", |x, y| x * y), ("div", |x, y| x / y)] {
            let c = match op {
                "add" => a.try_add(&b),
                "sub" => a.try_sub(&b),
                "mul" => a.try_mul(&b),
                _ => a.try_div(&b),
            }.unwrap();
            prop_assert_eq!(c.dims().to_vec(), out.to_vec());
            for i in 0..out[0] { for j in 0..out[1] { for k in 0..out[2] {
                let x = a[[i % da[0], j % da[1], k % da[2]]];
                let y = b[[i % db[0], j % db[1], k % db[2]]];
                prop_assert_eq!(c[[i, j, k]], f(x, y), "{} at {:?}", op, (i, j, k));
            }}}
        }
        // Operators agree with the methods, and `+=` with a broadcastable right side.
        let c = &a + &b;
        prop_assert_eq!(&c, &a.try_add(&b).unwrap());
    }

    #[test]
    fn incompatible_runtime_dims_are_errors(n in 2usize..6, m in 2usize..6) {
        prop_assume!(n != m);
        let a = Tensor::<(Dyn,), f64>::zeros_with((Dyn::new(n),));
        let b = Tensor::<(Dyn,), f64>::zeros_with((Dyn::new(m),));
        prop_assert!(a.try_add(&b).is_err());
    }

    #[test]
    fn reductions_match_naive(d in prop::array::uniform3(1usize..7), permuted in any::<bool>()) {
        let stored = t3(d, 3);
        // A permuted view: logical dims (d1, d0, d2).
        let v = if permuted { stored.permute((A1, A0, A2)) } else { stored.view() };
        let ld = v.dims();
        let (s, mean, mx, mn, var, nrm, am) =
            (v.sum::<1>(), v.mean::<1>(), v.max::<1>(), v.min::<1>(), v.var::<1>(), v.norm::<1>(), v.argmax::<1>());
        for i in 0..ld[0] { for k in 0..ld[2] {
            let lane: Vec<f64> = (0..ld[1]).map(|j| v[[i, j, k]]).collect();
            let m = common::mean(&lane);
            prop_assert!((s[[i, k]] - lane.iter().sum::<f64>()).abs() < 1e-12);
            prop_assert!((mean[[i, k]] - m).abs() < 1e-12);
            prop_assert_eq!(mx[[i, k]], lane.iter().cloned().fold(f64::MIN, f64::max));
            prop_assert_eq!(mn[[i, k]], lane.iter().cloned().fold(f64::MAX, f64::min));
            prop_assert!((var[[i, k]] - variance(&lane)).abs() < 1e-12);
            prop_assert!((nrm[[i, k]] - lane.iter().map(|x| x * x).sum::<f64>().sqrt()).abs() < 1e-12);
            prop_assert_eq!(lane[am[[i, k]]], mx[[i, k]]);
        }}
        // keepdim forms hold the same values with a size-1 axis.
        prop_assert_eq!(v.sum_keepdim::<2>().into_vec(), v.sum::<2>().into_vec());
        prop_assert_eq!(v.sum_keepdim::<2>().dims().to_vec(), vec![ld[0], ld[1], 1]);
        prop_assert!((v.sum_all() - stored.as_slice().iter().sum::<f64>()).abs() < 1e-10);
    }

    #[test]
    fn softmax_rows_sum_to_one_and_ignore_shifts(d in prop::array::uniform3(1usize..9), shift in -50.0f32..50.0) {
        let x = Tensor::<(Dyn, Dyn, Dyn), f32>::randn_with((Dyn::new(d[0]), Dyn::new(d[1]), Dyn::new(d[2])), 4);
        let p = x.softmax::<2>();
        for row in p.as_slice().chunks(d[2]) {
            let s: f32 = row.iter().sum();
            prop_assert!((s - 1.0).abs() < 1e-6, "row sums to {}", s);
            prop_assert!(row.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
        let shifted = (&x + shift).softmax::<2>();
        for (a, b) in p.as_slice().iter().zip(shifted.as_slice()) {
            prop_assert!((a - b).abs() < 1e-5);
        }
        // Along a middle axis too: every (i, ·, k) lane sums to 1.
        let q = x.softmax::<1>();
        for i in 0..d[0] { for k in 0..d[2] {
            let s: f32 = (0..d[1]).map(|j| q[[i, j, k]]).sum();
            prop_assert!((s - 1.0).abs() < 1e-6);
        }}
        // log_softmax is the log of softmax.
        let lp = x.log_softmax::<2>();
        for (a, b) in lp.as_slice().iter().zip(p.as_slice()) {
            prop_assert!((a.exp() - b).abs() < 1e-6);
        }
        // Both against the f64 references, lane by lane.
        for ((lane, row), log_row) in x.as_slice().chunks(d[2]).zip(p.as_slice().chunks(d[2])).zip(lp.as_slice().chunks(d[2])) {
            let lane: Vec<f64> = lane.iter().map(|&v| v as f64).collect();
            prop_close(row, &softmax_ref(&lane), 1e-5, 1e-6)?;
            prop_close(log_row, &log_softmax_ref(&lane), 1e-5, 1e-5)?;
        }
    }

    #[test]
    fn layer_norm_and_rms_norm_match_naive(rows in 1usize..6, n in 1usize..40) {
        let sh = (Dyn::new(rows), Dyn::new(n));
        let x = Tensor::<(Dyn, Dyn), f64>::randn_with(sh, 5);
        let w = Tensor::<(Dyn,), f64>::randn_with((Dyn::new(n),), 6);
        let b = Tensor::<(Dyn,), f64>::randn_with((Dyn::new(n),), 7);
        let y = x.layer_norm(&w, &b, 1e-5);
        let z = x.rms_norm(&w, 1e-6);
        for i in 0..rows {
            let r = &x.as_slice()[i * n..(i + 1) * n];
            let e = layer_norm_ref(r, w.as_slice(), b.as_slice(), 1e-5);
            prop_close(&y.as_slice()[i * n..(i + 1) * n], &e, 0.0, 1e-10)?;
            let e2 = rms_norm_ref(r, w.as_slice(), 1e-6);
            prop_close(&z.as_slice()[i * n..(i + 1) * n], &e2, 0.0, 1e-10)?;
        }
    }

    #[test]
    fn reshape_round_trips(a in 1usize..8, b in 1usize..8) {
        let x = Tensor::<(Dyn, Dyn), f32>::randn_with((Dyn::new(a), Dyn::new(b)), 8);
        let flat = x.clone().try_reshape_with((Dyn::new(a * b),)).unwrap();
        let back = flat.try_reshape_with((Dyn::new(a), Dyn::new(b))).unwrap();
        prop_assert_eq!(&back, &x);
        prop_assert!(x.try_reshape_with((Dyn::new(a * b + 1),)).is_err());
    }

    #[test]
    fn normalize_gives_unit_rows(rows in 1usize..6, n in 1usize..20, zero_row in 0usize..6) {
        let mut x = Tensor::<(Dyn, Dyn), f64>::randn_with((Dyn::new(rows), Dyn::new(n)), 9);
        if zero_row < rows {
            for j in 0..n { x[[zero_row, j]] = 0.0; }
        }
        let u = x.normalize();
        let norms = u.as_tensor().norm::<1>();
        for i in 0..rows {
            let expect = if i == zero_row { 0.0 } else { 1.0 };
            prop_assert!((norms[[i]] - expect).abs() < 1e-12);
        }
    }
}

#[test]
fn softmax_extremes_give_no_nan() {
    let x = Tensor::<(D<2>, D<4>)>::from_vec(vec![
        1e4,
        -1e4,
        0.0,
        1e4, //
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
    ])
    .unwrap();
    let p = x.softmax::<1>();
    assert!(p.as_slice().iter().all(|v| v.is_finite()));
    assert_eq!(p.as_slice(), &[0.5, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0]);
    let lp = x.log_softmax::<1>();
    assert!((lp[[0, 0]] - (0.5f32).ln()).abs() < 1e-6);
    assert_eq!(lp[[1, 2]], f32::NEG_INFINITY);
}

#[test]
fn typed_broadcasts_compile_and_compute() {
    dim!(pub Batch; pub Heads = 2; pub Seq = 3);
    // NumPy's example: (32, 768) - (768,)
    let x = Tensor::<(D<32>, D<768>)>::randn(1);
    let mu = x.mean::<0>();
    let c = &x - &mu;
    assert!(c.mean::<0>().as_slice().iter().all(|v| v.abs() < 1e-5));
    // Scores plus a padding mask.
    let b = Batch::new(2);
    let scores = Tensor::<(Batch, Heads, Seq, Seq)>::zeros_with((b, Heads, Seq, Seq));
    let mask = Tensor::<(Batch, D<1>, D<1>, Seq)>::from_fn_with((b, D, D, Seq), |[bi, _, _, k]| {
        if k >= 2 - bi {
            f32::NEG_INFINITY
        } else {
            0.0
        }
    });
    let p = (&scores + &mask).softmax::<3>();
    assert_eq!(p[[0, 1, 2, 0]], 0.5);
    assert_eq!(p[[1, 0, 0, 0]], 1.0);
    // In place, with a right side that broadcasts to the left.
    let mut y = Tensor::<(Seq, Heads)>::ones();
    y += &Tensor::<(Heads,)>::from_vec(vec![1.0, 2.0]).unwrap();
    y *= 2.0;
    assert_eq!(y.as_slice(), &[4.0, 6.0, 4.0, 6.0, 4.0, 6.0]);
}

#[test]
fn activations_match_definitions() {
    let x = Tensor::<(D<5>,), f64>::from_vec(vec![-3.0, -0.5, 0.0, 0.5, 3.0]).unwrap();
    let g = x.gelu();
    // gelu(x) = x Φ(x); Φ(0.5) = 0.691462461274013, Φ(3) = 0.998650101968370.
    assert!((g[[3]] - 0.5 * 0.691_462_461_274_013).abs() < 1e-12);
    assert!((g[[4]] - 3.0 * 0.998_650_101_968_370).abs() < 1e-12);
    assert!((x.gelu_tanh()[[3]] - g[[3]]).abs() < 1e-3);
    assert_eq!(x.relu().as_slice(), &[0.0, 0.0, 0.0, 0.5, 3.0]);
    assert!((x.sigmoid()[[2]] - 0.5).abs() < 1e-15);
    assert!((x.silu()[[4]] - 3.0 / (1.0 + (-3.0f64).exp())).abs() < 1e-15);
}

/// Softmax and log-softmax along the last axis, split over threads in blocks of whole rows,
/// give every row the bits that row gives on its own on one thread (row counts that do and do
/// not divide evenly into the blocks).
#[test]
fn softmax_rows_do_not_depend_on_threads() {
    for (rows, n) in [(1024, 512), (1037, 129)] {
        let x = Tensor::<(Dyn, Dyn), f32>::randn_with((Dyn::new(rows), Dyn::new(n)), 21);
        for log in [false, true] {
            let run = |t: &Tensor<(Dyn, Dyn), f32>| {
                if log {
                    t.log_softmax_last()
                } else {
                    t.softmax_last()
                }
            };
            let split = shapecheck::with_threads(2, || run(&x));
            let serial = shapecheck::with_threads(1, || run(&x));
            assert!(
                split.as_slice() == serial.as_slice(),
                "{rows}×{n}, log {log}: 2 threads differ from 1"
            );
            for (r, got) in split.as_slice().chunks_exact(n).enumerate() {
                let row = Tensor::<(Dyn, Dyn), f32>::from_vec_with(
                    (Dyn::new(1), Dyn::new(n)),
                    x.as_slice()[r * n..(r + 1) * n].to_vec(),
                )
                .unwrap();
                let alone = shapecheck::with_threads(1, || run(&row));
                assert!(
                    got == alone.as_slice(),
                    "row {r} of {rows}×{n}, log {log}: differs from the row alone"
                );
            }
        }
    }
}
