//! The secular equation of a divide-and-conquer merge (`dc.rs`): the roots `σ` of
//! `1 + Σ z_j²/(d_j² − σ²) = 0`, each found from its nearer pole so that every `d_j − σ` is
//! known to full relative accuracy (LAPACK's `dlasd4`), then `z` recomputed by the Löwner
//! formula and the singular vectors of the merged problem built from it (`dlasd8`). All in
//! f64, compiled for AVX2/FMA when the CPU has them.

use crate::kernel::Avx2FmaKernel;

/// The arguments of `secular_vectors`, so that it runs with the AVX2 build when the CPU
/// has it (its divisions are then four-wide).
pub(super) struct Secular<'a> {
    pub(super) d: &'a [f64],
    pub(super) z: &'a [f64],
}

impl Avx2FmaKernel for Secular<'_> {
    type Output = (Vec<f64>, Vec<f64>, Vec<f64>);
    #[inline(always)]
    fn run(self) -> Self::Output {
        secular_vectors(self.d, self.z)
    }
}

/// For the `K × K` matrix with first row `z` and diagonal `d` (`d[0] = 0 < d[1] < …`, every
/// `z_j ≠ 0`): its singular values (ascending, `σ_i ∈ (d_i, d_{i+1})`) and its left and
/// right singular vectors as the rows of two `K × K` matrices.
#[inline(always)]
fn secular_vectors(d: &[f64], z: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let k = d.len();
    if k == 1 {
        // M = [z₀]: σ = |z₀|, u = −1, v = −sign(z₀) (the convention below).
        return (vec![z[0].abs()], vec![-1.0], vec![-z[0].signum()]);
    }
    // Δ[i][j] = d_j² − σ_i², each factor from σ_i's nearer pole.
    let mut delta = vec![0.0f64; k * k];
    let mut sig = vec![0.0f64; k];
    let mut dd = vec![0.0f64; k];
    let mut ds = vec![0.0f64; k];
    let znorm = z.iter().map(|x| x * x).sum::<f64>().sqrt();
    for i in 0..k {
        let (origin, mu) = secular_root(d, z, i, znorm, &mut dd, &mut ds);
        sig[i] = d[origin] + mu;
        let row = &mut delta[i * k..(i + 1) * k];
        for j in 0..k {
            row[j] = ((d[j] - d[origin]) - mu) * ((d[j] + d[origin]) + mu);
        }
    }
    // Löwner: the ẑ for which the σ are exact, |ẑ_j|² = (σ_{K−1}² − d_j²) ·
    // Π_{i<j} (σ_i² − d_j²)/(d_i² − d_j²) · Π_{j≤i<K−1} (σ_i² − d_j²)/(d_{i+1}² − d_j²).
    let mut zh: Vec<f64> = delta[(k - 1) * k..].iter().map(|x| -x).collect();
    for i in 0..k - 1 {
        let row = &delta[i * k..(i + 1) * k];
        for j in 0..k {
            let pole = if i < j { d[i] } else { d[i + 1] };
            zh[j] *= -row[j] / ((pole - d[j]) * (pole + d[j]));
        }
    }
    for (h, z) in zh.iter_mut().zip(z) {
        *h = h.abs().sqrt().copysign(*z);
    }
    let mut u = vec![0.0f64; k * k];
    let mut v = vec![0.0f64; k * k];
    for i in 0..k {
        let (urow, vrow) = (&mut u[i * k..(i + 1) * k], &mut v[i * k..(i + 1) * k]);
        let drow = &delta[i * k..(i + 1) * k];
        let (mut un, mut vn) = (1.0f64, 0.0f64);
        urow[0] = -1.0;
        for j in 0..k {
            let x = zh[j] / drow[j];
            vrow[j] = x;
            vn += x * x;
            if j > 0 {
                let y = d[j] * x;
                urow[j] = y;
                un += y * y;
            }
        }
        let (ui, vi) = (1.0 / un.sqrt(), 1.0 / vn.sqrt());
        urow.iter_mut().for_each(|x| *x *= ui);
        vrow.iter_mut().for_each(|x| *x *= vi);
    }
    (sig, u, v)
}

/// `f(σ) = 1 + ψ + φ` at `σ = d[origin] + mu` (ψ over the poles `j ≤ i`, φ over the rest),
/// with their derivatives in `σ²`; `dd`, `ds` hold `d_j ∓ d[origin]`.
#[inline(always)]
fn secular_eval(z: &[f64], dd: &[f64], ds: &[f64], i: usize, mu: f64) -> [f64; 4] {
    let (psi, dpsi) = secular_part(&z[..=i], &dd[..=i], &ds[..=i], mu);
    let (phi, dphi) = secular_part(&z[i + 1..], &dd[i + 1..], &ds[i + 1..], mu);
    [psi, dpsi, phi, dphi]
}

/// `Σ z_j²/Δ_j` and `Σ (z_j/Δ_j)²` with `Δ_j = (dd_j − μ)·(ds_j + μ)`, four lanes wide.
#[inline(always)]
fn secular_part(z: &[f64], dd: &[f64], ds: &[f64], mu: f64) -> (f64, f64) {
    let mut acc = [[0.0f64; 4]; 2];
    let chunks = z.len() / 4 * 4;
    for c in (0..chunks).step_by(4) {
        for l in 0..4 {
            let t = z[c + l] / ((dd[c + l] - mu) * (ds[c + l] + mu));
            acc[0][l] += z[c + l] * t;
            acc[1][l] += t * t;
        }
    }
    let (mut f, mut df) = (
        (acc[0][0] + acc[0][2]) + (acc[0][1] + acc[0][3]),
        (acc[1][0] + acc[1][2]) + (acc[1][1] + acc[1][3]),
    );
    for c in chunks..z.len() {
        let t = z[c] / ((dd[c] - mu) * (ds[c] + mu));
        f += z[c] * t;
        df += t * t;
    }
    (f, df)
}

