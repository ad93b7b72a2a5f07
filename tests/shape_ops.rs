//! concat, stack, slice, squeeze and unsqueeze against naive indexing, over random runtime
//! sizes (1 included) and operands read through permuted views with gaps in their strides.

use proptest::prelude::*;
use shapecheck::prelude::*;

type S3 = (Dyn, Dyn, Dyn);
type S2 = (Dyn, Dyn);

fn dyn3(d: [usize; 3]) -> S3 {
    (Dyn::new(d[0]), Dyn::new(d[1]), Dyn::new(d[2]))
}

/// The orders in which a logical (d0, d1, d2) tensor may be stored; `view` undoes them.
const PERMS: [[usize; 3]; 4] = [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]];

/// Random values for a logical tensor of dims `d`, stored in the order `PERMS[perm]` with
/// `pad` unused columns after each stored row, so its view has gaps and permuted strides.
struct Stored {
    buf: Tensor<S3>,
    /// The stored last dim without its padding.
    last: usize,
    perm: usize,
}

fn stored(d: [usize; 3], perm: usize, pad: usize, seed: u64) -> Stored {
    let p = PERMS[perm];
    let mut s = [0; 3];
    for k in 0..3 {
        s[p[k]] = d[k];
    }
    let last = s[2];
    s[2] += pad;
    Stored {
        buf: Tensor::randn_with(dyn3(s), seed),
        last,
        perm,
    }
}

impl Stored {
    /// The logical (d0, d1, d2) view: the padding sliced off, then the axes reordered.
    fn view(&self) -> TensorView<'_, S3> {
        let v = self.buf.slice_with(A2, ..self.last);
        match self.perm {
            0 => v.permute((A0, A1, A2)),
            1 => v.permute((A2, A0, A1)),
            2 => v.permute((A1, A2, A0)),
            _ => v.permute((A2, A1, A0)),
        }
    }
}

fn at(v: &TensorView<'_, S3>, i: [usize; 3]) -> f32 {
    v[i]
}

/// Checks that `got` is the logical part of `whole` at `start..start + len` of `axis`.
fn check_part(
    whole: &TensorView<'_, S3>,
    part: &TensorView<'_, S3>,
    axis: usize,
    start: usize,
) -> Result<(), TestCaseError> {
    let d = part.dims();
    for i in 0..d[0] {
        for j in 0..d[1] {
            for k in 0..d[2] {
                let mut w = [i, j, k];
                w[axis] += start;
                prop_assert_eq!(at(part, [i, j, k]), at(whole, w), "at {:?}", [i, j, k]);
            }
        }
    }
    Ok(())
}

fn concat_along(
    a: &TensorView<'_, S3>,
    b: &TensorView<'_, S3>,
    axis: usize,
) -> Result<Tensor<S3>, ShapeError> {
    match axis {
        0 => a.try_concat(A0, b),
        1 => a.try_concat(A1, b),
        _ => a.try_concat(A2, b),
    }
}

fn slice_along<'a>(
    x: &TensorView<'a, S3>,
    axis: usize,
    range: core::ops::Range<usize>,
) -> TensorView<'a, S3> {
    match axis {
        0 => x.slice_with(A0, range),
        1 => x.slice_with(A1, range),
        _ => x.slice_with(A2, range),
    }
}

