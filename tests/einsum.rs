//! `einsum!` against a naive reference (a loop over every assignment of every letter) for
//! each supported form, on random sizes (proptest) and on strided operands.

mod common;

use common::randn_mat;
use proptest::prelude::*;
use shapecheck::prelude::*;

/// An operand for the reference: row-major elements and dims.
type Dense = (Vec<f64>, Vec<usize>);

fn dense<V: AsView<Elem = f64>>(v: &V) -> Dense {
    let v = v.as_view();
    (v.to_vec(), v.dims().to_vec())
}

/// The einsum of `ops` by brute force: every assignment of every letter, multiply, add.
fn naive(spec: &str, ops: &[Dense]) -> Dense {
    let spec: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, out) = spec.split_once("->").unwrap();
    let terms: Vec<Vec<char>> = lhs.split(',').map(|t| t.chars().collect()).collect();
    let out: Vec<char> = out.chars().collect();
    let mut letters: Vec<char> = Vec::new();
    let mut sizes: Vec<usize> = Vec::new();
    for (t, (_, dims)) in terms.iter().zip(ops) {
        assert_eq!(t.len(), dims.len());
        for (&c, &d) in t.iter().zip(dims) {
            match letters.iter().position(|&l| l == c) {
                Some(i) => assert_eq!(sizes[i], d),
                None => {
                    letters.push(c);
                    sizes.push(d);
                }
            }
        }
    }
    let pos = |c: char| letters.iter().position(|&l| l == c).unwrap();
    let out_dims: Vec<usize> = out.iter().map(|&c| sizes[pos(c)]).collect();
    let mut result = vec![0.0; out_dims.iter().product()];
    let total: usize = sizes.iter().product();
    let mut idx = vec![0usize; letters.len()];
    for flat in 0..total {
        let mut rem = flat;
        for i in (0..letters.len()).rev() {
            idx[i] = rem % sizes[i];
            rem /= sizes[i];
        }
        let flat_of = |term: &[char], dims: &[usize]| {
            term.iter()
                .zip(dims)
                .fold(0, |acc, (&c, &d)| acc * d + idx[pos(c)])
        };
        let prod: f64 = terms
            .iter()
            .zip(ops)
            .map(|(t, (data, dims))| data[flat_of(t, dims)])
            .product();
        result[flat_of(&out, &out_dims)] += prod;
    }
    (result, out_dims)
}

#[track_caller]
fn assert_close<V: AsView<Elem = f64>>(got: &V, want: Dense) {
    let (got, dims) = dense(got);
    assert_eq!(dims, want.1, "dims");
    common::assert_close(&got, &want.0, 1e-9, 1e-9);
}

fn randn3(a: usize, b: usize, c: usize, seed: u64) -> Tensor<(Dyn, Dyn, Dyn), f64> {
    Tensor::randn_with((Dyn::new(a), Dyn::new(b), Dyn::new(c)), seed)
}

fn randn4(a: usize, b: usize, c: usize, d: usize, seed: u64) -> Tensor<(Dyn, Dyn, Dyn, Dyn), f64> {
    Tensor::randn_with((Dyn::new(a), Dyn::new(b), Dyn::new(c), Dyn::new(d)), seed)
}