/// The root `i` of the secular equation as `(origin, μ)` with `σ_i = d[origin] + μ`, where
/// `origin` is the nearer of the poles `i` and `i + 1` (always `i` for the last root).
///
/// Each step fits `ψ` and `φ` by one pole each at `d_i` and `d_{i+1}` matching value and
/// slope, and solves the fitted equation (a quadratic in the new `d_i² − σ²` or
/// `d_{i+1}² − σ²`); a step that leaves the bracket is replaced by bisection.
#[inline(always)]
pub(super) fn secular_root(
    d: &[f64],
    z: &[f64],
    i: usize,
    znorm: f64,
    dd: &mut [f64],
    ds: &mut [f64],
) -> (usize, f64) {
    let k = d.len();
    let last = i + 1 == k;
    let eps = f64::EPSILON;
    let set_origin = |o: usize, dd: &mut [f64], ds: &mut [f64]| {
        for j in 0..k {
            dd[j] = d[j] - d[o];
            ds[j] = d[j] + d[o];
        }
    };
    let (origin, mut lo, mut hi, mut mu, mut ev);
    if last {
        origin = i;
        set_origin(i, dd, ds);
        lo = 0.0;
        hi = znorm;
        mu = hi;
        ev = secular_eval(z, dd, ds, i, mu);
    } else {
        let gap = d[i + 1] - d[i];
        set_origin(i, dd, ds);
        let e = secular_eval(z, dd, ds, i, gap / 2.0);
        if 1.0 + e[0] + e[2] >= 0.0 {
            origin = i;
            (lo, hi, mu) = (0.0, gap / 2.0, gap / 2.0);
            ev = e;
        } else {
            // The same σ seen from the other pole: the sums at it are already known.
            origin = i + 1;
            set_origin(i + 1, dd, ds);
            (lo, hi, mu) = (-gap / 2.0, 0.0, -gap / 2.0);
            ev = e;
        }
    }
    let dor = d[origin];
    for iter in 0..200 {
        let [psi, dpsi, phi, dphi] = ev;
        let f = 1.0 + psi + phi;
        if f == 0.0 {
            break;
        }
        if f > 0.0 {
            hi = mu;
        } else {
            lo = mu;
        }
        let err = eps * (8.0 + (8.0 + (k as f64).sqrt()) * (phi - psi));
        if f.abs() <= err || hi - lo <= 2.0 * eps * lo.abs().max(hi.abs()) {
            break;
        }
        // Δ_i and Δ_{i+1} at the current σ.
        let di = (dd[i] - mu) * (ds[i] + mu);
        let mut next = None;
        if iter < 40 {
            let b1 = dpsi * di * di;
            let a1 = psi - dpsi * di;
            if last {
                let c = 1.0 + a1;
                if c > 0.0 {
                    // New Δ_i = p = −b1/c < 0, so μ² + 2·d_o·μ + p = 0.
                    let p = -b1 / c;
                    next = Some(-p / (dor + (dor * dor - p).sqrt()));
                }
            } else {
                let di1 = (dd[i + 1] - mu) * (ds[i + 1] + mu);
                let b2 = dphi * di1 * di1;
                let a2 = phi - dphi * di1;
                let c = 1.0 + a1 + a2;
                let g = (d[i + 1] - d[i]) * (d[i + 1] + d[i]);
                if origin == i {
                    // New Δ_i = p ∈ (−g, 0): c·p² + (c·g + b1 + b2)·p + b1·g = 0.
                    if let Some(p) = quadratic_root_in(c, c * g + b1 + b2, b1 * g, -g, 0.0) {
                        next = Some(-p / (dor + (dor * dor - p).sqrt()));
                    }
                } else if let Some(q) = quadratic_root_in(c, -c * g + b1 + b2, -b2 * g, 0.0, g) {
                    // New Δ_{i+1} = q ∈ (0, g): c·q² + (b1 + b2 − c·g)·q − b2·g = 0.
                    next = Some(-q / (dor + (dor * dor - q).sqrt()));
                }
            }
        }
        let new = match next {
            Some(x) if x > lo && x < hi && x != mu => x,
            _ => 0.5 * (lo + hi),
        };
        if new == mu {
            break;
        }
        mu = new;
        ev = secular_eval(z, dd, ds, i, mu);
    }
    (origin, mu)
}

/// The root of `a·x² + b·x + c` strictly inside `(lo, hi)`, if one is found.
fn quadratic_root_in(a: f64, b: f64, c: f64, lo: f64, hi: f64) -> Option<f64> {
    let inside = |x: f64| x.is_finite() && x > lo && x < hi;
    if a == 0.0 {
        let x = -c / b;
        return inside(x).then_some(x);
    }
    let disc = b * b - 4.0 * a * c;
    if disc.is_nan() || disc < 0.0 {
        return None;
    }
    let q = -0.5 * (b + disc.sqrt().copysign(b));
    let x1 = q / a;
    let x2 = c / q;
    if inside(x1) {
        Some(x1)
    } else if inside(x2) {
        Some(x2)
    } else {
        None
    }
}
