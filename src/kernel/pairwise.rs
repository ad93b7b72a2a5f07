//! Accurate sums: NumPy's pairwise summation, for every sum the crate does outside a GEMM
//! (reductions, means, norms, einsum's summed-out letters, dot products, the lane sums of
//! the norms and softmax).
//!
//! A run of at most [`BLOCK`] (256) elements is summed over sixteen interleaved partial
//! sums (the loop vectorises: sixteen independent chains instead of one), combined
//! pairwise; a longer run is split in two halves (the first a multiple of sixteen long)
//! summed recursively. This is NumPy's `pairwise_sum` (`numpy/_core/src/umath/
//! loops_utils.h.src`) with twice its partial sums over twice its block, so each partial
//! sum still adds at most 16 elements: the rounding error grows as `O(ε·log n)` instead of
//! the `O(ε·n)` of one running sum (10⁶ × 0.1 in f32 is 100000 to 1e-7, where a running sum
//! is 2.4e-3 off). The leaves are a plain vectorised loop; the recursion adds one call per
//! 256 elements (see the `sum` lines of `examples/perf` for the cost).
//!
//! Three forms share the split: over a slice (with a map applied to each element, the form
//! the norms use), over a strided run (`data[start + i·stride]`), and the dot product of
//! two slices or strided runs.
#![deny(unsafe_code)]

use crate::element::Float;

/// The partial sums of a block (NumPy has 8; 16 keep two AVX-512 or four AVX2/SSE f32
/// vectors of independent adds in flight).
const LANES: usize = 16;

/// The longest run summed in one block: each partial sum adds at most 16 elements, as
/// NumPy's 8 partial sums over its `PW_BLOCKSIZE` of 128 do.
pub(crate) const BLOCK: usize = 256;

/// Where a run of `n > BLOCK` elements is split: half, rounded down to a multiple of
/// [`LANES`].
#[inline(always)]
fn split_point(n: usize) -> usize {
    let h = n / 2;
    h - h % LANES
}

/// `Σ f(x)` over a contiguous slice, pairwise.
#[inline(always)]
pub(crate) fn sum_map<T: Float>(x: &[T], f: impl Fn(T) -> T + Copy) -> T {
    if x.len() <= BLOCK {
        return block_map(x, f);
    }
    sum_map_split(x, f)
}

/// The recursive part of [`sum_map`], out of line so that short rows stay a straight loop.
/// Being out of line, it would lose the AVX2/FMA frame of its caller (softmax's lanes): a
/// `mul_add` in `f` then became a library call (`fmaf`, 5% of a training step in
/// cross-entropy over 512 classes). So it makes a frame of its own: the same bits, as no
/// add is reordered or contracted.
fn sum_map_split<T: Float>(x: &[T], f: impl Fn(T) -> T + Copy) -> T {
    super::with_avx2_fma(
        #[inline(always)]
        || {
            let (a, b) = x.split_at(split_point(x.len()));
            sum_map(a, f) + sum_map(b, f)
        },
    )
}

/// One block: sixteen partial sums combined pairwise, then the tail.
#[inline(always)]
fn block_map<T: Float>(x: &[T], f: impl Fn(T) -> T) -> T {
    let mut r = [T::ZERO; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (r, &v) in r.iter_mut().zip(c) {
            *r += f(v);
        }
    }
    let mut s = combine(&r);
    for &v in rest {
        s += f(v);
    }
    s
}

/// The partial sums added pairwise: `((r0 + r8) + (r4 + r12)) + …`, a balanced tree.
#[inline(always)]
fn combine<T: Float>(r: &[T; LANES]) -> T {
    let mut h = [T::ZERO; 8];
    for (i, h) in h.iter_mut().enumerate() {
        *h = r[i] + r[i + 8];
    }
    ((h[0] + h[4]) + (h[2] + h[6])) + ((h[1] + h[5]) + (h[3] + h[7]))
}

/// `Σ x` over a contiguous slice, pairwise.
#[inline]
pub(crate) fn sum<T: Float>(x: &[T]) -> T {
    sum_map(x, |v| v)
}

