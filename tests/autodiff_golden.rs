//! Traced values and gradients against PyTorch autograd, from the committed fixture
//! `tests/fixtures/autodiff/ops.safetensors` (written by `scripts/golden_autodiff_ops.py`,
//! whose cases this file mirrors one for one; PyTorch is not needed to run it).
//!
//! Every case loads its inputs, runs the traced op, compares the output with PyTorch's, takes
//! the loss `Σ out ⊙ r` with the fixture's random `r`, and compares the gradient of every
//! traced input with PyTorch's `.grad`. Inputs that PyTorch reads transposed (`b.T`) are
//! stored transposed and read here through `.t()`, so those gradients arrive through strides.
//!
//! Tolerance: `|ours − torch| ≤ rtol·|torch| + rtol·max|torch|`, the max over the tensor
//! compared, with `rtol` = 1e-5 in f32 and 1e-10 in f64. The absolute floor `rtol·max|torch|`
//! is there because an element that is a sum of terms (a gradient with cancellation, a
//! softmax's near-zero tail) carries a rounding error of order ε times those terms, not
//! times itself; in these small cases the terms are bounded by the tensor's largest element,
//! so the floor admits that rounding and nothing a wrong gradient would give (a missing
//! broadcast sum, a transposed gradient or a wrong derivative is off by O(max|torch|)).

use shapecheck::autodiff::cosine_similarity;
use shapecheck::io::SafeTensors;
use shapecheck::prelude::*;
use shapecheck::shape::BroadcastShapes;

type S1 = (Dyn,);
type S2 = (Dyn, Dyn);
type S3 = (Dyn, Dyn, Dyn);

/// The cross-entropy targets of the script's `CE_TARGETS`.
const CE_TARGETS: [usize; 4] = [1, 4, 0, 2];
/// The script's InfoNCE temperature.
const TAU: f64 = 0.05;

fn fixture() -> SafeTensors {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/autodiff/ops.safetensors"
    );
    SafeTensors::open(path).expect("the committed fixture loads")
}

/// One case of the fixture in one dtype.
struct Case<'a> {
    st: &'a SafeTensors,
    key: String,
    rtol: f64,
    compared: &'a std::cell::Cell<usize>,
    /// The largest `|ours − torch| / bound` seen, and where.
    worst: &'a std::cell::RefCell<(f64, String)>,
}

impl Case<'_> {
    /// Tensor `part` of this case, in the shape `S` built from the file's dims.
    fn tensor<S: Shape, T: Float>(&self, part: &str) -> Tensor<S, T> {
        let name = format!("{}.{part}", self.key);
        let info = self
            .st
            .info(&name)
            .unwrap_or_else(|| panic!("{name} is in the fixture"));
        let shape = S::from_dims(&info.shape)
            .unwrap_or_else(|| panic!("{name}: dims {:?} fit the shape type", info.shape));
        self.st.load_with(&name, shape).unwrap()
    }

    fn param<S: Shape, T: Float>(&self, i: usize) -> Param<S, T> {
        Param::new(self.tensor(&format!("in{i}")))
    }

    fn constant<'t, S: Shape, T: Float>(&self, tape: &'t Tape<T>, i: usize) -> Var<'t, S, T> {
        tape.constant(self.tensor(&format!("in{i}")))
    }

    fn compare<T: Float>(&self, what: &str, got: &[T], want: &[T]) {
        assert_eq!(got.len(), want.len(), "{}: {what}: lengths", self.key);
        let scale = want.iter().fold(0.0f64, |m, w| m.max(w.to_f64().abs()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let (g, w) = (g.to_f64(), w.to_f64());
            let bound = self.rtol * (w.abs() + scale);
            let mut worst = self.worst.borrow_mut();
            if bound > 0.0 && (g - w).abs() / bound > worst.0 {
                *worst = ((g - w).abs() / bound, self.key.clone());
            }
            assert!(
                (g - w).abs() <= bound,
                "{}: {what}[{i}]: ours {g:e}, torch {w:e} (rtol {:e})",
                self.key,
                self.rtol
            );
        }
        self.compared.set(self.compared.get() + 1);
    }

    /// Compares `out` with the fixture's; returns the loss `Σ out ⊙ r`.
    fn out<'t, S, T>(&self, out: &Var<'t, S, T>) -> Var<'t, (), T>
    where
        S: Shape + BroadcastShapes<S, Output = S>,
        T: Float,
    {
        let want: Tensor<S, T> = self.tensor("out");
        assert_eq!(
            want.dims().as_slice(),
            out.shape().dims().as_slice(),
            "{}: out dims",
            self.key
        );
        self.compare("out", &out.value().to_vec(), want.as_slice());
        let r: Tensor<S, T> = self.tensor("r");
        (out * &out.tape().constant(r)).sum_all()
    }

    /// Compares the gradient of input `i` with PyTorch's.
    fn grad<S: Shape, T: Float>(&self, grads: &Gradients<T>, p: &Param<S, T>, i: usize) {
        let want: Tensor<S, T> = self.tensor(&format!("grad{i}"));
        let got = grads
            .of(p)
            .unwrap_or_else(|| panic!("{}: input {i} has a gradient", self.key));
        self.compare(&format!("grad{i}"), &got.to_vec(), want.as_slice());
    }
}