fn dims3() -> impl Strategy<Value = [usize; 3]> {
    [1usize..=5, 1usize..=5, 1usize..=5]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn concat_then_slice_back_gives_the_parts(
        d in dims3(), extra in 0usize..=4, axis in 0usize..3,
        pa in 0usize..4, pb in 0usize..4, pad_a in 0usize..3, pad_b in 0usize..3, seed: u64,
    ) {
        let mut db = d;
        db[axis] = extra; // 0 included: concatenating an empty part
        let a = stored(d, pa, pad_a, seed);
        let b = stored(db, pb, pad_b, seed ^ 1);
        let (av, bv) = (a.view(), b.view());
        let c = concat_along(&av, &bv, axis).unwrap();
        let mut dc = d;
        dc[axis] += extra;
        prop_assert_eq!(c.dims().to_vec(), dc.to_vec());
        let cv = c.view();
        let (left, right) = (
            slice_along(&cv, axis, 0..d[axis]),
            slice_along(&cv, axis, d[axis]..dc[axis]),
        );
        prop_assert_eq!(left.to_vec(), av.to_vec());
        prop_assert_eq!(right.to_vec(), bv.to_vec());
        check_part(&cv, &av, axis, 0)?;
        check_part(&cv, &bv, axis, d[axis])?;
    }

    #[test]
    fn stack_is_concat_of_unsqueezed_parts(
        d in [1usize..=5, 1usize..=5], n in 1usize..=4, axis in 0usize..3, seed: u64,
    ) {
        // Each part is a transposed view of a stored (d1, d0) tensor.
        let stored: Vec<Tensor<S2>> = (0..n)
            .map(|k| Tensor::randn_with((Dyn::new(d[1]), Dyn::new(d[0])), seed + k as u64))
            .collect();
        let parts: Vec<TensorView<'_, S2>> = stored.iter().map(|t| t.t()).collect();
        let refs: Vec<&TensorView<'_, S2>> = parts.iter().collect();
        // The reference: the parts unsqueezed at `axis` and concatenated one by one (the
        // first made a `Dyn` axis by a full-range slice).
        macro_rules! along {
            ($a:expr, $i:literal) => {{
                let mut acc: Tensor<S3> = parts[0].unsqueeze::<$i>().slice_with($a, ..).to_tensor();
                for p in &parts[1..] {
                    acc = acc.try_concat($a, &p.unsqueeze::<$i>()).unwrap();
                }
                (Tensor::<S3>::try_stack($a, &refs).unwrap(), acc)
            }};
        }
        let (stacked, concatenated) = match axis {
            0 => along!(A0, 0),
            1 => along!(A1, 1),
            _ => along!(A2, 2),
        };
        let mut ds = [d[0], d[1]].to_vec();
        ds.insert(axis, n);
        prop_assert_eq!(stacked.dims().to_vec(), ds);
        prop_assert_eq!(stacked.as_slice(), concatenated.as_slice());
        // And against indexing: part k sits at index k of the new axis.
        for (k, p) in parts.iter().enumerate() {
            for i in 0..d[0] {
                for j in 0..d[1] {
                    let mut idx = vec![i, j];
                    idx.insert(axis, k);
                    prop_assert_eq!(stacked[[idx[0], idx[1], idx[2]]], p[[i, j]]);
                }
            }
        }
    }

    #[test]
    fn slices_match_naive_indexing(
        d in dims3(), axis in 0usize..3, perm in 0usize..4, pad in 0usize..3,
        r in (0usize..=5, 0usize..=5), seed: u64,
    ) {
        let x = stored(d, perm, pad, seed);
        let xv = x.view();
        let n = d[axis];
        let (start, end) = (r.0.min(n), r.1.min(n));
        let (start, end) = (start.min(end), start.max(end));
        let s = slice_along(&xv, axis, start..end);
        let mut ds = d;
        ds[axis] = end - start;
        prop_assert_eq!(s.dims().to_vec(), ds.to_vec());
        prop_assert!(std::ptr::eq(s.as_base_slice(), x.buf.as_slice())); // no copy
        check_part(&xv, &s, axis, start)?;
        // A slice of a slice is the slice of the composed range.
        if end > start {
            let inner = slice_along(&s, axis, 1.min(end - start)..end - start);
            check_part(&xv, &inner, axis, start + 1.min(end - start))?;
        }
    }

    #[test]
    fn unsqueeze_then_squeeze_is_the_identity(d in dims3(), perm in 0usize..4, pad in 0usize..3, seed: u64) {
        let x = stored(d, perm, pad, seed);
        let xv = x.view();
        let u = xv.unsqueeze::<1>();
        prop_assert_eq!(u.dims().to_vec(), vec![d[0], 1, d[1], d[2]]);
        for i in 0..d[0] {
            for j in 0..d[1] {
                for k in 0..d[2] {
                    prop_assert_eq!(u[[i, 0, j, k]], xv[[i, j, k]]);
                }
            }
        }
        let back: TensorView<'_, S3> = u.squeeze::<1>();
        prop_assert_eq!(back.strides(), xv.strides());
        prop_assert_eq!(back.to_vec(), xv.to_vec());
        let last = xv.unsqueeze::<3>();
        prop_assert_eq!(last.to_vec(), xv.to_vec());
        // A runtime axis of size 1 squeezes at run time.
        let one = slice_along(&xv, 0, 0..1);
        let row = one.try_squeeze::<0>().unwrap();
        prop_assert_eq!(row.to_vec(), slice_along(&xv, 0, 0..1).to_vec());
        prop_assert_eq!(one.try_squeeze::<1>().is_ok(), d[1] == 1);
    }
}

