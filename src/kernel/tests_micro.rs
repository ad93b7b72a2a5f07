//! Every micro-kernel of the packed GEMM forced on every shape class, against an f64
//! reference within `(k + 2)·ε·(|α|·(|A||B|)ᵢⱼ + |β·Cᵢⱼ|)`; and the packed GEMM against
//! matrixmultiply through the crate's entry on random shapes and strides.
//!
//! The shape classes: every `m ≤ 2·MR + 1` by every `n ≤ 2·NR + 1` at small `k`, and the edge
//! classes `{1, MR − 1, MR, MR + 1, 2·MR + 1} × {1, NR − 1, NR, NR + 1, 2·NR + 1}` at each
//! `k ∈ {1, KC − 1, KC, KC + 1, 2·KC + 1}`; operands row-major, column-major (transposed) or
//! strided with NaN in the gaps (a read outside the operand poisons the result); `C` with a
//! row stride wider than `n` whose gaps must stay as they were; β = 0 on a `C` full of NaN;
//! NaN and ∞ in the inputs. The AVX-512 kernels are skipped, with a note, on a CPU without
//! AVX-512F.

use proptest::prelude::*;

use super::blocked;
use super::epilogue::Epilogue;
use super::micro::{has_avx2_fma, has_avx512, Avx2, Avx512, Kernel};
use super::raw::Backend;
use super::{Gemm, MatRef};
use crate::element::Float;

/// A deterministic stream of values in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// How an `r × c` operand is stored.
#[derive(Clone, Copy, Debug)]
enum Layout {
    RowMajor,
    /// Stored `c × r` row-major and read transposed.
    ColMajor,
    /// Row stride `2c + 3`, column stride 2, from offset 3; NaN in every gap.
    Strided,
}

const LAYOUTS: [Layout; 3] = [Layout::RowMajor, Layout::ColMajor, Layout::Strided];

/// `vals` (`r × c`, row-major) stored as `layout`: the buffer, offset and strides.
fn store<T: Float>(
    vals: &[T],
    (r, c): (usize, usize),
    layout: Layout,
) -> (Vec<T>, usize, usize, usize) {
    let (off, rs, cs) = match layout {
        Layout::RowMajor => (0, c, 1),
        Layout::ColMajor => (0, 1, r),
        Layout::Strided => (3, 2 * c + 3, 2),
    };
    let len = off + (r - 1) * rs + (c - 1) * cs + 1 + 2;
    let mut buf = vec![T::from_f64(f64::NAN); len];
    for i in 0..r {
        for j in 0..c {
            buf[off + i * rs + j * cs] = vals[i * c + j];
        }
    }
    (buf, off, rs, cs)
}

/// One product with kernel `K`, checked against the f64 reference.
#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    k: usize,
    n: usize,
    la: Layout,
    lb: Layout,
    alpha: f64,
    beta: f64,
    /// NaN in `A`'s last row and +∞ in `B`'s last column (each at one step of `k`).
    specials: bool,
}

/// Runs `case` on kernel `K` and returns how many elements were checked.
fn check<K: Kernel>(case: Case, seed: u64) -> usize {
    let Case {
        m,
        k,
        n,
        la,
        lb,
        alpha,
        beta,
        specials,
    } = case;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let e = |x: f64| K::E::from_f64(x);
    let mut av: Vec<K::E> = (0..m * k).map(|_| e(rng.next())).collect();
    let mut bv: Vec<K::E> = (0..k * n).map(|_| e(rng.next())).collect();
    if specials {
        av[(m - 1) * k + k / 2] = e(f64::NAN);
        bv[(k - 1) * n + n - 1] = e(f64::INFINITY);
    }
    let (sa, oa, rsa, csa) = store(&av, (m, k), la);
    let (sb, ob, rsb, csb) = store(&bv, (k, n), lb);
    let rsc = n + 5;
    let sentinel = e(7.0);
    let mut c: Vec<K::E> = (0..m * rsc)
        .map(|x| {
            if x % rsc >= n {
                sentinel
            } else if beta == 0.0 {
                e(f64::NAN)
            } else {
                e(rng.next())
            }
        })
        .collect();
    let c0 = c.clone();
    // SAFETY: `store` laid every `A(i, l)` (`i < m`, `l < k`) at `oa + i·rsa + l·csa` inside
    // `sa`, and likewise `B` in `sb`; `C`'s `m` rows of `n` elements at row stride
    // `rsc ≥ n` lie in `c`, distinct and aliasing neither operand (separate vectors), and
    // initialised; the tests call this only for an available kernel, with m, n, k ≥ 1.
    unsafe {
        blocked::gemm::<K>(
            1,
            m,
            k,
            n,
            e(alpha),
            sa.as_ptr().add(oa),
            (rsa, csa),
            sb.as_ptr().add(ob),
            (rsb, csb),
            e(beta),
            c.as_mut_ptr(),
            rsc,
            Epilogue::default(),
            None,
        );
    }
    let eps = K::E::EPSILON.to_f64();
    for i in 0..m {
        for j in 0..n {
            let (mut dot, mut mag) = (0.0f64, 0.0f64);
            for l in 0..k {
                let (x, y) = (av[i * k + l].to_f64(), bv[l * n + j].to_f64());
                dot += x * y;
                mag += (x * y).abs();
            }
            let old = if beta == 0.0 {
                0.0
            } else {
                beta * c0[i * rsc + j].to_f64()
            };
            let want = alpha * dot + old;
            let bound = (k + 2) as f64 * eps * (alpha.abs() * mag + old.abs());
            let got = c[i * rsc + j].to_f64();
            let ok = if want.is_nan() {
                got.is_nan()
            } else if want.is_infinite() {
                got == want
            } else {
                (got - want).abs() <= bound
            };
            assert!(
                ok,
                "{} {case:?}: C({i}, {j}) = {got}, want {want} ± {bound}",
                core::any::type_name::<K>()
            );
        }
        for j in n..rsc {
            assert!(
                c[i * rsc + j] == sentinel,
                "{} {case:?}: C's gap ({i}, {j}) was written",
                core::any::type_name::<K>()
            );
        }
    }
    m * n
}

