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

/// `c = a·b` for `a: m×k`, `b: k×n` read through the given (row, column) strides, `c`
/// row-major: how a user writes a product with a transposed operand by hand.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_strided(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    c: &mut [f32],
) {
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| {
        (rows > 0 && cols > 0).then(|| (rows - 1) * rs + (cols - 1) * cs)
    };
    assert!(last(m, k, rsa, csa).is_none_or(|l| l < a.len()));
    assert!(last(k, n, rsb, csb).is_none_or(|l| l < b.len()));
    assert!(c.len() >= m * n);
    // SAFETY: the asserts bound the largest offset each operand is read at under its
    // strides (every index is at most the last one); `c` is a unique borrow, row-major.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// The buffers of [`matmul_forward_backward`]: `C`, `dC` and the two gradients.
pub struct ForwardBackward {
    c: Vec<f32>,
    dc: Vec<f32>,
    da: Vec<f32>,
    db: Vec<f32>,
}

impl ForwardBackward {
    /// Buffers for `m×k · k×n`.
    pub fn new(m: usize, k: usize, n: usize) -> Self {
        ForwardBackward {
            c: vec![0.0; m * n],
            dc: vec![0.0; m * n],
            da: vec![0.0; m * k],
            db: vec![0.0; k * n],
        }
    }

    /// The gradients `(dA, dB)` of the last call.
    pub fn grads(&self) -> (&[f32], &[f32]) {
        (&self.da, &self.db)
    }
}

/// One training step of `loss = Σ A·B` written by hand: `C = A·B`, the seed `dC = 1`, then
/// `dA = dC·Bᵀ` and `dB = Aᵀ·dC` (the transposes read through strides), into reused
/// buffers. Returns the loss.
pub fn matmul_forward_backward(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    bufs: &mut ForwardBackward,
) -> f32 {
    sgemm_strided((m, k, n), a, (k, 1), b, (n, 1), &mut bufs.c);
    let loss = bufs.c.iter().sum();
    bufs.dc.fill(1.0);
    sgemm_strided((m, n, k), &bufs.dc, (n, 1), b, (1, n), &mut bufs.da);
    sgemm_strided((k, m, n), a, (1, k), &bufs.dc, (n, 1), &mut bufs.db);
    loss
}
