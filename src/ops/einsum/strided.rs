//! Walks over strided layouts of any rank, for the parts of einsum and rearrange that are
//! not a GEMM: gathering a permuted or diagonal view into a contiguous buffer, and summing
//! out axes. Every offset a walk reaches is read with a checked index, so a caller that
//! got a layout wrong gets a panic, never a wrong read.

use crate::element::Float;
use crate::kernel::pairwise;

pub(crate) use crate::tensor::layout::for_each_offset;

/// The elements of a strided layout, copied in row-major order of `dims`.
pub(crate) fn gather<T: Copy>(
    data: &[T],
    base: usize,
    dims: &[usize],
    strides: &[usize],
) -> Vec<T> {
    let mut out = Vec::with_capacity(dims.iter().product());
    for_each_offset(base, dims, strides, |o| out.push(data[o]));
    out
}

/// For every multi-index of `keep_dims` (row-major), the sum over all multi-indices of
/// `sum_dims` of the element at the sum of both offsets, each sum as [`sum_layout`].
pub(crate) fn gather_sum<T: Float>(
    data: &[T],
    base: usize,
    (keep_dims, keep_strides): (&[usize], &[usize]),
    (sum_dims, sum_strides): (&[usize], &[usize]),
) -> Vec<T> {
    let mut out = Vec::with_capacity(keep_dims.iter().product());
    let (dims, strides) = merge_nested(sum_dims, sum_strides);
    let mut lanes = Vec::new();
    for_each_offset(base, keep_dims, keep_strides, |o| {
        out.push(sum_layout_with(data, o, &dims, &strides, |x| x, &mut lanes));
    });
    out
}

/// `Σ f(x)` over a strided layout of any rank, accurately: each lane of the last axis is
/// summed pairwise ([`pairwise`]), and the lanes' sums are summed pairwise in turn, so the
/// rounding error grows with the logarithm of the lane length plus that of the lane count.
/// Axes whose strides nest are read as one first (a contiguous block is one lane).
pub(crate) fn sum_layout<T: Float>(
    data: &[T],
    base: usize,
    dims: &[usize],
    strides: &[usize],
    f: impl Fn(T) -> T + Copy,
) -> T {
    let (dims, strides) = merge_nested(dims, strides);
    sum_layout_with(data, base, &dims, &strides, f, &mut Vec::new())
}

/// [`sum_layout`] on merged axes, with a buffer for the lanes' sums.
fn sum_layout_with<T: Float>(
    data: &[T],
    base: usize,
    dims: &[usize],
    strides: &[usize],
    f: impl Fn(T) -> T + Copy,
    lanes: &mut Vec<T>,
) -> T {
    let Some((&n, outer)) = dims.split_last() else {
        return f(data[base]);
    };
    let stride = strides[dims.len() - 1];
    if outer.is_empty() {
        return pairwise::sum_strided(data, base, stride, n, f);
    }
    lanes.clear();
    for_each_offset(base, outer, &strides[..outer.len()], |o| {
        lanes.push(pairwise::sum_strided(data, o, stride, n, f));
    });
    pairwise::sum(lanes)
}

/// The layout with size-1 axes dropped and adjacent axes whose strides nest (the outer
/// stride is the inner one times its size) merged into one: the same offsets, in the same
/// order, in fewer axes.
fn merge_nested(dims: &[usize], strides: &[usize]) -> (Vec<usize>, Vec<usize>) {
    if dims.contains(&0) {
        return (vec![0], vec![1]);
    }
    let mut d: Vec<usize> = Vec::with_capacity(dims.len());
    let mut s: Vec<usize> = Vec::with_capacity(dims.len());
    for (&n, &st) in dims.iter().zip(strides) {
        if n == 1 {
            continue;
        }
        match (d.last_mut(), s.last_mut()) {
            (Some(pd), Some(ps)) if *ps == st * n => {
                *pd *= n;
                *ps = st;
            }
            _ => {
                d.push(n);
                s.push(st);
            }
        }
    }
    (d, s)
}

/// Row-major strides of `dims`.
pub(crate) fn contiguous_strides(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; dims.len()];
    let mut acc = 1;
    for (s, &d) in strides.iter_mut().zip(dims).rev() {
        *s = acc;
        acc *= d;
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_any_rank_in_row_major_order() {
        let mut seen = Vec::new();
        for_each_offset(1, &[2, 1, 2, 2], &[100, 50, 10, 1], |o| seen.push(o));
        assert_eq!(seen, [1, 2, 11, 12, 101, 102, 111, 112]);
        let mut n = 0;
        for_each_offset(0, &[3, 0], &[1, 1], |_| n += 1);
        assert_eq!(n, 0);
        for_each_offset(7, &[], &[], |o| n += o);
        assert_eq!(n, 7);
    }

    #[test]
    fn gathers_and_sums() {
        let data = [1.0f64, 2., 3., 4., 5., 6.]; // 2x3 row-major
        assert_eq!(gather(&data, 0, &[3, 2], &[1, 3]), [1., 4., 2., 5., 3., 6.]);
        let rows = gather_sum(&data, 0, (&[2], &[3]), (&[3], &[1]));
        assert_eq!(rows, [6., 15.]);
        let cols = gather_sum(&data, 0, (&[3], &[1]), (&[2], &[3]));
        assert_eq!(cols, [5., 7., 9.]);
        assert_eq!(contiguous_strides(&[2, 3, 4]), [12, 4, 1]);
    }

    #[test]
    fn merges_nested_axes_and_sums_any_layout() {
        assert_eq!(
            merge_nested(&[2, 1, 3, 4], &[12, 99, 4, 1]),
            (vec![24], vec![1])
        );
        assert_eq!(merge_nested(&[2, 3], &[1, 2]), (vec![2, 3], vec![1, 2]));
        assert_eq!(merge_nested(&[2, 0], &[1, 2]), (vec![0], vec![1]));
        let data: Vec<f64> = (0..24).map(f64::from).collect();
        // The transpose of a 4x6 block: every element once, in another order.
        assert_eq!(sum_layout(&data, 0, &[6, 4], &[1, 6], |x| x), 276.0);
        assert_eq!(sum_layout(&data, 5, &[], &[], |x| 2.0 * x), 10.0);
        assert_eq!(sum_layout(&data, 0, &[3, 0], &[1, 1], |x| x), 0.0);
    }
}