fn randn1(n: usize, seed: u64) -> Tensor<(Dyn,), f64> {
    Tensor::randn_with((Dyn::new(n),), seed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn matmul_forms(m in 1usize..7, k in 1usize..7, n in 1usize..7, b in 1usize..4, seed in 0u64..1000) {
        let a = randn_mat(m, k, seed);
        let bm = randn_mat(k, n, seed + 1);
        assert_close(&einsum!("ij,jk->ik", a, bm), naive("ij,jk->ik", &[dense(&a), dense(&bm)]));
        // The same product with a transposed (strided) operand, and the product transposed.
        let bt = randn_mat(n, k, seed + 2);
        assert_close(&einsum!("ij,jk->ik", a, bt.t()), naive("ij,jk->ik", &[dense(&a), dense(&bt.t())]));
        assert_close(&einsum!("ij,kj->ki", a, bt), naive("ij,kj->ki", &[dense(&a), dense(&bt)]));
        // Batched.
        let x = randn3(b, m, k, seed + 3);
        let y = randn3(b, k, n, seed + 4);
        assert_close(&einsum!("bij,bjk->bik", x, y), naive("bij,bjk->bik", &[dense(&x), dense(&y)]));
        // Batched, output order that no GEMM writes directly.
        assert_close(&einsum!("bij,bjk->kbi", x, y), naive("bij,bjk->kbi", &[dense(&x), dense(&y)]));
        // Matrix-vector and vector-matrix.
        let v = randn1(k, seed + 5);
        assert_close(&einsum!("ij,j->i", a, v), naive("ij,j->i", &[dense(&a), dense(&v)]));
        assert_close(&einsum!("j,jk->k", v, bm), naive("j,jk->k", &[dense(&v), dense(&bm)]));
    }

    #[test]
    fn attention_forms(b in 1usize..3, h in 1usize..4, q in 1usize..6, kk in 1usize..6, d in 1usize..6, seed in 0u64..1000) {
        let qs = randn4(b, h, q, d, seed);
        let ks = randn4(b, h, kk, d, seed + 1);
        let vs = randn4(b, h, kk, d, seed + 2);
        let scores = einsum!("b h q d, b h k d -> b h q k", qs, ks);
        assert_close(&scores, naive("bhqd,bhkd->bhqk", &[dense(&qs), dense(&ks)]));
        let weighted = einsum!("b h q k, b h k d -> b h q d", scores, vs);
        assert_close(&weighted, naive("bhqk,bhkd->bhqd", &[dense(&scores), dense(&vs)]));
        // Heads interleaved with the sequence in the output: a copy after the GEMM.
        assert_close(
            &einsum!("bhqd,bhkd->bqhk", qs, ks),
            naive("bhqd,bhkd->bqhk", &[dense(&qs), dense(&ks)]),
        );
    }

    #[test]
    fn unary_forms(m in 1usize..7, n in 1usize..7, p in 1usize..5, seed in 0u64..1000) {
        let a = randn_mat(m, n, seed);
        let sq = randn_mat(m, m, seed + 1);
        let t3 = randn3(m, n, p, seed + 2);
        assert_close(&einsum!("ij->ji", a), naive("ij->ji", &[dense(&a)]));
        assert_close(&einsum!("ijk->kij", t3), naive("ijk->kij", &[dense(&t3)]));
        assert_close(&einsum!("ii->", sq), naive("ii->", &[dense(&sq)]));
        assert_close(&einsum!("ii->i", sq), naive("ii->i", &[dense(&sq)]));
        assert_close(&einsum!("ij->i", a), naive("ij->i", &[dense(&a)]));
        assert_close(&einsum!("ij->j", a), naive("ij->j", &[dense(&a)]));
        assert_close(&einsum!("ij->", a), naive("ij->", &[dense(&a)]));
        assert_close(&einsum!("ijk->j", t3), naive("ijk->j", &[dense(&t3)]));
        assert_close(&einsum!("ij->ij", a.t()), naive("ij->ij", &[dense(&a.t())]));
    }

    #[test]
    fn products_and_general(m in 1usize..6, n in 1usize..6, p in 1usize..5, seed in 0u64..1000) {
        let x = randn1(m, seed);
        let y = randn1(n, seed + 1);
        let a = randn_mat(m, n, seed + 2);
        let a2 = randn_mat(m, n, seed + 3);
        let c = randn_mat(n, p, seed + 4);
        let e = randn_mat(p, m, seed + 5);
        let sq = randn3(m, m, n, seed + 6);
        assert_close(&einsum!("i,j->ij", x, y), naive("i,j->ij", &[dense(&x), dense(&y)]));
        assert_close(&einsum!("i,ij,j->", x, a, y), naive("i,ij,j->", &[dense(&x), dense(&a), dense(&y)]));
        assert_close(&einsum!("i,i->", x, x), naive("i,i->", &[dense(&x), dense(&x)]));
        assert_close(&einsum!("ij,ij->ij", a, a2), naive("ij,ij->ij", &[dense(&a), dense(&a2)]));
        assert_close(&einsum!("ij,ij->", a, a2), naive("ij,ij->", &[dense(&a), dense(&a2)]));
        assert_close(&einsum!("ij,jk,ki->", a, c, e), naive("ij,jk,ki->", &[dense(&a), dense(&c), dense(&e)]));
        assert_close(&einsum!("ij,jk,kl->li", a, c, e), naive("ij,jk,kl->li", &[dense(&a), dense(&c), dense(&e)]));
        assert_close(&einsum!("iij,jk->ik", sq, c), naive("iij,jk->ik", &[dense(&sq), dense(&c)]));
        assert_close(&einsum!("ij,kl->jlik", a, c), naive("ij,kl->jlik", &[dense(&a), dense(&c)]));
        // A letter only one operand has, summed out before the GEMM.
        assert_close(&einsum!("ij,jk->i", a, c), naive("ij,jk->i", &[dense(&a), dense(&c)]));
        // Operands read through permuted views.
        let t = randn3(m, n, p, seed + 7);
        let tp = t.permute((A2, A0, A1));
        assert_close(&einsum!("kij,jk->ik", tp, c), naive("kij,jk->ik", &[dense(&tp), dense(&c)]));
    }
}

shapecheck::dim!(pub Heads = 3; pub Seq = 5; pub HeadDim = 4; pub Batch);

#[test]
fn output_types_come_from_the_letters() {
    let q =
        Tensor::<(Batch, Heads, Seq, HeadDim)>::randn_with((Batch::new(2), Heads, Seq, HeadDim), 1);
    let k =
        Tensor::<(Batch, Heads, Seq, HeadDim)>::randn_with((Batch::new(2), Heads, Seq, HeadDim), 2);
    let scores: Tensor<(Batch, Heads, Seq, Seq)> = einsum!("b h q d, b h k d -> b h q k", q, k);
    let same = q.matmul(&k.t());
    assert_eq!(scores.shape(), same.shape());
    for (a, b) in scores.as_slice().iter().zip(same.as_slice()) {
        assert!((a - b).abs() < 1e-5);
    }
    // Operands may be references or views.
    let by_ref = einsum!("bhqd,bhkd->bhqk", &q, &k);
    assert_eq!(by_ref, scores);
    let m = tensor!([[1., 2.], [3., 4.]]);
    let tr: Tensor<(), f64> = einsum!("ii->", m);
    assert_eq!(tr[[]], 5.0);
    let xt: Tensor<(D<2>, D<2>), f64> = einsum!("ij->ji", m);
    assert_eq!(xt.as_slice(), &[1., 3., 2., 4.]);
    let x = tensor!([1., 2.]);
    let y = tensor!([3., 4., 5.]);
    let bil = tensor!([[1., 0., 0.], [0., 1., 0.]]);
    assert_eq!(einsum!("i,ij,j->", x, bil, y)[[]], 1. * 3. + 2. * 4.);
}

#[test]
fn runtime_sizes_of_one_letter_must_agree() {
    let a = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(2), Dyn::new(3)));
    let b = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(4), Dyn::new(5)));
    let err = try_einsum!("ij,jk->ik", a, b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "einsum: cannot combine (Dyn=2, Dyn=3) with (Dyn=4, Dyn=5): letter `j` of \"ij,jk->ik\" \
         is 3 in operand 1 and 4 in operand 2"
    );
    let ok = try_einsum!("ij,kj->ik", a, a).unwrap();
    assert_eq!(ok.dims().as_slice(), &[2, 2]);
}

