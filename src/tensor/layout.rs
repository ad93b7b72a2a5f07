//! Walking a strided layout in row-major logical order.
//!
//! Every view keeps the invariant that the largest offset it can reach,
//! `offset + Σ (dim_k − 1)·stride_k`, lies inside its slice (or that it has no elements);
//! [`max_offset`] computes that bound once, so the walks below index the slice without
//! further checks failing.

/// The largest offset reachable from `base`, or `None` if the layout holds no element.
/// Panics on `usize` overflow, which no in-memory tensor reaches.
pub(crate) fn max_offset(base: usize, dims: &[usize], strides: &[usize]) -> Option<usize> {
    let mut max = base;
    for (&d, &s) in dims.iter().zip(strides) {
        if d == 0 {
            return None;
        }
        max = (d - 1)
            .checked_mul(s)
            .and_then(|x| x.checked_add(max))
            .expect("tensor offsets overflow usize");
    }
    Some(max)
}

/// Calls `f(offset)` for every multi-index in row-major order (any rank; rank 0 is one
/// call at `base`).
#[inline]
pub(crate) fn for_each_offset(
    base: usize,
    dims: &[usize],
    strides: &[usize],
    mut f: impl FnMut(usize),
) {
    if dims.contains(&0) {
        return;
    }
    let rank = dims.len();
    if rank == 0 {
        f(base);
        return;
    }
    let (inner_dim, inner_stride) = (dims[rank - 1], strides[rank - 1]);
    let outer = &dims[..rank - 1];
    // Tensors have rank ≤ 6; einsum's intermediate layouts may have more axes.
    let (mut small, mut large);
    let idx: &mut [usize] = if outer.len() <= 8 {
        small = [0usize; 8];
        &mut small[..outer.len()]
    } else {
        large = vec![0usize; outer.len()];
        &mut large
    };
    let mut row = base;
    loop {
        let mut off = row;
        for _ in 0..inner_dim {
            f(off);
            off += inner_stride;
        }
        // Odometer over the outer axes.
        let mut k = outer.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            row += strides[k];
            if idx[k] < outer[k] {
                break;
            }
            row -= strides[k] * idx[k];
            idx[k] = 0;
        }
    }
}

/// Whether `strides` are the row-major strides of `dims` (axes of size 1 may have any stride).
pub(crate) fn is_contiguous(dims: &[usize], strides: &[usize]) -> bool {
    let mut expected = 1;
    for (&d, &s) in dims.iter().zip(strides).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected *= d;
    }
    true
}

/// Offset of a multi-index, or `None` if it is out of range.
#[inline]
pub(crate) fn offset_of(
    base: usize,
    dims: &[usize],
    strides: &[usize],
    index: &[usize],
) -> Option<usize> {
    let mut off = base;
    for ((&i, &d), &s) in index.iter().zip(dims).zip(strides) {
        if i >= d {
            return None;
        }
        off += i * s;
    }
    Some(off)
}

/// Row-major multi-index of the `flat`-th element.
pub(crate) fn unravel(mut flat: usize, dims: &[usize], out: &mut [usize]) {
    for (o, &d) in out.iter_mut().zip(dims).rev() {
        *o = flat % d;
        flat /= d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_transposed_layout_in_logical_order() {
        // A 2x3 row-major buffer read as its 3x2 transpose.
        let mut seen = Vec::new();
        for_each_offset(0, &[3, 2], &[1, 3], |o| seen.push(o));
        assert_eq!(seen, [0, 3, 1, 4, 2, 5]);
        assert_eq!(max_offset(0, &[3, 2], &[1, 3]), Some(5));
        assert!(!is_contiguous(&[3, 2], &[1, 3]));
        assert!(is_contiguous(&[2, 3], &[3, 1]));
    }

    #[test]
    fn empty_and_scalar_layouts() {
        let mut n = 0;
        for_each_offset(0, &[2, 0, 3], &[0, 3, 1], |_| n += 1);
        assert_eq!(n, 0);
        assert_eq!(max_offset(7, &[2, 0], &[1, 1]), None);
        for_each_offset(7, &[], &[], |o| n += o);
        assert_eq!(n, 7);
    }
}
