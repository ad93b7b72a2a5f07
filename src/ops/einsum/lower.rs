//! The lowering of an einsum whose sizes have been checked.
//!
//! Each operand becomes a [`Term`]: a strided layout whose axes are labelled with letter
//! ids. A letter repeated inside one operand (a diagonal, `"ii->i"`) becomes one axis whose
//! stride is the sum of the strides: no copy. Operands are then contracted left to right,
//! two at a time; before each step a letter that only one side has and nothing later needs
//! is summed out. A step classifies the letters of its two terms as
//!
//! - batch: on both sides and needed later,
//! - contracted: on both sides and not needed later,
//! - rows / columns: on one side only,
//!
//! and becomes one batched GEMM (`batch × (rows × k) · (k × cols)`) on the operands' own
//! strides, through the crate's one GEMM entry (`crate::kernel`). A group of letters (rows, columns or the
//! contracted ones) is passed as one GEMM axis when its strides nest; when they do not,
//! that operand is copied once into a layout where they do. The GEMM writes its result in
//! the order batch, rows, columns; the last step picks the operand order and group orders
//! that make this the output order, so attention scores, matmuls and their batched forms
//! need no copy at all. A step whose GEMM would be 1 × 1 (a batch of dot products) is a
//! batch of pairwise dots instead (`kernel::pairwise`), as accurate as NumPy's. A single
//! operand (transpose, trace, diagonal, sums) is gathered, or gathered and summed
//! (pairwise), into the output order.

use super::strided::{contiguous_strides, for_each_offset, gather, gather_sum};
use crate::element::Float;
use crate::kernel::{pairwise, Gemm, MatRef};

/// The elements a term reads: a borrowed operand or an owned intermediate.
enum Buf<'a, T> {
    Borrowed(&'a [T]),
    Owned(Vec<T>),
}

/// A strided layout with one letter id per axis.
pub(crate) struct Term<'a, T> {
    buf: Buf<'a, T>,
    offset: usize,
    letters: Vec<usize>,
    dims: Vec<usize>,
    strides: Vec<usize>,
}

impl<'a, T: Float> Term<'a, T> {
    /// A borrowed operand; repeated letters become one diagonal axis.
    pub(crate) fn borrowed(
        data: &'a [T],
        offset: usize,
        letters: &[usize],
        dims: &[usize],
        strides: &[usize],
    ) -> Self {
        let mut term = Term {
            buf: Buf::Borrowed(data),
            offset,
            letters: Vec::new(),
            dims: Vec::new(),
            strides: Vec::new(),
        };
        for ((&l, &d), &s) in letters.iter().zip(dims).zip(strides) {
            match term.axis(l) {
                // The caller checked that both axes have the same size.
                Some(a) => term.strides[a] += s,
                None => {
                    term.letters.push(l);
                    term.dims.push(d);
                    term.strides.push(s);
                }
            }
        }
        term
    }

    fn owned(data: Vec<T>, letters: Vec<usize>, dims: Vec<usize>) -> Self {
        let strides = contiguous_strides(&dims);
        Term {
            buf: Buf::Owned(data),
            offset: 0,
            letters,
            dims,
            strides,
        }
    }

    fn data(&self) -> &[T] {
        match &self.buf {
            Buf::Borrowed(d) => d,
            Buf::Owned(v) => v,
        }
    }

    fn axis(&self, letter: usize) -> Option<usize> {
        self.letters.iter().position(|&l| l == letter)
    }

    fn has(&self, letter: usize) -> bool {
        self.axis(letter).is_some()
    }

    /// Dims and strides of `letters`, in that order.
    fn layout(&self, letters: &[usize]) -> (Vec<usize>, Vec<usize>) {
        letters
            .iter()
            .map(|&l| {
                let a = self.axis(l).expect("letter of this term");
                (self.dims[a], self.strides[a])
            })
            .unzip()
    }

    /// Sums out the letters for which `drop` holds; the others keep their order.
    fn sum_out(self, drop: impl Fn(usize) -> bool) -> Self {
        let (gone, kept): (Vec<usize>, Vec<usize>) = self.letters.iter().partition(|&&l| drop(l));
        if gone.is_empty() {
            return self;
        }
        let (kd, ks) = self.layout(&kept);
        let (sd, ss) = self.layout(&gone);
        let data = gather_sum(self.data(), self.offset, (&kd, &ks), (&sd, &ss));
        Term::owned(data, kept, kd)
    }