/// A case whose inputs are all traced parameters of one shape type `S` and whose op maps
/// them to an output of shape `O`.
fn uniform<S, O, T, const N: usize>(
    c: &Case<'_>,
    op: impl for<'t> Fn([Var<'t, S, T>; N]) -> Var<'t, O, T>,
) where
    S: Shape,
    O: Shape + BroadcastShapes<O, Output = O>,
    T: Float,
{
    let ps: [Param<S, T>; N] = core::array::from_fn(|i| c.param(i));
    let tape = Tape::new();
    let loss = c.out(&op(core::array::from_fn(|i| tape.param(&ps[i]))));
    let grads = loss.backward();
    for (i, p) in ps.iter().enumerate() {
        c.grad(&grads, p, i);
    }
}

fn all_cases<T: Float>(st: &SafeTensors, dt: &str, rtol: f64) -> usize {
    let compared = std::cell::Cell::new(0);
    let worst = std::cell::RefCell::new((0.0, String::new()));
    let case = |name: &str| Case {
        st,
        key: format!("{name}.{dt}"),
        rtol,
        compared: &compared,
        worst: &worst,
    };
    let eps = T::from_f64(1e-5);

    // matmul
    uniform::<S2, _, T, 2>(&case("matmul_2d"), |[a, b]| a.matmul(&b));
    uniform::<S2, _, T, 2>(&case("matmul_t"), |[a, b]| a.matmul(&b.t()));
    uniform::<S3, _, T, 2>(&case("matmul_batched"), |[x, y]| x.matmul(&y.t()));
    {
        let c = case("matmul_shared");
        let (x, w) = (c.param::<S3, T>(0), c.param::<S2, T>(1));
        let tape = Tape::new();
        let g = c.out(&tape.param(&x).matmul(&tape.param(&w))).backward();
        c.grad(&g, &x, 0);
        c.grad(&g, &w, 1);
    }
    {
        let c = case("matvec");
        let (a, v) = (c.param::<S2, T>(0), c.param::<S1, T>(1));
        let tape = Tape::new();
        let g = c.out(&tape.param(&a).matmul(&tape.param(&v))).backward();
        c.grad(&g, &a, 0);
        c.grad(&g, &v, 1);
    }

    // broadcasting elementwise
    {
        let c = case("broadcast");
        let (x, b) = (c.param::<S3, T>(0), c.param::<S1, T>(1));
        let (m, z) = (c.param::<S3, T>(2), c.param::<S3, T>(3));
        let tape = Tape::new();
        let (xv, bv, mv, zv) = (
            tape.param(&x),
            tape.param(&b),
            tape.param(&m),
            tape.param(&z),
        );
        let g = c.out(&(&(&(&xv + &bv) * &mv) / &zv)).backward();
        c.grad(&g, &x, 0);
        c.grad(&g, &b, 1);
        c.grad(&g, &m, 2);
        c.grad(&g, &z, 3);
    }
    uniform::<S2, _, T, 2>(&case("broadcast_sub"), |[x, y]| &y - &x);

    // unary math and scalar ops
    uniform::<S2, _, T, 1>(&case("exp"), |[x]| x.exp());
    uniform::<S2, _, T, 1>(&case("ln"), |[x]| x.ln());
    uniform::<S2, _, T, 1>(&case("sqrt"), |[x]| x.sqrt());
    uniform::<S2, _, T, 1>(&case("powi3"), |[x]| x.powi(3));
    uniform::<S2, _, T, 1>(&case("abs"), |[x]| x.abs());
    uniform::<S2, _, T, 1>(&case("tanh"), |[x]| x.tanh());
    uniform::<S2, _, T, 1>(&case("sigmoid"), |[x]| x.sigmoid());
    uniform::<S2, _, T, 1>(&case("scale_add"), |[x]| {
        -x.scale(T::from_f64(-1.5)).add_scalar(T::from_f64(0.5))
    });

    // activations
    uniform::<S2, _, T, 1>(&case("relu"), |[x]| x.relu());
    uniform::<S2, _, T, 1>(&case("gelu"), |[x]| x.gelu());
    uniform::<S2, _, T, 1>(&case("gelu_tanh"), |[x]| x.gelu_tanh());
    uniform::<S2, _, T, 1>(&case("silu"), |[x]| x.silu());

    // reductions
    uniform::<S3, _, T, 1>(&case("sum0"), |[x]| x.sum::<0>());
    uniform::<S3, _, T, 1>(&case("mean1"), |[x]| x.mean::<1>());
    uniform::<S3, _, T, 1>(&case("max2"), |[x]| x.max::<2>());
    uniform::<S3, _, T, 1>(&case("var1"), |[x]| x.var::<1>());
    uniform::<S3, _, T, 1>(&case("var2"), |[x]| x.var::<2>());
    uniform::<S3, _, T, 1>(&case("norm0"), |[x]| x.norm::<0>());
    uniform::<S3, _, T, 1>(&case("norm2"), |[x]| x.norm::<2>());
    uniform::<S3, _, T, 1>(&case("sum_all"), |[x]| x.sum_all());
    uniform::<S3, _, T, 1>(&case("mean_all"), |[x]| x.mean_all());
    uniform::<S3, _, T, 1>(&case("max_all"), |[x]| x.max_all());
    uniform::<S3, _, T, 1>(&case("var_all"), |[x]| x.var_all());
    uniform::<S3, _, T, 1>(&case("norm_all"), |[x]| x.norm_all());

    // softmax
    uniform::<S3, _, T, 1>(&case("softmax2"), |[x]| x.softmax::<2>());
    uniform::<S3, _, T, 1>(&case("softmax0"), |[x]| x.softmax::<0>());
    uniform::<S3, _, T, 1>(&case("log_softmax1"), |[x]| x.log_softmax::<1>());

    // norms
    {
        let c = case("layer_norm");
        let (x, w, b) = (
            c.param::<S2, T>(0),
            c.param::<S1, T>(1),
            c.param::<S1, T>(2),
        );
        let tape = Tape::new();
        let y = tape
            .param(&x)
            .layer_norm(&tape.param(&w), &tape.param(&b), eps);
        let g = c.out(&y).backward();
        c.grad(&g, &x, 0);
        c.grad(&g, &w, 1);
        c.grad(&g, &b, 2);
    }
    {
        let c = case("rms_norm");
        let (x, w) = (c.param::<S2, T>(0), c.param::<S1, T>(1));
        let tape = Tape::new();
        let g = c
            .out(&tape.param(&x).rms_norm(&tape.param(&w), eps))
            .backward();
        c.grad(&g, &x, 0);
        c.grad(&g, &w, 1);
    }

    // losses
    uniform::<S2, _, T, 2>(&case("mse"), |[p, t]| p.mse(&t));
    uniform::<S2, _, T, 1>(&case("cross_entropy"), |[l]| l.cross_entropy(&CE_TARGETS));
    uniform::<S2, _, T, 1>(&case("cross_entropy_1e4"), |[l]| {
        l.cross_entropy(&CE_TARGETS)
    });

    // shape ops
    uniform::<(D<3>, D<4>), _, T, 1>(&case("reshape"), |[x]| x.reshape::<(D<2>, D<6>)>());
    uniform::<(D<4>, D<3>), _, T, 1>(&case("reshape_t"), |[x]| {
        x.t::<(D<3>, D<4>)>().reshape::<(D<6>, D<2>)>()
    });
    uniform::<(D<2>, D<6>), _, T, 1>(&case("split_permute_merge"), |[x]| {
        x.split::<D<2>, D<3>>()
            .permute((A0, A2, A1))
            .merge::<D<6>>()
    });
    {
        let c = case("concat");
        let (a, b) = (c.param::<(D<2>, D<3>), T>(0), c.param::<(D<2>, D<2>), T>(2));
        let tape = Tape::new();
        let k: Var<(D<2>, D<1>), T> = c.constant(&tape, 1);
        let ak: Var<(D<2>, D<4>), T> = tape.param(&a).concat(A1, &k);
        let y: Var<(D<2>, D<6>), T> = ak.concat(A1, &tape.param(&b).t());
        let g = c.out(&y).backward();
        c.grad(&g, &a, 0);
        c.grad(&g, &b, 2);
    }
    {
        let c = case("stack");
        let (a, p) = (c.param::<(D<2>, D<3>), T>(0), c.param::<(D<3>, D<2>), T>(2));
        let tape = Tape::new();
        let k: Var<(D<2>, D<3>), T> = c.constant(&tape, 1);
        let (av, pt) = (tape.param(&a), tape.param(&p).t());
        let y: Var<(D<2>, D<3>, D<3>), T> = Var::stack(A1, [&av, &k, &pt]);
        let g = c.out(&y).backward();
        c.grad(&g, &a, 0);
        c.grad(&g, &p, 2);
    }
    uniform::<(D<3>, D<5>), _, T, 1>(&case("slice"), |[x]| {
        x.slice::<1, 1, 3>().try_slice_with(A0, 1..3).unwrap()
    });
    {
        let c = case("squeeze_unsqueeze");
        let (x, y) = (c.param::<(D<1>, D<4>), T>(0), c.param::<(D<4>, D<3>), T>(1));
        let tape = Tape::new();
        let col = tape.param(&x).squeeze::<0>().unsqueeze::<1>();
        let g = c.out(&(&col * &tape.param(&y))).backward();
        c.grad(&g, &x, 0);
        c.grad(&g, &y, 1);
    }
    uniform::<(D<3>, D<2>), _, T, 1>(&case("contiguous"), |[x]| {
        x.t::<(D<2>, D<3>)>().contiguous().exp()
    });

    // normalize, cosine similarity, InfoNCE
    uniform::<S2, _, T, 1>(&case("normalize"), |[x]| x.normalize().into_var());
    uniform::<S2, _, T, 2>(&case("similarity"), |[a, b]| {
        a.normalize().similarity(&b.normalize())
    });
    uniform::<S1, _, T, 2>(&case("cosine"), |[u, w]| {
        cosine_similarity(&u.normalize(), &w.normalize())
    });
    let tau = T::from_f64(TAU);
    uniform::<S2, _, T, 2>(&case("info_nce"), |[a, p]| {
        a.normalize().info_nce(&p.normalize(), tau)
    });
    uniform::<S2, _, T, 2>(&case("info_nce_symmetric"), |[a, p]| {
        a.normalize().info_nce_symmetric(&p.normalize(), tau)
    });

    let (ratio, at) = worst.into_inner();
    println!("{dt}: the largest error is {ratio:.2e} of the tolerance, at {at}");
    compared.get()
}

/// Every case of the script, both dtypes: (1 output + its gradients) per case.
const COMPARED_PER_DTYPE: usize = 124;

#[test]
fn every_op_matches_pytorch_in_f32() {
    let st = fixture();
    assert_eq!(all_cases::<f32>(&st, "f32", 1e-5), COMPARED_PER_DTYPE);
}

#[test]
fn every_op_matches_pytorch_in_f64() {
    let st = fixture();
    assert_eq!(all_cases::<f64>(&st, "f64", 1e-10), COMPARED_PER_DTYPE);
}

#[test]
fn every_case_of_the_fixture_is_compared() {
    // The fixture's tensors: per case and dtype, its inputs, `r`, `out` and the gradients.
    // Each `out` and gradient is compared above; this catches a case added to the script
    // but not here.
    let st = fixture();
    let compared_names = st
        .names()
        .iter()
        .filter(|n| n.ends_with(".out") || n.contains(".grad"))
        .count();
    assert_eq!(compared_names, 2 * COMPARED_PER_DTYPE);
}