/// `Σ f(data[start + i·stride])` for `i < n`, pairwise (the same blocks and splits as
/// [`sum_map`], so a stride of 1 gives the same bits).
pub(crate) fn sum_strided<T: Float>(
    data: &[T],
    start: usize,
    stride: usize,
    n: usize,
    f: impl Fn(T) -> T + Copy,
) -> T {
    if n == 0 {
        return T::ZERO;
    }
    if stride == 1 || n == 1 {
        return sum_map(&data[start..start + n], f);
    }
    sum_by(n, |i| f(data[start + i * stride]))
}

/// `Σ get(i)` for `i < n`, pairwise: the general form, for any way of reaching element `i`.
pub(crate) fn sum_by<T: Float>(n: usize, get: impl Fn(usize) -> T + Copy) -> T {
    sum_by_from(0, n, get)
}

fn sum_by_from<T: Float>(lo: usize, n: usize, get: impl Fn(usize) -> T + Copy) -> T {
    if n > BLOCK {
        let h = split_point(n);
        return sum_by_from(lo, h, get) + sum_by_from(lo + h, n - h, get);
    }
    let mut r = [T::ZERO; LANES];
    let full = n - n % LANES;
    let mut i = 0;
    while i < full {
        for (j, r) in r.iter_mut().enumerate() {
            *r += get(lo + i + j);
        }
        i += LANES;
    }
    let mut s = combine(&r);
    for i in full..n {
        s += get(lo + i);
    }
    s
}

/// `Σ a[i]·b[i]` over two slices of the same length, pairwise.
pub(crate) fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    assert_eq!(a.len(), b.len(), "dot of slices of different lengths");
    if a.len() > BLOCK {
        let h = split_point(a.len());
        return dot(&a[..h], &b[..h]) + dot(&a[h..], &b[h..]);
    }
    let mut r = [T::ZERO; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (ca, cb) in ca.zip(cb) {
        for ((r, &x), &y) in r.iter_mut().zip(ca).zip(cb) {
            *r += x * y;
        }
    }
    let mut s = combine(&r);
    for (&x, &y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// `Σ a[oa + i·sa]·b[ob + i·sb]` for `i < n`, pairwise (contiguous runs take [`dot`]).
pub(crate) fn dot_strided<T: Float>(
    (a, oa, sa): (&[T], usize, usize),
    (b, ob, sb): (&[T], usize, usize),
    n: usize,
) -> T {
    if n == 0 {
        return T::ZERO;
    }
    if n == 1 || (sa == 1 && sb == 1) {
        return dot(&a[oa..oa + n], &b[ob..ob + n]);
    }
    sum_by(n, |i| a[oa + i * sa] * b[ob + i * sb])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sum in f64 of the f32 values, for reference.
    fn exact(x: &[f32]) -> f64 {
        x.iter().map(|&v| f64::from(v)).sum()
    }

    #[test]
    fn every_form_gives_the_same_bits_on_the_same_run() {
        for n in [0, 1, 7, 8, 9, 127, 128, 129, 300, 1000, 4097] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
                .collect();
            let s = sum(&x);
            assert_eq!(s, sum_strided(&x, 0, 1, n, |v| v), "n = {n}");
            assert_eq!(s, sum_by(n, |i| x[i]), "n = {n}");
            let ones = vec![1.0f32; n];
            assert_eq!(s, dot(&x, &ones), "n = {n}");
            // A stride of 2 over an interleaved copy reads the same values.
            let wide: Vec<f32> = x.iter().flat_map(|&v| [v, f32::NAN]).collect();
            assert_eq!(s, sum_strided(&wide, 0, 2, n, |v| v), "n = {n}");
            assert_eq!(s, dot_strided((&wide, 0, 2), (&ones, 0, 1), n), "n = {n}");
            assert!((f64::from(s) - exact(&x)).abs() < 1e-5 * (1.0 + n as f64));
        }
    }

    #[test]
    fn a_million_tenths_in_f32_stay_within_numpy_bounds() {
        let x = vec![0.1f32; 1_000_000];
        let want = exact(&x);
        let rel = (f64::from(sum(&x)) - want).abs() / want;
        assert!(rel < 4.2e-7, "relative error {rel}");
        // A single running sum is far worse: the reason for all this.
        let plain = x.iter().fold(0.0f32, |s, &v| s + v);
        assert!((f64::from(plain) - want).abs() / want > 1e-3);
    }
}
