//! The decoder's activation cache and interventions (`Decoder::run_with_cache`,
//! `Decoder::run_with_hooks`) against references written out here on plain slices: a
//! small random decoder in f64, two blocks, two sequences of six tokens.

use shapecheck::inspect::{HeadAblation, Intervention, Selection, Site};
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
use shapecheck::nn::attention::{attention_weights, AttentionMask};
use shapecheck::prelude::*;

dim!(pub Vocab = 13; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 24);
dim!(pub Batch; pub Len);

type Model = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>;

const B: usize = 2;
const S: usize = 6;
const W: usize = 16;
const HD: usize = 8;

fn config() -> DecoderConfig {
    // Larger weights than the default 0.02, so that patterns and ablations are far from
    // uniform and from nothing.
    DecoderConfig {
        layers: 2,
        init_std: 0.3,
        ..DecoderConfig::default()
    }
}

fn model() -> Model {
    Model::init(config(), 3)
}

fn shape() -> (Batch, Len) {
    (Batch::new(B), Len::new(S))
}

fn ids() -> Vec<u32> {
    (0..B * S).map(|i| (i * 5 % 13) as u32).collect()
}

/// `x · wᵀ` for `x: rows × i` and `w: o × i`, both row-major.
fn matmul_t(x: &[f64], w: &[f64], i: usize) -> Vec<f64> {
    let o = w.len() / i;
    x.chunks_exact(i)
        .flat_map(|r| (0..o).map(move |k| r.iter().zip(&w[k * i..][..i]).map(|(a, b)| a * b).sum()))
        .collect()
}

