//! Central finite differences in f64 against reverse-mode gradients, shared by the autodiff
//! test files: parameters in `RefCell`s (so a check can perturb them between evaluations),
//! a fixed random weighting `Σ out ⊙ R` that makes any output a scalar loss, and
//! [`check`] / [`check_in`], which compare every element of a parameter's gradient with
//! `(L(p + h) − L(p − h)) / 2h` to within `tol · (1 + |numeric|)`.

use std::cell::RefCell;

use shapecheck::prelude::*;
use shapecheck::shape::BroadcastShapes;

pub type P<S> = RefCell<Param<S, f64>>;
pub type Eval<'a> = dyn Fn(bool) -> (f64, Option<Gradients<f64>>) + 'a;

pub const H: f64 = 1e-6;

pub fn d1(n: usize) -> (Dyn,) {
    (Dyn::new(n),)
}
pub fn d2(a: usize, b: usize) -> (Dyn, Dyn) {
    (Dyn::new(a), Dyn::new(b))
}
pub fn d3(a: usize, b: usize, c: usize) -> (Dyn, Dyn, Dyn) {
    (Dyn::new(a), Dyn::new(b), Dyn::new(c))
}

pub fn param<S: Shape>(shape: S, seed: u64) -> P<S> {
    RefCell::new(Param::new(Tensor::randn_with(shape, seed)))
}

pub fn positive<S: Shape>(shape: S, seed: u64) -> P<S> {
    RefCell::new(Param::new(Tensor::<S, f64>::uniform_with(
        shape, 0.5, 2.0, seed,
    )))
}

/// `Σ out ⊙ R` with `R` random (seeded by the output's size), a scalar loss.
pub fn weigh<'t, S>(out: &Var<'t, S, f64>) -> Var<'t, (), f64>
where
    S: Shape + BroadcastShapes<S, Output = S>,
{
    let r = Tensor::<S, f64>::randn_with(out.shape(), 7 + out.value().len() as u64);
    (out * &out.tape().constant(r)).sum_all()
}

/// Runs `build` on a fresh tape: the loss, and its gradients when `grads`.
pub fn run<'a>(build: impl for<'t> Fn(&'t Tape<f64>) -> Var<'t, (), f64> + 'a) -> Box<Eval<'a>> {
    Box::new(move |grads| {
        let tape = Tape::new();
        let loss = build(&tape);
        (loss.item(), grads.then(|| loss.backward()))
    })
}

/// Compares the analytic gradient of `p` with central differences.
pub fn check<S: Shape>(what: &str, p: &P<S>, eval: &Eval<'_>, tol: f64) {
    check_in(what, p, |p| p, |p| p, eval, tol);
}

/// [`check`] for a parameter inside `cell` (a layer), reached by `get` / `get_mut`.
pub fn check_in<L, S: Shape>(
    what: &str,
    cell: &RefCell<L>,
    get: fn(&L) -> &Param<S, f64>,
    get_mut: fn(&mut L) -> &mut Param<S, f64>,
    eval: &Eval<'_>,
    tol: f64,
) {
    let (_, grads) = eval(true);
    let grads = grads.unwrap();
    let n = get(&cell.borrow()).value().len();
    let analytic = grads
        .of(get(&cell.borrow()))
        .map(|g| g.to_vec())
        .unwrap_or_else(|| vec![0.0; n]);
    assert_eq!(analytic.len(), n);
    let set = |i: usize, v: f64| get_mut(&mut cell.borrow_mut()).value_mut().as_mut_slice()[i] = v;
    for (i, &exact) in analytic.iter().enumerate() {
        let orig = get(&cell.borrow()).value().as_slice()[i];
        set(i, orig + H);
        let (lp, _) = eval(false);
        set(i, orig - H);
        let (lm, _) = eval(false);
        set(i, orig);
        let numeric = (lp - lm) / (2.0 * H);
        assert!(
            (numeric - exact).abs() <= tol * (1.0 + numeric.abs()),
            "{what}: element {i}: analytic {exact} vs numeric {numeric}"
        );
    }
}

pub fn small() -> std::ops::Range<usize> {
    1..4
}
