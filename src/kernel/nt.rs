//! The small-`m` product `C = α·A·B + β·C` with `A`'s rows and `B`'s columns read in place
//! along `k`: x86-64 only (elsewhere every product goes to matrixmultiply).
//!
//! The case: a product with few rows (`m ≤ 48`) whose `A` rows and `B` columns are both
//! contiguous along `k` — `x·Wᵀ` with `W` stored (out, in) as PyTorch stores it, which is what
//! a linear layer computes on a handful of tokens, and `q·kᵀ`. matrixmultiply
//! packs `B` before every product, element by element when its packed direction is not
//! contiguous, and with few rows that packing costs as much as the arithmetic (perf: 44% of a
//! MiniLM forward pass was `pack_avx2`). This kernel reads both operands in place instead:
//! each 3×4 output tile is twelve 8-wide dot-product accumulators over `k`, reduced once at
//! the end, and the next 4 columns of `B` are prefetched while the current ones are used. It
//! needs AVX2 and FMA (detected at run time; otherwise matrixmultiply runs).

use core::arch::x86_64::*;

use crate::element::Float;

/// The largest `m` the kernel takes: above it, packing `B` once pays for itself over
/// enough rows and matrixmultiply's kernel is faster (measured side by side: at
/// k = n = 384 this kernel is ahead up to m = 48 and behind at m = 64).
const MAX_M: usize = 48;
/// The smallest `k`: with shorter dot products the final reductions dominate.
const MIN_K: usize = 32;
/// Rows of `A` per tile.
const MR: usize = 3;
/// Columns of `C` (rows of `Bᵀ`) per tile.
const NR: usize = 4;

/// Whether [`gemm_nt`] takes this product: few rows, `A`'s rows and `B`'s columns
/// contiguous (`csa = rsb = 1`), non-negative strides, and a CPU with AVX2 and FMA.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn eligible(
    m: usize,
    k: usize,
    rsa: isize,
    csa: isize,
    rsb: isize,
    csb: isize,
    rsc: isize,
    csc: isize,
) -> bool {
    m <= MAX_M
        && k >= MIN_K
        && csa == 1
        && rsb == 1
        && rsa >= 0
        && csb >= 0
        && rsc >= 0
        && csc >= 0
        && std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
}

/// The 256-bit vector operations the kernel needs, for `f32` (8 lanes) and `f64` (4).
/// Every method is `#[inline(always)]`, so it is compiled inside `gemm_nt`'s
/// AVX2/FMA frame, and `unsafe`: its caller guarantees the CPU has AVX2 and FMA.
pub(super) trait Lanes: Copy {
    /// The vector type.
    type V: Copy;
    /// Lanes per vector.
    const LANES: usize;
    /// All lanes zero.
    ///
    /// # Safety
    /// AVX available.
    unsafe fn vzero() -> Self::V;
    /// `count ≤ LANES` elements from `p`, zeros in the lanes after them; nothing past
    /// `p + count` is read.
    ///
    /// # Safety
    /// `p .. p + count` valid for reads; AVX2 available.
    unsafe fn load(p: *const Self, count: usize) -> Self::V;
    /// `a·b + c`, lane by lane.
    ///
    /// # Safety
    /// FMA available.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// The four horizontal sums `[Σv[0], Σv[1], Σv[2], Σv[3]]`.
    ///
    /// # Safety
    /// AVX available.
    unsafe fn hsum4(v: [Self::V; 4]) -> [Self; 4];
}

impl Lanes for f32 {
    type V = __m256;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn vzero() -> __m256 {
        // SAFETY: AVX is available (this method's contract).
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32, count: usize) -> __m256 {
        // SAFETY: AVX2 is available and `p .. p + count` readable (the contract); an
        // unaligned full load reads exactly those 8 elements, and a masked load reads
        // nothing (and cannot fault) in its disabled lanes `≥ count`.
        unsafe {
            if count == 8 {
                _mm256_loadu_ps(p)
            } else {
                let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(count as i32), idx);
                _mm256_maskload_ps(p, mask)
            }
        }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: FMA is available (the contract); registers only.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn hsum4(v: [__m256; 4]) -> [f32; 4] {
        // SAFETY: AVX is available (the contract); the store writes a local array.
        unsafe {
            let s = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
            let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
            let mut out = [0.0f32; 4];
            _mm_storeu_ps(out.as_mut_ptr(), s);
            out
        }
    }
}

