//! Walks over strided layouts of any rank, for the parts of einsum and rearrange that are
//! not a GEMM: gathering a permuted or diagonal view into a contiguous buffer, and summing
//! out axes. Every offset a walk reaches is read with a checked index, so a caller that
//! got a layout wrong gets a panic, never a wrong read.

use crate::element::Float;

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
/// `sum_dims` of the element at the sum of both offsets.
pub(crate) fn gather_sum<T: Float>(
    data: &[T],
    base: usize,
    (keep_dims, keep_strides): (&[usize], &[usize]),
    (sum_dims, sum_strides): (&[usize], &[usize]),
) -> Vec<T> {
    let mut out = Vec::with_capacity(keep_dims.iter().product());
    for_each_offset(base, keep_dims, keep_strides, |o| {
        let mut acc = T::ZERO;
        for_each_offset(o, sum_dims, sum_strides, |p| acc += data[p]);
        out.push(acc);
    });
    out
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
}
