//! The hand-written baseline: matrixmultiply called directly on row-major buffers, the way
//! a user without shapecheck would write it.

/// `c = a·b` (or `a·bᵀ` with `bt`) for row-major `a: m×k`, `b: k×n` (`n×k` when `bt`).
pub fn sgemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], bt: bool, c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let (rsb, csb) = if bt { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the assert above makes every index i < m, l < k, j < n land inside `a`, `b`
    // and `c` under these row-major strides; `c` is a unique borrow, distinct from both.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// The f64 twin of [`sgemm`].
pub fn dgemm(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], bt: bool, c: &mut [f64]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let (rsb, csb) = if bt { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: as in `sgemm`: the assert bounds every strided access, `c` is unique.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// `items` independent products of contiguous row-major batches: item `i` is
/// `c[i] = a[i]·b[i]` (or `a[i]·b[i]ᵀ` with `bt`), `a` holding `items` blocks of `m×k`, `b`
/// blocks of `k×n` (`n×k` when `bt`) and `c` blocks of `m×n`, one [`sgemm`] each.
pub fn sgemm_batched(
    items: usize,
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    bt: bool,
    c: &mut [f32],
) {
    for item in 0..items {
        let a = &a[item * m * k..(item + 1) * m * k];
        let b = &b[item * k * n..(item + 1) * k * n];
        let c = &mut c[item * m * n..(item + 1) * m * n];
        sgemm(m, k, n, a, b, bt, std::hint::black_box(c));
    }
}
