//! `Display` in NumPy's layout, `Debug` with the dims by name.
//!
//! Like `numpy.array2string` with its defaults: elements aligned on the decimal point,
//! integral values printed as `1.`, up to 8 significant decimals with trailing zeros
//! trimmed, scientific notation when the magnitudes call for it (max ≥ 1e8, min < 1e-4 or
//! max/min > 1e3), and tensors of more than 1000 elements summarised with `...` around the
//! first and last 3 entries of each axis. A precision given to the formatter (`{:.3}`)
//! fixes the number of decimals. Lines are not wrapped.

use core::fmt;

use super::{Tensor, TensorView};
use crate::element::Float;
use crate::shape::Shape;

const THRESHOLD: usize = 1000;
const EDGE: usize = 3;

impl<S: Shape, T: Float> fmt::Display for Tensor<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.view(), f)
    }
}

impl<S: Shape, T: Float> fmt::Debug for Tensor<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor<{}>{:?}\n{}", T::NAME, self.shape(), self)
    }
}

impl<S: Shape, T: Float> fmt::Debug for TensorView<'_, S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TensorView<{}>{:?} strides {:?}\n{}",
            T::NAME,
            self.shape(),
            self.strides().as_slice(),
            self
        )
    }
}

impl<S: Shape, T: Float> fmt::Display for TensorView<'_, S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims = self.dims();
        let values = self.to_vec();
        let summarise = values.len() > THRESHOLD;
        // Only the printed elements decide the format, as in NumPy.
        let mut shown = Vec::new();
        visit(&dims, 0, 0, summarise, &mut |flat| shown.push(values[flat]));
        let fmt_one = Formatter::new(&shown, f.precision());
        let cells: Vec<String> = shown.iter().map(|&x| fmt_one.format(x)).collect();
        let align = Align::of(&cells);
        let mut cells = cells.into_iter();
        let mut out = String::new();
        write_nested(&dims, 0, summarise, &mut out, &mut || {
            align.pad(&cells.next().expect("one cell per visited element"))
        });
        f.write_str(&out)
    }
}

/// Visits the flat indices that are printed, in order.
fn visit(dims: &[usize], axis: usize, base: usize, summarise: bool, f: &mut impl FnMut(usize)) {
    if axis == dims.len() {
        f(base);
        return;
    }
    let stride: usize = dims[axis + 1..].iter().product();
    for i in shown_indices(dims[axis], summarise) {
        visit(dims, axis + 1, base + i * stride, summarise, f);
    }
}

fn shown_indices(n: usize, summarise: bool) -> Vec<usize> {
    if summarise && n > 2 * EDGE {
        (0..EDGE).chain(n - EDGE..n).collect()
    } else {
        (0..n).collect()
    }
}

fn write_nested(
    dims: &[usize],
    axis: usize,
    summarise: bool,
    out: &mut String,
    cell: &mut impl FnMut() -> String,
) {
    if axis == dims.len() {
        out.push_str(&cell());
        return;
    }
    let n = dims[axis];
    let inner = dims.len() - axis - 1;
    out.push('[');
    let idx = shown_indices(n, summarise);
    for (pos, &i) in idx.iter().enumerate() {
        if pos > 0 {
            if inner == 0 {
                out.push(' ');
            } else {
                out.push_str(&"\n".repeat(inner));
                out.push_str(&" ".repeat(axis + 1));
            }
            if idx[pos - 1] + 1 != i {
                out.push_str("...");
                if inner == 0 {
                    out.push(' ');
                } else {
                    out.push_str(&"\n".repeat(inner));
                    out.push_str(&" ".repeat(axis + 1));
                }
            }
        }
        write_nested(dims, axis + 1, summarise, out, cell);
    }
    out.push(']');
}

/// The format NumPy would pick for a set of values.
struct Formatter {
    scientific: bool,
    integral: bool,
    precision: usize,
    fixed: bool,
}

impl Formatter {
    fn new<T: Float>(values: &[T], precision: Option<usize>) -> Self {
        let finite: Vec<f64> = values
            .iter()
            .map(|x| x.to_f64())
            .filter(|x| x.is_finite())
            .collect();
        let abs_nonzero: Vec<f64> = finite
            .iter()
            .map(|x| x.abs())
            .filter(|&x| x != 0.0)
            .collect();
        let max = abs_nonzero.iter().cloned().fold(0.0, f64::max);
        let min = abs_nonzero.iter().cloned().fold(f64::INFINITY, f64::min);
        let scientific = !abs_nonzero.is_empty() && (max >= 1e8 || min < 1e-4 || max / min > 1e3);
        let integral = finite.iter().all(|x| x.fract() == 0.0) && !scientific;
        Formatter {
            scientific,
            integral,
            precision: precision.unwrap_or(8),
            fixed: precision.is_some(),
        }
    }