dim!(pub Seq = 4);
dim!(pub Prefix = 1);
dim!(pub Total = 5);
dim!(pub DModel = 3);
dim!(pub Batch);
dim!(pub Heads = 3);

#[test]
fn static_concat_sums_in_the_type() {
    let x = Tensor::<(D<3>, D<2>)>::from_fn(|[i, j]| (10 * i + j) as f32);
    let y = Tensor::<(D<4>, D<2>)>::from_fn(|[i, j]| (100 + 10 * i + j) as f32);
    let z: Tensor<(D<7>, D<2>)> = x.concat(A0, &y);
    assert_eq!(z.slice::<0, 0, 3>().to_vec(), x.as_slice());
    assert_eq!(z.slice::<0, 3, 4>().to_vec(), y.as_slice());

    // Named dims, and a view as the receiver.
    let cls = Tensor::<(Prefix, DModel)>::full(-1.0);
    let s = Tensor::<(Seq, DModel)>::from_fn(|[i, j]| (i * 3 + j) as f32);
    let t: Tensor<(Total, DModel)> = cls.view().concat(A0, &s);
    assert_eq!(t.shape(), (Total, DModel));
    assert_eq!(t[[0, 2]], -1.0);
    assert_eq!(t[[4, 2]], 11.0);

    // Along the last axis of a transposed view: (DModel, Seq) + (DModel, Prefix).
    let u: Tensor<(DModel, Total)> = s.t().concat(A1, &cls.t());
    assert_eq!(u.slice_as::<1, 0, Seq>().to_tensor(), s.t().to_tensor());
    assert_eq!(u.slice::<1, 4, 1>().to_vec(), [-1.0; 3]);
}

#[test]
fn concat_with_runtime_dims_on_other_axes() {
    let a = Tensor::<(Batch, D<2>)>::ones_with((Batch::new(3), D));
    let b = Tensor::<(Batch, D<1>)>::zeros_with((Batch::new(3), D));
    let c: Tensor<(Batch, D<3>)> = a.concat(A1, &b);
    assert_eq!(c.as_slice(), &[1., 1., 0., 1., 1., 0., 1., 1., 0.]);

    let short = Tensor::<(Batch, D<1>)>::zeros_with((Batch::new(2), D));
    let err = a.try_concat::<1, _, D<3>>(A1, &short).unwrap_err();
    assert_eq!(
        err.to_string(),
        "concat: cannot combine (Batch=3, 2) with (Batch=2, 1): axis 0 differs (3 and 2), and \
         only axis 1 may"
    );
    let caught = std::panic::catch_unwind(|| {
        let _: Tensor<(Batch, D<3>)> = a.concat(A1, &short);
    })
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<String>(), Some(&err.to_string()));

    // A static result dim given at run time must still be the sum.
    let d = Tensor::<(Dyn,)>::zeros_with((Dyn::new(2),));
    let err = d.try_concat::<0, _, D<5>>(A0, &d).unwrap_err();
    assert_eq!(
        err.to_string(),
        "concat: cannot combine (Dyn=2,) with (Dyn=2,): the result's axis 0 is D<5>, which \
         cannot hold 2 + 2 = 4 indices"
    );
    let ok: Tensor<(D<4>,)> = d.try_concat(A0, &d).unwrap();
    assert_eq!(ok.len(), 4);
}

#[test]
fn static_stack_counts_the_parts() {
    let parts: Vec<Tensor<(D<2>, DModel)>> = (0..3)
        .map(|k| Tensor::<(D<2>, DModel)>::from_fn(|[i, j]| (100 * k + 10 * i + j) as f32))
        .collect();
    let s: Tensor<(D<2>, Heads, DModel)> = Tensor::stack(A1, [&parts[0], &parts[1], &parts[2]]);
    for (k, p) in parts.iter().enumerate() {
        assert_eq!(s.slice_with(A1, k..=k).to_vec(), p.as_slice());
        let part: TensorView<(D<2>, DModel)> = s.slice_with(A1, k..=k).try_squeeze::<1>().unwrap();
        assert_eq!(part.to_tensor(), *p);
    }
    // Views as parts.
    let views = [parts[2].view(), parts[0].view()];
    let v: Tensor<(D<2>, DModel, D<2>)> = Tensor::stack(A2, [&views[0], &views[1]]);
    assert_eq!(v[[1, 2, 0]], 212.0);
    assert_eq!(v[[1, 2, 1]], 12.0);
}