#[test]
#[should_panic(expected = "letter `j`")]
fn einsum_panics_with_the_same_message() {
    let a = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(2), Dyn::new(3)));
    let _ = einsum!("ij,jk->ik", a, a);
}

#[test]
fn empty_dims_give_empty_or_zero_results() {
    let a = Tensor::<(Dyn, Dyn), f64>::zeros_with((Dyn::new(0), Dyn::new(3)));
    let b = Tensor::<(Dyn, Dyn), f64>::ones_with((Dyn::new(3), Dyn::new(2)));
    assert_eq!(einsum!("ij,jk->ik", a, b).dims().as_slice(), &[0, 2]);
    let c = einsum!("ji,jk->ik", a, a);
    assert_eq!(c.as_slice(), &[0.0; 9]);
}

#[test]
fn ellipsis_stands_for_the_same_dims_in_every_operand() {
    let a = Tensor::<(D<2>, D<3>, D<4>, D<5>), f64>::randn(1);
    let b = Tensor::<(D<2>, D<3>, D<5>, D<6>), f64>::randn(2);
    let c = einsum!("...ij,...jk->...ik", a, b);
    let _: &Tensor<(D<2>, D<3>, D<4>, D<6>), f64> = &c;
    assert_close(&c, naive("xyij,xyjk->xyik", &[dense(&a), dense(&b)]));
    let d = einsum!("... i j, ... j k -> ... k i", a, b);
    let _: &Tensor<(D<2>, D<3>, D<6>, D<4>), f64> = &d;
    assert_close(&d, naive("xyij,xyjk->xyki", &[dense(&a), dense(&b)]));
    let e = einsum!("i...j->j...i", a);
    let _: &Tensor<(D<5>, D<3>, D<4>, D<2>), f64> = &e;
    assert_close(&e, naive("ixyj->jxyi", &[dense(&a)]));
    // The dims under `...` summed when the output does not have it.
    let f = einsum!("...ij->ij", a);
    assert_close(&f, naive("xyij->ij", &[dense(&a)]));
    // `...` for no dims, and on a transposed, runtime-sized operand.
    let m = randn3(3, 4, 5, 7);
    let g = einsum!("...bij->b...ji", m.permute((A0, A2, A1)));
    assert_close(&g, naive("bji->bji", &[dense(&m)]));
}

#[test]
fn spaced_specs_name_axes_with_words() {
    let x = randn3(2, 3, 4, 8);
    let w = Tensor::randn_with((Dyn::new(4), Dyn::new(5)), 9);
    let y = einsum!("batch seq index, index out -> batch out seq", x, w);
    assert_close(&y, naive("bsi,io->bos", &[dense(&x), dense(&w)]));
}