    /// A contiguous copy with the axes in `order` (a permutation of the term's letters).
    fn materialise(&self, order: &[usize]) -> Self {
        let (dims, strides) = self.layout(order);
        let data = gather(self.data(), self.offset, &dims, &strides);
        Term::owned(data, order.to_vec(), dims)
    }

    /// The elements in row-major order of `order`, copied only if the layout is not
    /// already exactly that.
    pub(crate) fn into_vec(self, order: &[usize]) -> Vec<T> {
        let len: usize = self.dims.iter().product();
        if let Buf::Owned(v) = &self.buf {
            if self.letters == order && self.offset == 0 && v.len() == len {
                let Buf::Owned(v) = self.buf else {
                    unreachable!()
                };
                return v;
            }
        }
        let (dims, strides) = self.layout(order);
        gather(self.data(), self.offset, &dims, &strides)
    }

    /// The size and stride of `letters` read as one axis, if their strides nest (each
    /// stride is the next one's times its size; axes of size 1 do not matter).
    fn merged(&self, letters: &[usize]) -> Option<(usize, usize)> {
        let (dims, strides) = self.layout(letters);
        let size: usize = dims.iter().product();
        if size == 0 {
            return Some((0, 0));
        }
        let axes: Vec<(usize, usize)> = dims
            .into_iter()
            .zip(strides)
            .filter(|&(d, _)| d != 1)
            .collect();
        let nested = axes.windows(2).all(|w| w[0].1 == w[1].1 * w[1].0);
        nested.then(|| (size, axes.last().map_or(0, |&(_, s)| s)))
    }
}

/// Evaluates the einsum: `inputs` are the operands' terms, `output` the output letters.
/// Returns the output's elements in row-major order.
pub(crate) fn evaluate<T: Float>(inputs: Vec<Term<'_, T>>, output: &[usize]) -> Vec<T> {
    let count = inputs.len();
    let letters: Vec<Vec<usize>> = inputs.iter().map(|t| t.letters.clone()).collect();
    let mut terms = inputs.into_iter();
    let mut acc = terms.next().expect("einsum has at least one operand");
    for (i, next) in terms.enumerate() {
        let step = i + 1;
        // Letters needed after this step: the output's and those of later operands.
        let mut later: Vec<usize> = output.to_vec();
        later.extend(letters[step + 1..].iter().flatten());
        let acc_only = |l: usize| !next.has(l) && !later.contains(&l);
        acc = acc.sum_out(acc_only);
        let next = next.sum_out(|l| !acc.has(l) && !later.contains(&l));
        let desired = (step + 1 == count).then_some(output);
        acc = contract(acc, next, &later, desired);
    }
    acc.sum_out(|l| !output.contains(&l)).into_vec(output)
}

/// Which part of a GEMM a letter is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Batch,
    Rows,
    Cols,
}

/// The orders of the batch, row and column letters, if `desired` lists all batch letters,
/// then all row letters, then all column letters (rows from `left`, columns from `right`).
fn fits(
    desired: &[usize],
    left: &Term<'_, impl Float>,
    right: &Term<'_, impl Float>,
) -> Option<[Vec<usize>; 3]> {
    let mut groups: [Vec<usize>; 3] = Default::default();
    let mut last = Role::Batch;
    for &l in desired {
        let role = match (left.has(l), right.has(l)) {
            (true, true) => Role::Batch,
            (true, false) => Role::Rows,
            (false, true) => Role::Cols,
            (false, false) => return None,
        };
        if role < last {
            return None;
        }
        last = role;
        groups[role as usize].push(l);
    }
    Some(groups)
}

/// Letters of `term` for which `pred` holds, sorted by decreasing stride (the order in
/// which a row-major layout nests them).
fn by_stride(term: &Term<'_, impl Float>, pred: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut axes: Vec<usize> = (0..term.letters.len())
        .filter(|&a| pred(term.letters[a]))
        .collect();
    axes.sort_by_key(|&a| core::cmp::Reverse(term.strides[a]));
    axes.into_iter().map(|a| term.letters[a]).collect()
}

/// The most batch axes the GEMM kernel takes.
const MAX_BATCH_AXES: usize = 6;