/// The (α, β) pairs the cases cycle through; β = 0 runs on a `C` full of NaN.
const SCALARS: [(f64, f64); 4] = [(1.0, 0.0), (0.5, -1.5), (-2.0, 1.0), (1.0, 1.0)];

/// Every shape class of kernel `K` (see the module documentation).
fn every_class<K: Kernel>() {
    let (mr, nr, kc) = (K::MR, K::NR, K::KC);
    let mut case_no = 0usize;
    let mut next = |m, k, n, specials| {
        let (alpha, beta) = SCALARS[case_no % SCALARS.len()];
        let case = Case {
            m,
            k,
            n,
            la: LAYOUTS[case_no % 3],
            lb: LAYOUTS[(case_no / 3) % 3],
            alpha,
            beta,
            specials,
        };
        case_no += 1;
        check::<K>(case, case_no as u64);
    };
    // Every tile shape, full and partial, in one and two tiles of each direction.
    for m in 1..=2 * mr + 1 {
        for n in 1..=2 * nr + 1 {
            next(m, 3, n, false);
        }
    }
    // The edge classes at each class of k (one k block, its edges, two blocks and a bit).
    let ms = [1, mr - 1, mr, mr + 1, 2 * mr + 1];
    let ns = [1, nr - 1, nr, nr + 1, 2 * nr + 1];
    for k in [1, kc - 1, kc, kc + 1, 2 * kc + 1] {
        for &m in &ms {
            for &n in &ns {
                next(m, k, n, false);
            }
        }
    }
    // NaN and ∞ in the inputs, in edge tiles.
    for &m in &ms {
        for &n in &ns {
            next(m, 5, n, true);
        }
    }
    // Past one packed block of A (MC rows) and of B (NC columns).
    next(K::MC + mr + 1, 2, 3, false);
    next(2, 3, K::NC + nr + 1, false);
}

#[test]
fn avx2_kernels_on_every_shape_class() {
    if !has_avx2_fma() {
        eprintln!("note: this CPU lacks AVX2/FMA; the AVX2 micro-kernels were not tested");
        return;
    }
    every_class::<Avx2<f32>>();
    every_class::<Avx2<f64>>();
}

#[test]
fn avx512_kernels_on_every_shape_class() {
    if !has_avx512() {
        eprintln!("note: this CPU lacks AVX-512F; the AVX-512 micro-kernels were not tested");
        return;
    }
    every_class::<Avx512<f32>>();
    every_class::<Avx512<f64>>();
}

/// The packed backends this CPU has.
fn packed_backends() -> Vec<Backend> {
    let all = [Backend::Avx2, Backend::Avx512];
    let have: Vec<Backend> = all.into_iter().filter(|b| b.available()).collect();
    for b in all.iter().filter(|b| !have.contains(b)) {
        eprintln!("note: this CPU cannot run {b:?}; its products were not compared");
    }
    have
}