impl Lanes for f64 {
    type V = __m256d;
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn vzero() -> __m256d {
        // SAFETY: AVX is available (the contract).
        unsafe { _mm256_setzero_pd() }
    }
    #[inline(always)]
    unsafe fn load(p: *const f64, count: usize) -> __m256d {
        // SAFETY: as for f32: the full load reads exactly the 4 readable elements, the
        // masked one nothing in its disabled lanes.
        unsafe {
            if count == 4 {
                _mm256_loadu_pd(p)
            } else {
                let idx = _mm256_setr_epi64x(0, 1, 2, 3);
                let mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(count as i64), idx);
                _mm256_maskload_pd(p, mask)
            }
        }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        // SAFETY: FMA is available (the contract); registers only.
        unsafe { _mm256_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn hsum4(v: [__m256d; 4]) -> [f64; 4] {
        // SAFETY: AVX is available (the contract); the store writes a local array.
        unsafe {
            let t0 = _mm256_hadd_pd(v[0], v[1]); // [v0 01, v1 01, v0 23, v1 23]
            let t1 = _mm256_hadd_pd(v[2], v[3]);
            let s = _mm256_add_pd(
                _mm256_permute2f128_pd::<0x20>(t0, t1),
                _mm256_permute2f128_pd::<0x31>(t0, t1),
            );
            let mut out = [0.0f64; 4];
            _mm256_storeu_pd(out.as_mut_ptr(), s);
            out
        }
    }
}

/// `C[i·rsc + j·csc] = α·Σ_l A[i·rsa + l]·B[l + j·csb] + β·C[…]` for `i < m`, `j < n`,
/// `l < k`: for each strip of `NR` columns, for each block of `MR` rows, one tile; the
/// tiles of a strip share the prefetch of the next strip.
///
/// # Safety
///
/// The CPU has AVX2 and FMA; every `A`, `B` element named above is valid for reads and
/// every `C` element for writes, distinct for distinct `(i, j)` and aliasing neither
/// operand; when β ≠ 0, `C` is initialised (with β = 0 it is never read).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_nt<T: Lanes + Float>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    rsa: usize,
    b: *const T,
    csb: usize,
    beta: T,
    c: *mut T,
    rsc: usize,
    csc: usize,
) {
    let lines_per_row = (k * core::mem::size_of::<T>()).div_ceil(64);
    let blocks = m.div_ceil(MR);
    let mut j = 0;
    while j < n {
        let nr = (n - j).min(NR);
        // The next strip's cache lines, spread over this strip's tiles.
        let next = (n - j - nr).min(NR);
        let total = next * lines_per_row;
        let mut ahead = Ahead {
            row: b.wrapping_add((j + nr) * csb),
            col: 0,
            k,
            csb,
            left: 0,
        };
        let mut issued = 0;
        for block in 0..blocks {
            let i = block * MR;
            let mr = (m - i).min(MR);
            let until = total * (block + 1) / blocks;
            ahead.left = until - issued;
            issued = until;
            let (ai, bj, ci) =
                // SAFETY: rows i..i+mr < m of A and columns j..j+nr < n of B are in the
                // caller's readable range over l < k, and C's (i.., j..) block in its
                // writable range; the offsets are therefore in bounds.
                unsafe { (a.add(i * rsa), b.add(j * csb), c.add(i * rsc + j * csc)) };
            let t = Tile {
                k,
                alpha,
                a: ai,
                rsa,
                b: bj,
                csb,
                beta,
                c: ci,
                rsc,
                csc,
            };
            // SAFETY: `t` covers an mr × nr block inside the caller's ranges (above).
            unsafe {
                match (mr, nr) {
                    (3, 4) => t.run::<3, 4>(&mut ahead),
                    (2, 4) => t.run::<2, 4>(&mut ahead),
                    (1, 4) => t.run::<1, 4>(&mut ahead),
                    (3, 3) => t.run::<3, 3>(&mut ahead),
                    (2, 3) => t.run::<2, 3>(&mut ahead),
                    (1, 3) => t.run::<1, 3>(&mut ahead),
                    (3, 2) => t.run::<3, 2>(&mut ahead),
                    (2, 2) => t.run::<2, 2>(&mut ahead),
                    (1, 2) => t.run::<1, 2>(&mut ahead),
                    (3, 1) => t.run::<3, 1>(&mut ahead),
                    (2, 1) => t.run::<2, 1>(&mut ahead),
                    _ => t.run::<1, 1>(&mut ahead),
                }
            }
        }
        j += nr;
    }
}