/// One pairwise step: `a` and `b` contracted over the letters they share that `keep` does
/// not list, as one batched GEMM.
fn contract<'a, T: Float>(
    a: Term<'a, T>,
    b: Term<'a, T>,
    keep: &[usize],
    desired: Option<&[usize]>,
) -> Term<'a, T> {
    // Operand order and group orders: the desired output order if a GEMM can write it.
    let plan = desired.and_then(|d| {
        fits(d, &a, &b)
            .map(|g| (false, g))
            .or_else(|| fits(d, &b, &a).map(|g| (true, g)))
    });
    let (swap, [batch, rows, cols]) = match plan {
        Some(p) => p,
        None => {
            let batch: Vec<usize> = a
                .letters
                .iter()
                .copied()
                .filter(|&l| b.has(l) && keep.contains(&l))
                .collect();
            let rows = by_stride(&a, |l| !b.has(l));
            let cols = by_stride(&b, |l| !a.has(l));
            (false, [batch, rows, cols])
        }
    };
    let (mut left, mut right) = if swap { (b, a) } else { (a, b) };
    let ks = by_stride(&left, |l| right.has(l) && !keep.contains(&l));

    let left_order: Vec<usize> = [&batch[..], &rows[..], &ks[..]].concat();
    let right_order: Vec<usize> = [&batch[..], &ks[..], &cols[..]].concat();
    let many_batch = batch.len() > MAX_BATCH_AXES;
    let left_ok = !many_batch && left.merged(&rows).is_some() && left.merged(&ks).is_some();
    if !left_ok {
        left = left.materialise(&left_order);
    }
    let right_ok = !many_batch && right.merged(&ks).is_some() && right.merged(&cols).is_some();
    if !right_ok {
        right = right.materialise(&right_order);
    }
    let (m, ars) = left.merged(&rows).expect("nested after materialising");
    let (k, acs) = left.merged(&ks).expect("nested after materialising");
    let (k2, brs) = right.merged(&ks).expect("nested after materialising");
    let (n, bcs) = right.merged(&cols).expect("nested after materialising");
    debug_assert_eq!(k, k2);

    let (mut batch_dims, mut a_batch) = left.layout(&batch);
    let (_, mut b_batch) = right.layout(&batch);
    if many_batch {
        // Both operands are contiguous with the batch axes first: one batch axis.
        let items: usize = batch_dims.iter().product();
        batch_dims = vec![items];
        a_batch = vec![m * k];
        b_batch = vec![k * n];
    }
    if m == 1 && n == 1 {
        // A batch of dot products: summed pairwise (NumPy's accuracy), not by a GEMM whose
        // accumulation over a long k is a running sum.
        let data = batched_dots(
            (left.data(), left.offset, &a_batch, acs),
            (right.data(), right.offset, &b_batch, brs),
            &batch_dims,
            k,
        );
        let letters: Vec<usize> = [&batch[..], &rows[..], &cols[..]].concat();
        let (mut dims, _) = left.layout(&[&batch[..], &rows[..]].concat());
        dims.extend(right.layout(&cols).0);
        return Term::owned(data, letters, dims);
    }
    let lhs = MatRef::batched(
        left.data(),
        left.offset,
        (&batch_dims, &a_batch),
        (m, k),
        (ars, acs),
    );
    let rhs = MatRef::batched(
        right.data(),
        right.offset,
        (&batch_dims, &b_batch),
        (k, n),
        (brs, bcs),
    );
    let data = Gemm::new().to_vec(lhs, rhs);

    let letters: Vec<usize> = [&batch[..], &rows[..], &cols[..]].concat();
    let (mut dims, _) = left.layout(&[&batch[..], &rows[..]].concat());
    dims.extend(right.layout(&cols).0);
    Term::owned(data, letters, dims)
}

/// One pairwise dot product of length `k` per batch item, the two operands each given as
/// (buffer, offset, batch strides, stride along `k`).
fn batched_dots<T: Float>(
    (a, ao, a_batch, sa): (&[T], usize, &[usize], usize),
    (b, bo, b_batch, sb): (&[T], usize, &[usize], usize),
    batch_dims: &[usize],
    k: usize,
) -> Vec<T> {
    let mut starts = Vec::with_capacity(batch_dims.iter().product());
    for_each_offset(ao, batch_dims, a_batch, |o| starts.push(o));
    let mut out = Vec::with_capacity(starts.len());
    let mut i = 0;
    for_each_offset(bo, batch_dims, b_batch, |o| {
        out.push(pairwise::dot_strided((a, starts[i], sa), (b, o, sb), k));
        i += 1;
    });
    out
}
