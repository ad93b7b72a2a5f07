//! einsum: contractions written with `einsum!` against the same thing written with
//! `matmul` (the "raw" column here): the lowering should add nothing to the GEMM.

use std::hint::black_box;

use bench_support::cases::{EINSUM_SCORES, EINSUM_VALUES};
use shapecheck::prelude::*;

use crate::harness::{interleave, line};

shapecheck::dim!(pub Batch = 2; pub Heads = 12; pub Seq = 128; pub HeadDim = 64; pub N = 256);

/// Prints the einsum lines whose case name contains `filter`.
pub fn run(filter: &str) {
    shapecheck::with_threads(1, || {
        let attention = 2.0 * (2 * 12 * 128 * 128 * 64) as f64;
        let case = &format!("{EINSUM_SCORES}/1-thread");
        if case.contains(filter) {
            let q = Tensor::<(Batch, Heads, Seq, HeadDim)>::randn(1);
            let k = Tensor::<(Batch, Heads, Seq, HeadDim)>::randn(2);
            let r = interleave(
                || drop(black_box(einsum!("b h q d, b h k d -> b h q k", q, k))),
                || drop(black_box(q.matmul(&k.t()))),
            );
            line(case, attention, r);
        }
        let case = &format!("{EINSUM_VALUES}/1-thread");
        if case.contains(filter) {
            let p = Tensor::<(Batch, Heads, Seq, Seq)>::randn(3);
            let v = Tensor::<(Batch, Heads, Seq, HeadDim)>::randn(4);
            let r = interleave(
                || drop(black_box(einsum!("b h q k, b h k d -> b h q d", p, v))),
                || drop(black_box(p.matmul(&v))),
            );
            line(case, attention, r);
        }
        let square = 2.0 * (256 * 256 * 256) as f64;
        let case = "einsum/matmul-abt/f32/256/1-thread";
        if case.contains(filter) {
            let a = Tensor::<(N, N)>::randn(5);
            let b = Tensor::<(N, N)>::randn(6);
            let r = interleave(
                || drop(black_box(einsum!("ik,jk->ij", a, b))),
                || drop(black_box(a.matmul(&b.t()))),
            );
            line(case, square, r);
        }
    });
    let case = &format!("{EINSUM_SCORES}/all-threads");
    if case.contains(filter) {
        let q = Tensor::<(Batch, Heads, Seq, HeadDim)>::randn(1);
        let k = Tensor::<(Batch, Heads, Seq, HeadDim)>::randn(2);
        let r = interleave(
            || drop(black_box(einsum!("b h q d, b h k d -> b h q k", q, k))),
            || drop(black_box(q.matmul(&k.t()))),
        );
        line(case, 2.0 * (2 * 12 * 128 * 128 * 64) as f64, r);
    }
}