/// `A·B` on `backend` and on matrixmultiply through the entry, `A` (`m × k`) and `B`
/// (`k × n`) read transposed or not, with α, β, on `threads` threads.
#[allow(clippy::too_many_arguments)]
fn entry_vs_matrixmultiply(
    backend: Backend,
    (m, k, n): (usize, usize, usize),
    (ta, tb): (bool, bool),
    (alpha, beta): (f32, f32),
    threads: usize,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let sa: Vec<f32> = (0..m * k).map(|_| rng.next() as f32).collect();
    let sb: Vec<f32> = (0..k * n).map(|_| rng.next() as f32).collect();
    let a = if ta {
        MatRef::rows(&sa, k, m).t()
    } else {
        MatRef::rows(&sa, m, k)
    };
    let b = if tb {
        MatRef::rows(&sb, n, k).t()
    } else {
        MatRef::rows(&sb, k, n)
    };
    let rsc = n + 2;
    let c0: Vec<f32> = (0..m * rsc).map(|_| rng.next() as f32).collect();
    let run = |backend: Backend, threads: usize| {
        let mut c = c0.clone();
        Gemm::new()
            .alpha(alpha)
            .beta(beta)
            .threads(threads)
            .backend(backend)
            .to_slice(a, b, &mut c, rsc);
        c
    };
    let ours = run(backend, threads);
    let theirs = run(Backend::MatrixMultiply, 1);
    let eps = f32::EPSILON;
    for i in 0..m {
        for j in 0..n {
            let mag: f32 = (0..k)
                .map(|l| {
                    let x = if ta { sa[l * m + i] } else { sa[i * k + l] };
                    let y = if tb { sb[j * k + l] } else { sb[l * n + j] };
                    (x * y).abs()
                })
                .sum();
            let bound =
                2.0 * (k + 2) as f32 * eps * (alpha.abs() * mag + (beta * c0[i * rsc + j]).abs());
            let (x, y) = (ours[i * rsc + j], theirs[i * rsc + j]);
            prop_assert!(
                (x - y).abs() <= bound,
                "{backend:?} {m}×{k}×{n} ({ta}, {tb}) α {alpha} β {beta}: C({i}, {j}) = {x}, matrixmultiply {y}"
            );
        }
    }
    // The thread count changes no bit, except where a split hands blocks of an `x·Wᵀ`
    // product (both operands contiguous along `k`) of 49 to 96 rows to the few-rows kernel
    // (see `split.rs`).
    let (csa, rsb) = (if ta { m } else { 1 }, if tb { 1 } else { n });
    let nt_split = csa == 1 && rsb == 1 && k >= 32 && m > 48;
    if !nt_split {
        let one = run(backend, 1);
        prop_assert!(
            ours == one,
            "{backend:?}: {threads} threads differ from one"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn packed_gemm_matches_matrixmultiply(
        m in 1usize..80,
        k in 1usize..300,
        n in 1usize..80,
        ta: bool,
        tb: bool,
        scalars in 0usize..4,
        threads in 1usize..4,
        seed: u64,
    ) {
        let (alpha, beta) = SCALARS[scalars];
        for backend in packed_backends() {
            entry_vs_matrixmultiply(
                backend,
                (m, k, n),
                (ta, tb),
                (alpha as f32, beta as f32),
                threads,
                seed,
            )?;
        }
    }
}

/// A fused epilogue (a bias, then GELU and a residual add) against the same steps unfused
/// (`C` prefilled with the bias, the product with β = 1, the map over `C`): bit for bit, on
/// every backend, on one and three threads, on products that take each route (the few-rows
/// kernel, the packed GEMM over several blocks of `k`, an odd shape).
#[test]
fn fused_epilogue_equals_the_unfused_steps_bit_for_bit() {
    use crate::ops::activations::gelu;
    let mut backends = packed_backends();
    backends.push(Backend::MatrixMultiply);
    for backend in backends {
        for (m, k, n) in [(37, 300, 45), (5, 40, 70), (100, 17, 33), (64, 600, 65)] {
            let mut rng = Rng(7 + (m * k * n) as u64);
            let sa: Vec<f32> = (0..m * k).map(|_| rng.next() as f32).collect();
            let sw: Vec<f32> = (0..n * k).map(|_| rng.next() as f32).collect();
            let bias: Vec<f32> = (0..n).map(|_| rng.next() as f32).collect();
            let res: Vec<f32> = (0..m * n).map(|_| rng.next() as f32).collect();
            let x = MatRef::rows(&sa, m, k);
            let wt = MatRef::rows(&sw, n, k).t();
            let rsc = n + 3;
            let map = |i: usize, j0: usize, row: &mut [f32]| {
                for (t, y) in row.iter_mut().enumerate() {
                    *y = gelu(*y) + res[i * n + j0 + t];
                }
            };
            for threads in [1, 3] {
                let gemm = Gemm::new().threads(threads).backend(backend);
                let mut unfused = vec![0f32; m * rsc];
                for row in unfused.chunks_mut(rsc) {
                    row[..n].copy_from_slice(&bias);
                }
                gemm.beta(1.0).to_slice(x, wt, &mut unfused, rsc);
                for (i, row) in unfused.chunks_mut(rsc).enumerate() {
                    map(i, 0, &mut row[..n]);
                }
                let mut fused = vec![f32::NAN; m * rsc];
                let epi = Epilogue {
                    bias: Some(&bias),
                    map: Some(&map),
                    origin: (0, 0),
                };
                gemm.to_slice_with(x, wt, &mut fused, rsc, epi);
                for i in 0..m {
                    for j in 0..n {
                        let (u, f) = (unfused[i * rsc + j], fused[i * rsc + j]);
                        assert!(
                            u.to_bits() == f.to_bits(),
                            "{backend:?} {m}×{k}×{n} on {threads}: C({i}, {j}) fused {f}, unfused {u}"
                        );
                    }
                }
                // A map alone, α = 0.5 and β = 0 on a C of NaN.
                let mut plain = vec![f32::NAN; m * rsc];
                gemm.alpha(0.5).to_slice(x, wt, &mut plain, rsc);
                for (i, row) in plain.chunks_mut(rsc).enumerate() {
                    map(i, 0, &mut row[..n]);
                }
                let mut fused = vec![f32::NAN; m * rsc];
                let epi = Epilogue {
                    bias: None,
                    map: Some(&map),
                    origin: (0, 0),
                };
                gemm.alpha(0.5).to_slice_with(x, wt, &mut fused, rsc, epi);
                for i in 0..m {
                    let (u, f) = (&plain[i * rsc..][..n], &fused[i * rsc..][..n]);
                    assert!(
                        u.iter().zip(f).all(|(u, f)| u.to_bits() == f.to_bits()),
                        "{backend:?} {m}×{k}×{n} on {threads}, map only: row {i} differs"
                    );
                }
            }
        }
    }
}

/// Products of more than 96 rows split over threads share one pack of `B` and hand out
/// blocks of rows (`blocked.rs`): on 2, 3 and 4 threads, the bits of 1 thread, for f32 and
/// f64, on every packed backend; with `B` small enough to stay in L2 (several blocks per
/// thread) and too large (one each), several blocks of `k` and of `MC` rows, an `n` that
/// ends inside a panel, transposed operands, β ≠ 0 on a wider `C`, a prepacked `B`, and a
/// fused bias and map, which must see each row at its own coordinates.
#[test]
fn products_sharing_a_pack_of_b_do_not_depend_on_threads() {
    fn case<T: Float>(backend: Backend, (m, k, n): (usize, usize, usize), ta: bool) {
        let mut rng = Rng((m * 31 + k * 7 + n) as u64);
        let mut vals =
            |len: usize| -> Vec<T> { (0..len).map(|_| T::from_f64(rng.next())).collect() };
        let (sa, sb, bias) = (vals(m * k), vals(k * n), vals(n));
        let a = if ta {
            MatRef::rows(&sa, k, m).t()
        } else {
            MatRef::rows(&sa, m, k)
        };
        let b = MatRef::rows(&sb, n, k).t();
        let rsc = n + 5;
        let c0 = vals(m * rsc);
        let map = |i: usize, j0: usize, row: &mut [T]| {
            for (t, y) in row.iter_mut().enumerate() {
                *y = *y * T::from_f64(0.5) + T::from_usize(i * 3 + j0 + t);
            }
        };
        let pack = super::PackedB::new(b, backend).expect("a packed backend");
        let run = |threads: usize| {
            let gemm = Gemm::new().threads(threads).backend(backend);
            let mut c = c0.clone();
            gemm.alpha(T::from_f64(-0.5))
                .beta(T::from_f64(1.5))
                .to_slice(a, b, &mut c, rsc);
            let mut fused = c0.clone();
            let epi = Epilogue {
                bias: Some(&bias),
                map: Some(&map),
                origin: (0, 0),
            };
            gemm.to_slice_with(a, b, &mut fused, rsc, epi);
            let mut packed = c0.clone();
            gemm.to_slice_packed(a, b, &mut packed, rsc, Some(&pack));
            let bits = |v: Vec<T>| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
            (bits(c), bits(fused), bits(packed))
        };
        let one = run(1);
        for threads in [2, 3, 4] {
            assert!(
                run(threads) == one,
                "{backend:?} {m}×{k}×{n} (A transposed: {ta}) on {threads} threads differs from 1"
            );
        }
    }
    for backend in packed_backends() {
        for (m, k, n) in [
            (97, 300, 45),
            (200, 600, 70),
            (450, 40, 33),
            (330, 520, 300),
        ] {
            for ta in [false, true] {
                case::<f32>(backend, (m, k, n), ta);
            }
        }
        case::<f64>(backend, (150, 300, 130), false);
    }
}