    fn format<T: Float>(&self, x: T) -> String {
        let v = x.to_f64();
        if v.is_nan() {
            return "nan".into();
        }
        if v.is_infinite() {
            return if v > 0.0 { "inf".into() } else { "-inf".into() };
        }
        if self.scientific {
            // Shortest representation that round-trips, unless it needs more digits than
            // the precision allows (NumPy's "unique" mode).
            let short = format!("{x:e}");
            let mantissa_digits = frac_digits(short.split('e').next().unwrap_or(""));
            let s = if self.fixed || mantissa_digits > self.precision {
                format!("{:.*e}", self.precision, x)
            } else {
                short
            };
            let (mantissa, exp) = s.split_once('e').expect("exponent format");
            let mantissa = if self.fixed {
                mantissa.to_string()
            } else if mantissa.contains('.') {
                trim(mantissa)
            } else {
                format!("{mantissa}.")
            };
            let exp: i32 = exp.parse().expect("integer exponent");
            let sign = if exp < 0 { '-' } else { '+' };
            return format!("{mantissa}e{sign}{:02}", exp.abs());
        }
        if self.integral && !self.fixed {
            return format!("{x:.0}.");
        }
        if self.fixed {
            return format!("{:.*}", self.precision, x);
        }
        let short = format!("{x}");
        if frac_digits(&short) > self.precision {
            trim(&format!("{:.*}", self.precision, x))
        } else if short.contains('.') {
            short
        } else {
            format!("{short}.")
        }
    }
}

/// Decimal-point alignment: integer parts padded on the left, fractions on the right;
/// cells without a point (`nan`, `inf`) right-aligned to the full width.
struct Align {
    left: usize,
    right: usize,
}

impl Align {
    fn of(cells: &[String]) -> Self {
        let mut a = Align { left: 0, right: 0 };
        for c in cells {
            match c.split_once('.') {
                Some((l, r)) => {
                    a.left = a.left.max(l.len());
                    a.right = a.right.max(r.len());
                }
                None => a.left = a.left.max(c.len()),
            }
        }
        a
    }

    fn pad(&self, cell: &str) -> String {
        match cell.split_once('.') {
            Some((l, r)) => format!("{l:>lw$}.{r:<rw$}", lw = self.left, rw = self.right),
            None => format!("{cell:>w$}", w = self.left + 1 + self.right),
        }
    }
}

fn frac_digits(s: &str) -> usize {
    s.split_once('.').map_or(0, |(_, f)| f.len())
}

/// Trailing zeros off, the decimal point kept: `1.50000` → `1.5`, `2.000` → `2.`.
fn trim(s: &str) -> String {
    if !s.contains('.') {
        return s.to_string();
    }
    s.trim_end_matches('0').to_string()
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;

    #[test]
    fn numpy_layout() {
        let x = Tensor::<(D<2>, D<2>)>::from_vec(vec![1.0, 2.5, -3.0, 4.25]).unwrap();
        assert_eq!(x.to_string(), "[[ 1.    2.5 ]\n [-3.    4.25]]");
        let y = Tensor::<(D<2>, D<1>, D<2>)>::from_vec(vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(y.to_string(), "[[[1. 2.]]\n\n [[3. 4.]]]");
        let s = Tensor::<(), f64>::full(3.0);
        assert_eq!(s.to_string(), "3.");
        let e = Tensor::<(D<2>,)>::from_vec(vec![1e-5, 1.0]).unwrap();
        assert_eq!(e.to_string(), "[1.e-05 1.e+00]");
    }

    #[test]
    fn summarises_large_tensors() {
        let x = Tensor::<(D<1024>,)>::from_fn(|[i]| (i % 7 + 1) as f32);
        assert_eq!(x.to_string(), "[1. 2. 3. ... 7. 1. 2.]");
        let y = Tensor::<(D<40>, D<40>)>::from_fn(|[i, j]| (i + j) as f32 / 100.0);
        let text = y.to_string();
        assert!(text.starts_with("[[0.   0.01 0.02 ... 0.37 0.38 0.39]\n [0.01 0.02"));
        assert!(text.contains("\n ...\n [0.37"));
    }

    #[test]
    fn precision_from_formatter() {
        let x = Tensor::<(D<2>,)>::from_vec(vec![0.5, 1.0 / 3.0]).unwrap();
        assert_eq!(format!("{x:.3}"), "[0.500 0.333]");
    }
}
