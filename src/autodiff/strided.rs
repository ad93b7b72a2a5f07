//! Index walks shared by the backward passes: two strided layouts read in step.

/// Calls `f(k, a, b)` for every multi-index of `dims` in row-major order, `k` counting
/// from 0, `a` and `b` the offsets of that index in two layouts (base offset and strides).
pub(crate) fn for_each_pair(
    dims: &[usize],
    (mut a, sa): (usize, &[usize]),
    (mut b, sb): (usize, &[usize]),
    mut f: impl FnMut(usize, usize, usize),
) {
    let n: usize = dims.iter().product();
    let r = dims.len();
    let mut idx = [0usize; 8];
    for k in 0..n {
        f(k, a, b);
        let mut ax = r;
        while ax > 0 {
            ax -= 1;
            idx[ax] += 1;
            a += sa[ax];
            b += sb[ax];
            if idx[ax] < dims[ax] {
                break;
            }
            a -= sa[ax] * idx[ax];
            b -= sb[ax] * idx[ax];
            idx[ax] = 0;
        }
    }
}

/// The strides that read a layout of dims `dims` and strides `strides` as the broadcast
/// shape `target` (missing leading axes and stretched size-1 axes get stride 0). The forward
/// op has already checked that the shapes broadcast.
pub(crate) fn broadcast(dims: &[usize], strides: &[usize], target: &[usize]) -> Vec<usize> {
    let mut out = vec![0usize; target.len()];
    crate::shape::broadcast_strides(dims, strides, target, &mut out)
        .expect("the forward op checked that the shapes broadcast");
    out
}

/// Row-major strides of `dims`.
pub(crate) fn contiguous(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![0usize; dims.len()];
    let mut acc = 1;
    for (st, &d) in s.iter_mut().zip(dims).rev() {
        *st = acc;
        acc *= d;
    }
    s
}

/// `strides` with a 0 inserted at `axis`: a reduced tensor read back over the full dims.
pub(crate) fn insert_zero(strides: &[usize], axis: usize) -> Vec<usize> {
    let mut s = strides.to_vec();
    s.insert(axis, 0);
    s
}

/// `v` without its element `axis`.
pub(crate) fn remove(v: &[usize], axis: usize) -> Vec<usize> {
    let mut s = v.to_vec();
    s.remove(axis);
    s
}