/// Each row of `x` RMS-normalised and scaled by `w`.
fn rms_rows(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    x.chunks_exact(w.len())
        .flat_map(|r| {
            let inv = 1.0 / (r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64 + eps).sqrt();
            r.iter().zip(w).map(move |(v, g)| v * inv * g)
        })
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// The heads' merged outputs `z = P·V` of layer `l`, `(Tokens, DModel)`, from the cached
/// patterns and the values recomputed from the cached `resid_pre`.
fn z_from_cache(
    m: &Model,
    cache: &shapecheck::inspect::ActivationCache<Model>,
    l: usize,
) -> Vec<f64> {
    let eps = m.config().norm_eps;
    let block = &m.blocks[l];
    let x = cache.resid_pre(l).unwrap().as_slice();
    let h = rms_rows(x, block.attn_norm.weight.value().as_slice(), eps);
    let v = matmul_t(&h, block.attn.wv.weight.value().as_slice(), W);
    let mut z = vec![0.0; B * S * W];
    for b in 0..B {
        let p = cache.attention(l, b).unwrap();
        for head in 0..2 {
            for i in 0..S {
                for d in 0..HD {
                    let col = head * HD + d;
                    z[(b * S + i) * W + col] = (0..S)
                        .map(|j| p[[head, i, j]] * v[(b * S + j) * W + col])
                        .sum();
                }
            }
        }
    }
    z
}

#[test]
fn the_cached_final_residual_through_the_final_norm_and_head_is_the_logits() {
    let m = model();
    let sel = Selection::new()
        .with(Site::ResidPre, 0..2)
        .with(Site::ResidPost, 0..2);
    let (logits, cache) = m.run_with_cache(shape(), &ids(), &sel, &[]).unwrap();
    assert_eq!(
        logits.as_slice(),
        m.logits(shape(), &ids()).unwrap().as_slice()
    );
    let last = cache.resid_post(1).unwrap();
    assert_eq!(last.dims()[..], [B * S, W]);
    let n = rms_rows(
        last.as_slice(),
        m.norm.weight.value().as_slice(),
        m.config().norm_eps,
    );
    let w = m.head.as_ref().expect("an untied head").weight.value();
    let want = matmul_t(&n, w.as_slice(), W);
    let d = max_diff(&want, logits.as_slice());
    assert!(d <= 1e-12, "{d:e}");
    // The stream leaving block 0 is the one entering block 1; the stream entering block 0
    // is the embedding rows of the ids.
    assert_eq!(
        cache.resid_post(0).unwrap().as_slice(),
        cache.resid_pre(1).unwrap().as_slice()
    );
    let table = m.embedding.table.value().as_slice();
    let emb: Vec<f64> = ids()
        .iter()
        .flat_map(|&t| table[t as usize * W..][..W].to_vec())
        .collect();
    assert_eq!(cache.resid_pre(0).unwrap().as_slice(), &emb[..]);
    // Only what was asked for.
    assert!(
        cache.resid_mid(0).is_none() && cache.ffn(1).is_none() && cache.attention(0, 0).is_none()
    );
    assert_eq!(cache.rows(1), Some(S..2 * S));
}

#[test]
fn patterns_are_causal_sum_to_one_match_attention_weights_and_rebuild_the_attention() {
    let m = model();
    let sel = Selection::new()
        .with(Site::Attention, 0..2)
        .with(Site::Queries, 0..2)
        .with(Site::Keys, 0..2)
        .with(Site::ResidPre, 0..2)
        .with(Site::ResidMid, 0..2);
    let (_, cache) = m.run_with_cache(shape(), &ids(), &sel, &[]).unwrap();
    for l in 0..2 {
        for b in 0..B {
            let p = cache.attention(l, b).unwrap();
            assert_eq!(p.dims()[..], [2, S, S]);
            for h in 0..2 {
                for i in 0..S {
                    let row: Vec<f64> = (0..S).map(|j| p[[h, i, j]]).collect();
                    assert!(row[i + 1..].iter().all(|&v| v == 0.0), "{row:?}");
                    assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                    // softmax(q·kᵀ/√8) over the keys j ≤ i, written out.
                    let (q, k) = (cache.queries(l, b).unwrap(), cache.keys(l, b).unwrap());
                    let scores: Vec<f64> = (0..=i)
                        .map(|j| {
                            (0..HD).map(|d| q[[h, i, d]] * k[[h, j, d]]).sum::<f64>() / 8f64.sqrt()
                        })
                        .collect();
                    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let total: f64 = scores.iter().map(|s| (s - top).exp()).sum();
                    for (j, s) in scores.iter().enumerate() {
                        assert!(((s - top).exp() / total - row[j]).abs() < 1e-12);
                    }
                }
            }
            let (q, k) = (cache.queries(l, b).unwrap(), cache.keys(l, b).unwrap());
            let w = attention_weights(q, k, &AttentionMask::causal(0));
            assert_eq!(w.as_slice(), p.as_slice());
        }
        // The patterns weigh the values into what the attention sublayer added.
        let z = z_from_cache(&m, &cache, l);
        let added = matmul_t(&z, m.blocks[l].attn.wo.weight.value().as_slice(), W);
        let (pre, mid) = (cache.resid_pre(l).unwrap(), cache.resid_mid(l).unwrap());
        let want: Vec<f64> = mid
            .as_slice()
            .iter()
            .zip(pre.as_slice())
            .map(|(a, b)| a - b)
            .collect();
        let d = max_diff(&added, &want);
        assert!(d < 1e-12, "layer {l}: {d:e}");
    }
}

#[test]
fn the_ffn_activations_rebuild_the_ffn() {
    let m = model();
    let sel = Selection::new()
        .with(Site::ResidMid, [1])
        .with(Site::Ffn, [1])
        .with(Site::ResidPost, [1]);
    let (_, cache) = m.run_with_cache(shape(), &ids(), &sel, &[]).unwrap();
    let block = &m.blocks[1];
    let (mid, act) = (cache.resid_mid(1).unwrap(), cache.ffn(1).unwrap());
    assert_eq!(act.dims()[..], [B * S, 24]);
    let h = rms_rows(
        mid.as_slice(),
        block.ffn_norm.weight.value().as_slice(),
        m.config().norm_eps,
    );
    let gate = matmul_t(&h, block.ffn.gate.weight.value().as_slice(), W);
    let up = matmul_t(&h, block.ffn.up.weight.value().as_slice(), W);
    let want: Vec<f64> = gate
        .iter()
        .zip(&up)
        .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
        .collect();
    assert!(max_diff(&want, act.as_slice()) < 1e-12);
    let down = matmul_t(act.as_slice(), block.ffn.down.weight.value().as_slice(), 24);
    let post: Vec<f64> = mid
        .as_slice()
        .iter()
        .zip(&down)
        .map(|(a, b)| a + b)
        .collect();
    assert!(max_diff(&post, cache.resid_post(1).unwrap().as_slice()) < 1e-12);
}

#[test]
fn steering_with_coefficient_zero_is_bit_identical_to_the_plain_forward() {
    let m = model();
    let plain = m.logits(shape(), &ids()).unwrap();
    let v = Tensor::<(DModel,), f64>::randn(5);
    for layer in 0..=2 {
        let steer = Intervention::add(layer, v.clone(), 0.0);
        let (logits, _) = m
            .run_with_cache(shape(), &ids(), &Selection::new(), &[steer])
            .unwrap();
        let same = logits
            .as_slice()
            .iter()
            .zip(plain.as_slice())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "layer {layer}");
    }
}