#[test]
fn stack_runtime_errors_name_the_shapes() {
    let a = Tensor::<S2>::zeros_with((Dyn::new(2), Dyn::new(3)));
    let b = Tensor::<S2>::zeros_with((Dyn::new(3), Dyn::new(2)));
    let err = Tensor::<S3>::try_stack(A0, &[&a, &a, &b]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stack: cannot combine (Dyn=2, Dyn=3) with (Dyn=3, Dyn=2): tensor 2 differs from \
         tensor 0, and stacked tensors must have the same shape"
    );
    let caught = std::panic::catch_unwind(|| {
        let _: Tensor<(D<2>, Dyn, Dyn)> = Tensor::stack(A0, [&a, &b]);
    })
    .unwrap_err();
    assert!(caught
        .downcast_ref::<String>()
        .unwrap()
        .contains("tensor 1 differs from tensor 0"));
    let none: [&Tensor<S2>; 0] = [];
    assert!(Tensor::<S3>::try_stack(A0, &none).is_err());
}

#[test]
fn slices_are_zero_copy_and_checked() {
    let x = Tensor::<(D<3>, Seq)>::from_fn(|[i, j]| (10 * i + j) as f32);
    let s: TensorView<(D<3>, D<2>)> = x.slice::<1, 1, 2>();
    assert_eq!(s.to_vec(), [1., 2., 11., 12., 21., 22.]);
    assert_eq!(s.strides().as_slice(), &[4, 1]);
    assert_eq!(s.offset(), 1);
    // A slice of a view keeps the view's strides; an empty slice is allowed.
    let c: TensorView<(D<2>, D<3>)> = x.t().slice::<0, 2, 2>();
    assert_eq!(c.to_vec(), [2., 12., 22., 3., 13., 23.]);
    assert!(x.slice::<1, 4, 0>().is_empty());
    assert!(x.try_slice_with(A1, 4..4).unwrap().is_empty());

    let (start, end) = (2, 1); // a reversed range
    assert!(x.try_slice_with(A1, start..end).is_err());
    assert!(x.try_slice_with(A1, ..=4).is_err());
    assert_eq!(
        x.try_slice_with(A0, 1..4).unwrap_err().to_string(),
        "a tensor of shape (3, Seq=4) cannot be viewed as its slice 1..4 of axis 0, which has \
         3 indices"
    );
    let caught = std::panic::catch_unwind(|| x.slice_with(A1, 3..9).len()).unwrap_err();
    assert!(caught
        .downcast_ref::<String>()
        .unwrap()
        .contains("its slice 3..9 of axis 1, which has 4 indices"));
}

#[test]
fn squeeze_and_unsqueeze_edit_the_type() {
    let x = Tensor::<(Seq, DModel)>::from_fn(|[i, j]| (i * 3 + j) as f32);
    let u: TensorView<(Seq, DModel, D<1>)> = x.unsqueeze::<2>();
    let v: TensorView<(D<1>, Seq, D<1>, DModel)> = u.unsqueeze::<0>().permute((A0, A1, A3, A2));
    let w: TensorView<(Seq, D<1>, DModel)> = v.squeeze::<0>();
    let back: TensorView<(Seq, DModel)> = w.squeeze::<1>();
    assert_eq!(back.to_vec(), x.as_slice());
    assert_eq!(back.strides(), x.strides());
    let seven = Tensor::<(D<1>,)>::full(7.0);
    let scalar: TensorView<()> = seven.squeeze::<0>();
    assert_eq!(scalar[[]], 7.0);
    let vector: TensorView<(D<1>,)> = scalar.unsqueeze::<0>();
    assert_eq!(vector.to_vec(), [7.0]);
    assert!(x.try_squeeze::<0>().is_err());
}
