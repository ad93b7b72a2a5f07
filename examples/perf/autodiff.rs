//! autodiff: a traced matmul's forward and backward (`Σ A·B`, the gradients of both
//! operands) against the same three products called by hand with matrixmultiply
//! (`C = A·B`, `dA = dC·Bᵀ`, `dB = Aᵀ·dC`). The traced side also builds its tape, allocates
//! its outputs and moves the gradients into `Gradients`; the hand side reuses its buffers.

use std::hint::black_box;

use shapecheck::autodiff::{Param, Tape};
use shapecheck::prelude::*;

use bench_support::cases;
use bench_support::raw::{matmul_forward_backward, ForwardBackward};

use crate::harness::{interleave, line};

pub fn run(filter: &str) {
    for n in cases::MATMUL_BACKWARD {
        let case = cases::matmul_backward_group(n);
        if !case.contains(filter) {
            continue;
        }
        let shape = (Dyn::new(n), Dyn::new(n));
        let a = Param::new(Tensor::<_, f32>::randn_with(shape, 1));
        let b = Param::new(Tensor::<_, f32>::randn_with(shape, 2));
        let mut bufs = ForwardBackward::new(n, n, n);
        let r = interleave(
            || {
                let tape = Tape::new();
                let loss = tape.param(&a).matmul(&tape.param(&b)).sum_all();
                black_box(loss.backward());
            },
            || {
                black_box(matmul_forward_backward(
                    (n, n, n),
                    a.value().as_slice(),
                    b.value().as_slice(),
                    &mut bufs,
                ));
            },
        );
        line(&case, 3.0 * 2.0 * (n * n * n) as f64, r);
    }
}