#[test]
fn steering_from_a_position_changes_only_the_positions_from_it_on() {
    let m = model();
    let plain = m.logits(shape(), &ids()).unwrap();
    let v = Tensor::<(DModel,), f64>::randn(5);
    let p = 3;
    for layer in 0..=2 {
        let steer = Intervention::add(layer, v.clone(), 2.0).from_position(p);
        let (logits, _) = m
            .run_with_cache(shape(), &ids(), &Selection::new(), &[steer])
            .unwrap();
        for b in 0..B {
            for t in 0..S {
                let row = |x: &Tensor<(Batch, Len, Vocab), f64>| -> Vec<f64> {
                    (0..13).map(|c| x[[b, t, c]]).collect()
                };
                let d = max_diff(&row(&logits), &row(&plain));
                if t < p {
                    assert_eq!(d, 0.0, "layer {layer}, sequence {b}, position {t}");
                } else {
                    assert!(d > 1e-3, "layer {layer}, sequence {b}, position {t}: {d:e}");
                }
            }
        }
    }
}

#[test]
fn replacing_and_ablating_the_stream_act_as_stated() {
    let m = model();
    // Zeroing the stream leaving the last block: the final norm of 0 is 0, and so is
    // every logit (the head has no bias).
    let (logits, _) = m
        .run_with_cache(
            shape(),
            &ids(),
            &Selection::new(),
            &[Intervention::ablate(2)],
        )
        .unwrap();
    assert!(logits.as_slice().iter().all(|&v| v == 0.0));
    // Replacing it with one vector gives every position the logits of that vector.
    let v = Tensor::<(DModel,), f64>::randn(9);
    let sel = Selection::new().with(Site::ResidPre, [1]);
    let (logits, cache) = m
        .run_with_cache(
            shape(),
            &ids(),
            &sel,
            &[
                Intervention::replace(2, v.clone()),
                Intervention::replace(1, v.clone()).from_position(4),
            ],
        )
        .unwrap();
    let n = rms_rows(
        v.as_slice(),
        m.norm.weight.value().as_slice(),
        m.config().norm_eps,
    );
    let want = matmul_t(&n, m.head.as_ref().unwrap().weight.value().as_slice(), W);
    for row in logits.as_slice().chunks_exact(13) {
        assert!(max_diff(row, &want) < 1e-12);
    }
    // The cache holds the stream as changed: rows 4 and 5 of each sequence are `v`.
    let pre = cache.resid_pre(1).unwrap();
    for b in 0..B {
        for t in 0..S {
            let row = &pre.as_slice()[(b * S + t) * W..][..W];
            assert_eq!(row == v.as_slice(), t >= 4, "sequence {b}, position {t}");
        }
    }
}

