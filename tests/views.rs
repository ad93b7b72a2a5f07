//! Views take what tensors take: every method of the `Elementwise`, `Reductions`,
//! `Activations` and `Norms` traits, and the scalar and elementwise operators, give on a
//! strided (permuted, transposed, sliced) view what they give on its `.to_tensor()` copy,
//! and on a contiguous view exactly what they give on the tensor.

use proptest::prelude::*;
use shapecheck::prelude::*;

type T3 = Tensor<(Dyn, Dyn, Dyn), f64>;

fn t3(d: [usize; 3], seed: u64) -> T3 {
    Tensor::randn_with((Dyn::new(d[0]), Dyn::new(d[1]), Dyn::new(d[2])), seed)
}

/// Equal up to the rounding of a different summation order.
fn close<S: Shape>(a: &Tensor<S, f64>, b: &Tensor<S, f64>, what: &str) {
    if let Err(e) = a.check_close(b, 1e-12, 1e-12) {
        panic!("{what}: {e}");
    }
}

fn check_all(v: &TensorView<'_, (Dyn, Dyn, Dyn), f64>) {
    let c = v.to_tensor();
    let n = v.dims()[2];
    // Scalar and elementwise operators, views and tensors in every combination.
    close(&(v * 2.0), &(&c * 2.0), "view * 2");
    close(&(2.0 * v), &(2.0 * &c), "2 * view");
    close(&(v.clone() + 1.0), &(&c + 1.0), "view + 1");
    close(&(1.0 - v.clone()), &(1.0 - &c), "1 - view");
    close(&(v / 3.0), &(&c / 3.0), "view / 3");
    close(&(-v), &(-&c), "-view");
    close(&(v + &c), &(&c + &c), "view + tensor");
    let d = c.map(|x| 0.5 * x + 2.0);
    close(&(&d - v), &(&d - &c), "tensor - view");
    close(&(v.clone() * v.clone()), &(&c * &c), "view * view");
    close(&(d.clone() / v.clone()), &(&d / &c), "tensor / view");
    close(&v.try_add(&c).unwrap(), &c.try_add(&c).unwrap(), "try_add");
    close(
        &v.zip_map(v, |a, b| a.max(b * 0.5)),
        &c.zip_map(&c, |a, b| a.max(b * 0.5)),
        "zip_map",
    );
    // Math functions.
    close(&v.exp(), &c.exp(), "exp");
    close(&v.abs(), &c.abs(), "abs");
    close(&(v.abs() + 0.5).ln(), &(c.abs() + 0.5).ln(), "ln");
    close(&v.abs().sqrt(), &c.abs().sqrt(), "sqrt");
    close(&v.powi(3), &c.powi(3), "powi");
    close(&v.clamp(-0.5, 0.5), &c.clamp(-0.5, 0.5), "clamp");
    close(&v.map(|x| x * x - 1.0), &c.map(|x| x * x - 1.0), "map");
    // Activations.
    close(&v.relu(), &c.relu(), "relu");
    close(&v.gelu(), &c.gelu(), "gelu");
    close(&v.gelu_tanh(), &c.gelu_tanh(), "gelu_tanh");
    close(&v.silu(), &c.silu(), "silu");
    close(&v.sigmoid(), &c.sigmoid(), "sigmoid");
    close(&v.tanh(), &c.tanh(), "tanh");
    close(&v.softmax::<0>(), &c.softmax::<0>(), "softmax 0");
    close(&v.softmax::<1>(), &c.softmax::<1>(), "softmax 1");
    close(&v.softmax::<2>(), &c.softmax::<2>(), "softmax 2");
    close(&v.softmax_last(), &c.softmax::<2>(), "softmax_last");
    close(
        &v.log_softmax::<1>(),
        &c.log_softmax::<1>(),
        "log_softmax 1",
    );
    close(
        &v.log_softmax_last(),
        &c.log_softmax::<2>(),
        "log_softmax_last",
    );
    // Reductions.
    close(&v.sum::<0>(), &c.sum::<0>(), "sum 0");
    close(&v.sum::<1>(), &c.sum::<1>(), "sum 1");
    close(&v.sum::<2>(), &c.sum::<2>(), "sum 2");
    close(&v.sum_last(), &c.sum::<2>(), "sum_last");
    close(&v.sum_keepdim::<1>(), &c.sum_keepdim::<1>(), "sum_keepdim");
    close(&v.mean::<2>(), &c.mean::<2>(), "mean");
    close(
        &v.mean_keepdim::<0>(),
        &c.mean_keepdim::<0>(),
        "mean_keepdim",
    );
    close(&v.mean_last(), &c.mean::<2>(), "mean_last");
    close(&v.max::<1>(), &c.max::<1>(), "max");
    close(&v.max_last(), &c.max::<2>(), "max_last");
    close(&v.min::<0>(), &c.min::<0>(), "min");
    close(&v.min_last(), &c.min::<2>(), "min_last");
    close(&v.var::<2>(), &c.var::<2>(), "var");
    close(&v.var_last(), &c.var::<2>(), "var_last");
    close(&v.norm::<1>(), &c.norm::<1>(), "norm");
    close(
        &v.norm_keepdim::<2>(),
        &c.norm_keepdim::<2>(),
        "norm_keepdim",
    );
    close(&v.norm_last(), &c.norm::<2>(), "norm_last");
    assert_eq!(v.argmax::<1>().as_slice(), c.argmax::<1>().as_slice());
    assert_eq!(v.argmax_last().as_slice(), c.argmax::<2>().as_slice());
    let (s, sc) = (v.sum_all(), c.sum_all());
    assert!((s - sc).abs() <= 1e-12 * (1.0 + sc.abs()));
    assert_eq!(v.max_all(), c.max_all());
    assert_eq!(v.min_all(), c.min_all());
    assert!((v.mean_all() - c.mean_all()).abs() <= 1e-12);
    // Norms, with runtime weights.
    let w = Tensor::<(Dyn,), f64>::randn_with((Dyn::new(n),), 11);
    let b = Tensor::<(Dyn,), f64>::randn_with((Dyn::new(n),), 12);
    close(
        &v.layer_norm(&w, &b, 1e-5),
        &c.layer_norm(&w, &b, 1e-5),
        "layer_norm",
    );
    close(&v.rms_norm(&w, 1e-6), &c.rms_norm(&w, 1e-6), "rms_norm");
    close(
        v.normalize().as_tensor(),
        c.normalize().as_tensor(),
        "normalize",
    );
    // Conversions and comparisons.
    close(
        &v.cast::<f32>().cast::<f64>(),
        &c.cast::<f32>().cast(),
        "cast",
    );
    assert!(v.approx_eq(&c, 0.0, 0.0));
    assert!(c.approx_eq(v, 0.0, 0.0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn permuted_views_match_their_copies(d in prop::array::uniform3(1usize..7), seed in 0u64..1000) {
        let x = t3(d, seed);
        check_all(&x.permute((A2, A0, A1)));
        check_all(&x.permute((A1, A2, A0)));
        check_all(&x.t());
    }

    #[test]
    fn sliced_views_match_their_copies(
        d in prop::array::uniform3(2usize..7),
        seed in 0u64..1000,
        start in 0usize..2,
    ) {
        let x = t3(d, seed);
        let v = x.try_slice_with(A2, start..d[2]).unwrap();
        prop_assert!(!v.is_contiguous() || d[0] * d[1] == 1 || start == 0);
        check_all(&v);
        let v = x.try_slice_with(A0, start..d[0]).unwrap();
        check_all(&v);
    }
}

#[test]
fn contiguous_views_run_the_tensor_code_exactly() {
    let x = t3([3, 4, 37], 5);
    let v = x.view();
    assert!(v.is_contiguous());
    assert_eq!(v.exp(), x.exp());
    assert_eq!(v.sum::<2>(), x.sum::<2>());
    assert_eq!(v.sum_all(), x.sum_all());
    assert_eq!(v.norm_last(), x.norm::<2>());
    assert_eq!(v.softmax_last(), x.softmax::<2>());
    let (w, b) = (
        Tensor::<(Dyn,), f64>::ones_with((Dyn::new(37),)),
        Tensor::<(Dyn,), f64>::zeros_with((Dyn::new(37),)),
    );
    assert_eq!(v.layer_norm(&w, &b, 1e-5), x.layer_norm(&w, &b, 1e-5));
    assert_eq!(v.rms_norm(&w, 1e-5), x.rms_norm(&w, 1e-5));
    assert_eq!(v * 2.0, &x * 2.0);
    let mut y = x.clone();
    let m = y.view_mut();
    assert_eq!(m.exp(), x.exp());
    assert_eq!(m.sum::<0>(), x.sum::<0>());
}

#[test]
fn static_views_read_like_numpy() {
    dim!(pub Seq = 3; pub DModel = 4);
    let x = Tensor::<(Seq, DModel)>::from_fn(|[i, j]| (i * 4 + j) as f32 - 5.0);
    let xt = x.t(); // (DModel, Seq)
    let y: Tensor<(DModel, Seq)> = &xt * 2.0;
    assert_eq!(y[[3, 2]], 2.0 * x[[2, 3]]);
    let e: Tensor<(DModel, Seq)> = xt.exp();
    assert_eq!(e[[1, 0]], x[[0, 1]].exp());
    let s: Tensor<(Seq,)> = xt.sum::<0>();
    assert_eq!(s, x.sum::<1>());
    let p: Tensor<(DModel, Seq)> = xt.softmax_last();
    assert!(p
        .sum_last()
        .approx_eq(&Tensor::<(DModel,)>::ones(), 1e-6, 0.0));
    let u: Unit<(DModel, Seq)> = xt.normalize();
    assert!(u
        .as_tensor()
        .norm_last()
        .approx_eq(&Tensor::ones(), 1e-6, 0.0));
    let w = Tensor::<(Seq,)>::ones();
    let b = Tensor::<(Seq,)>::zeros();
    let ln: Tensor<(DModel, Seq)> = xt.layer_norm(&w, &b, 1e-5);
    assert!(ln.approx_eq(&xt.to_tensor().layer_norm(&w, &b, 1e-5), 0.0, 0.0));
}

#[test]
fn eye_cast_and_approx_eq() {
    dim!(pub N = 4);
    let i = Tensor::<(N, N), f64>::eye();
    let a = Tensor::<(N, N), f64>::randn(3);
    assert_eq!(a.matmul(&i), a);
    assert_eq!(i.matmul(&a.t()), a.t().to_tensor());
    let id = Tensor::<(Dyn, Dyn)>::eye_with(Dyn::new(3));
    assert_eq!(id.as_slice(), &[1., 0., 0., 0., 1., 0., 0., 0., 1.]);
    assert_eq!(id.sum_all(), 3.0);

    let a32: Tensor<(N, N)> = a.cast();
    assert!(a32.cast::<f64>().approx_eq(&a, 1e-7, 0.0));
    assert!(
        !a32.cast::<f64>().approx_eq(&a, 0.0, 0.0)
            || a.as_slice().iter().all(|x| (*x as f32) as f64 == *x)
    );

    let b = a.map(|x| x + 1e-9);
    assert!(b.approx_eq(&a, 0.0, 1e-8));
    let mut c = a.clone();
    c[[2, 1]] += 1.0;
    c[[0, 3]] += 0.5;
    match c.check_close(&a, 0.0, 1e-8) {
        Err(NotCloseElem { index, .. }) => assert_eq!(index, vec![2, 1]),
        other => panic!("{other:?}"),
    }
    let d = Tensor::<(Dyn,)>::zeros_with((Dyn::new(2),));
    let e = Tensor::<(Dyn,)>::zeros_with((Dyn::new(3),));
    assert!(!d.approx_eq(&e, 1.0, 1.0));
    assert_eq!(
        d.check_close(&e, 1.0, 1.0).unwrap_err().to_string(),
        "not close: the shapes differ, (Dyn=2,) and (Dyn=3,)"
    );
}

use shapecheck::ops::NotClose::Element as NotCloseElem;
