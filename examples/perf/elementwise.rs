//! Elementwise ops: the typed API against a plain loop over slices (the `raw` column) and
//! ndarray, in GB/s of bytes read and written.

use std::hint::black_box;

use bench_support::cases::{self, LAYER_NORM_EPS};
use bench_support::loops;
use ndarray::{Array1, Array2};
use shapecheck::prelude::*;

use crate::harness::interleave;

fn gbs_line(case: &str, bytes: f64, (ours, theirs, ratio): (f64, f64, f64), nd: f64) {
    println!(
        "{case} shapecheck={:.2}GB/s raw={:.2}GB/s ratio={ratio:.3} ndarray={:.2}GB/s",
        ours * bytes / 1e9,
        theirs * bytes / 1e9,
        nd * bytes / 1e9,
    );
}

/// Prints the elementwise lines whose case name contains `filter`.
pub fn run(filter: &str) {
    let mut out = Vec::new();
    let case = cases::ADD_BROADCAST;
    if case.contains(filter) {
        let a = Tensor::<(D<32>, D<768>)>::randn(1);
        let b = Tensor::<(D<768>,)>::randn(2);
        let na = Array2::from_shape_vec((32, 768), a.as_slice().to_vec()).unwrap();
        let nb = Array1::from_vec(b.as_slice().to_vec());
        let r = interleave(
            || drop(black_box(&a + &b)),
            || loops::add_row(a.as_slice(), b.as_slice(), black_box(&mut out)),
        );
        let (nd, _, _) = interleave(|| drop(black_box(&na + &nb)), || {});
        gbs_line(case, (4 * (2 * 32 * 768 + 768)) as f64, r, nd);
    }
    let case = cases::SOFTMAX;
    if case.contains(filter) {
        let x = Tensor::<(D<12>, D<128>, D<128>)>::randn(3);
        let nx = ndarray::Array3::from_shape_vec((12, 128, 128), x.as_slice().to_vec()).unwrap();
        let r = interleave(
            || drop(black_box(x.softmax::<2>())),
            || loops::softmax(x.as_slice(), 128, black_box(&mut out)),
        );
        let (nd, _, _) = interleave(|| drop(black_box(loops::ndarray_softmax(&nx))), || {});
        gbs_line(case, (4 * 2 * 12 * 128 * 128) as f64, r, nd);
    }
    let case = cases::LAYER_NORM;
    if case.contains(filter) {
        let x = Tensor::<(D<128>, D<384>)>::randn(4);
        let w = Tensor::<(D<384>,)>::randn(5);
        let b = Tensor::<(D<384>,)>::randn(6);
        let nx = Array2::from_shape_vec((128, 384), x.as_slice().to_vec()).unwrap();
        let (nw, nb) = (
            Array1::from_vec(w.as_slice().to_vec()),
            Array1::from_vec(b.as_slice().to_vec()),
        );
        let r = interleave(
            || drop(black_box(x.layer_norm(&w, &b, LAYER_NORM_EPS))),
            || {
                loops::layer_norm(
                    x.as_slice(),
                    w.as_slice(),
                    b.as_slice(),
                    LAYER_NORM_EPS,
                    black_box(&mut out),
                )
            },
        );
        let (nd, _, _) = interleave(
            || {
                drop(black_box(loops::ndarray_layer_norm(
                    &nx,
                    &nw,
                    &nb,
                    LAYER_NORM_EPS,
                )))
            },
            || {},
        );
        gbs_line(case, (4 * 2 * 128 * 384) as f64, r, nd);
    }
    sums(filter);
}

/// A running sum over eight interleaved accumulators: the fastest plain loop, and the
/// accuracy the crate had before its sums became pairwise (its error grows as n).
fn plain_sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    rest.iter().fold(acc.iter().sum::<f32>(), |s, &x| s + x)
}

/// Pairwise sums (NumPy's summation, every sum of the crate) against the plain loop, in
/// GB/s read: one sum of 10⁶ elements, and the rows of a 1000 × 1000 matrix.
fn sums(filter: &str) {
    let case = "sum/f32/1000000";
    if case.contains(filter) {
        let x = Tensor::<(D<1000>, D<1000>)>::randn(7);
        let r = interleave(
            || {
                black_box(black_box(&x).sum_all());
            },
            || {
                black_box(plain_sum(black_box(x.as_slice())));
            },
        );
        let nx = ndarray::Array1::from_vec(x.as_slice().to_vec());
        let (nd, _, _) = interleave(
            || {
                black_box(black_box(&nx).sum());
            },
            || {},
        );
        gbs_line(case, 4e6, r, nd);
    }
    let case = "sum_rows/f32/1000x1000";
    if case.contains(filter) {
        let x = Tensor::<(D<1000>, D<1000>)>::randn(8);
        let mut out = vec![0.0f32; 1000];
        let nx = Array2::from_shape_vec((1000, 1000), x.as_slice().to_vec()).unwrap();
        let r = interleave(
            || drop(black_box(black_box(&x).sum::<1>())),
            || {
                for (o, row) in out.iter_mut().zip(x.as_slice().chunks_exact(1000)) {
                    *o = plain_sum(row);
                }
                black_box(&mut out);
            },
        );
        let (nd, _, _) = interleave(
            || drop(black_box(black_box(&nx).sum_axis(ndarray::Axis(1)))),
            || {},
        );
        gbs_line(case, 4e6, r, nd);
    }
}