#[test]
fn ablating_a_head_is_zeroing_its_columns_of_wo() {
    let m = model();
    let plain = m.logits(shape(), &ids()).unwrap();
    for (layer, head) in [(0, 1), (1, 0)] {
        let (logits, _) = m
            .run_with_hooks(
                shape(),
                &ids(),
                &Selection::new(),
                &[],
                &[HeadAblation::<Heads>::zero(layer, head)],
            )
            .unwrap();
        assert!(max_diff(logits.as_slice(), plain.as_slice()) > 1e-3);
        // The reference: the same weights with that head's columns of Wo zeroed.
        let mut edited = model();
        let wo = edited.blocks[layer]
            .attn
            .wo
            .weight
            .value_mut()
            .as_mut_slice();
        for row in wo.chunks_exact_mut(W) {
            row[head * HD..(head + 1) * HD].fill(0.0);
        }
        let want = edited.logits(shape(), &ids()).unwrap();
        let d = max_diff(logits.as_slice(), want.as_slice());
        assert!(d <= 1e-12, "layer {layer}, head {head}: {d:e}");
    }
}

#[test]
fn mean_ablating_a_head_is_a_bias_of_its_mean_output() {
    let m = model();
    let (layer, head) = (0, 1);
    let sel = Selection::new()
        .with(Site::ResidPre, [layer])
        .with(Site::Attention, [layer]);
    let (_, cache) = m.run_with_cache(shape(), &ids(), &sel, &[]).unwrap();
    let z = z_from_cache(&m, &cache, layer);
    let mean: Vec<f64> = (0..HD)
        .map(|d| z.chunks_exact(W).map(|r| r[head * HD + d]).sum::<f64>() / (B * S) as f64)
        .collect();
    let (logits, _) = m
        .run_with_hooks(
            shape(),
            &ids(),
            &Selection::new(),
            &[],
            &[HeadAblation::<Heads>::mean(layer, head)],
        )
        .unwrap();
    // The reference: that head's columns of Wo zeroed, and Wo's columns times the mean
    // output added as a bias.
    let mut edited = model();
    let wo = &mut edited.blocks[layer].attn.wo;
    let cols: Vec<f64> = wo
        .weight
        .value()
        .as_slice()
        .chunks_exact(W)
        .map(|r| {
            r[head * HD..(head + 1) * HD]
                .iter()
                .zip(&mean)
                .map(|(w, m)| w * m)
                .sum()
        })
        .collect();
    for row in wo.weight.value_mut().as_mut_slice().chunks_exact_mut(W) {
        row[head * HD..(head + 1) * HD].fill(0.0);
    }
    wo.bias = Some(Param::new(
        Tensor::<(DModel,), f64>::from_vec_with((DModel,), cols).unwrap(),
    ));
    let want = edited.logits(shape(), &ids()).unwrap();
    let d = max_diff(logits.as_slice(), want.as_slice());
    assert!(d < 1e-12, "{d:e}");
    let (zeroed, _) = m
        .run_with_hooks(
            shape(),
            &ids(),
            &Selection::new(),
            &[],
            &[HeadAblation::<Heads>::zero(layer, head)],
        )
        .unwrap();
    assert!(max_diff(logits.as_slice(), zeroed.as_slice()) > 1e-6);
}

#[test]
fn an_out_of_range_head_or_layer_is_an_error() {
    let m = model();
    let run = |i: &[Intervention<DModel, f64>], a: &[HeadAblation<Heads>]| {
        m.run_with_hooks(shape(), &ids(), &Selection::new(), i, a)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        run(&[], &[HeadAblation::zero(0, 2)]),
        "head 2 is out of range: there are 2"
    );
    assert_eq!(
        run(&[], &[HeadAblation::mean(2, 0)]),
        "head-ablation layer 2 is out of range: there are 2"
    );
    let v = Tensor::<(DModel,), f64>::ones();
    assert_eq!(
        run(&[Intervention::add(3, v, 1.0)], &[]),
        "layer 3 is out of range: there are 3"
    );
    // A bad id is the forward's own error.
    let e = m
        .run_with_cache(shape(), &[99; B * S], &Selection::new(), &[])
        .map(|_| ())
        .unwrap_err();
    assert!(e.to_string().contains("99"), "{e}");
}