/// One output tile's operands: `R` rows of `A` from `a`, `C` columns of `B` from `b`.
struct Tile<T> {
    k: usize,
    alpha: T,
    a: *const T,
    rsa: usize,
    b: *const T,
    csb: usize,
    beta: T,
    c: *mut T,
    rsc: usize,
    csc: usize,
}

/// The cache lines of the next strip of `B` still to prefetch: `row` points at the
/// current row's start, `col` at the next line's first element, and this tile may issue
/// `left` more prefetches, one per main-loop iteration of its dot products (a burst of
/// them stalls on the line-fill buffers), the rest after the loop.
struct Ahead<T> {
    row: *const T,
    col: usize,
    k: usize,
    csb: usize,
    left: usize,
}

impl<T> Ahead<T> {
    /// Prefetches one line, if this tile has any left to issue.
    #[inline(always)]
    fn one(&mut self) {
        if self.left > 0 {
            // A prefetch is a hint: it reads nothing architecturally and cannot fault;
            // the address (a row < n, a column < k) is inside B anyway.
            // SAFETY: `_mm_prefetch` needs only SSE, part of x86-64.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(self.row.wrapping_add(self.col).cast::<i8>()) };
            self.left -= 1;
            self.col += 64 / core::mem::size_of::<T>();
            if self.col >= self.k {
                self.col = 0;
                self.row = self.row.wrapping_add(self.csb);
            }
        }
    }
}

impl<T: Lanes + Float> Tile<T> {
    /// `acc[i][j] += A[i, l..l+count] ⊙ B[l..l+count, j]` (lanes past `count` add 0).
    ///
    /// # Safety
    ///
    /// AVX2 and FMA available; `l + count ≤ k`, `count ≤ LANES`, and the tile's rows
    /// readable over `l < k` (as for [`run`](Self::run)).
    #[inline(always)]
    unsafe fn step<const R: usize, const C: usize>(
        &self,
        acc: &mut [[T::V; C]; R],
        l: usize,
        count: usize,
    ) {
        // SAFETY: the features are available and every load reads `count` elements
        // from `l` of a row the caller made readable up to `k ≥ l + count`.
        unsafe {
            let mut x = [T::vzero(); R];
            for (i, x) in x.iter_mut().enumerate() {
                *x = T::load(self.a.add(i * self.rsa + l), count);
            }
            for j in 0..C {
                let w = T::load(self.b.add(j * self.csb + l), count);
                for (acc, &x) in acc.iter_mut().zip(&x) {
                    acc[j] = T::fmadd(x, w, acc[j]);
                }
            }
        }
    }

    /// The `R × C` tile.
    ///
    /// # Safety
    ///
    /// AVX2 and FMA available; `A[i·rsa + l]`, `B[j·csb + l]` readable and
    /// `C[i·rsc + j·csc]` writable (initialised when β ≠ 0) for `i < R`, `j < C`,
    /// `l < k`.
    #[inline(always)]
    unsafe fn run<const R: usize, const C: usize>(&self, ahead: &mut Ahead<T>) {
        let lanes = T::LANES;
        let k = self.k;
        // SAFETY: for the whole body: the features are available (the contract); each
        // `step` covers `l .. l + count` with `l + count ≤ k` — full vectors while they
        // fit, then the `k − l < LANES` elements left — and each store below writes the
        // tile's element (i, j), read first only when β ≠ 0 (then it is initialised).
        unsafe {
            let mut acc = [[T::vzero(); C]; R];
            let mut l = 0;
            while l + 2 * lanes <= k {
                self.step::<R, C>(&mut acc, l, lanes);
                self.step::<R, C>(&mut acc, l + lanes, lanes);
                ahead.one();
                l += 2 * lanes;
            }
            while ahead.left > 0 {
                ahead.one();
            }
            if l + lanes <= k {
                self.step::<R, C>(&mut acc, l, lanes);
                l += lanes;
            }
            if l < k {
                self.step::<R, C>(&mut acc, l, k - l);
            }
            for (i, acc) in acc.iter().enumerate() {
                let mut v = [T::vzero(); 4];
                v[..C].copy_from_slice(acc);
                let sums = T::hsum4(v);
                for (j, &sum) in sums.iter().enumerate().take(C) {
                    let p = self.c.add(i * self.rsc + j * self.csc);
                    *p = if beta_is_zero(self.beta) {
                        self.alpha * sum
                    } else {
                        self.alpha * sum + self.beta * *p
                    };
                }
            }
        }
    }
}

/// β = 0 means "C is not read" (it may be uninitialised, or NaN).
#[inline(always)]
fn beta_is_zero<T: Float>(beta: T) -> bool {
    beta == T::ZERO
}
