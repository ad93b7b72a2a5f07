//! LoRA on the decoder's attention projections: equal to the base at initialisation, only
//! the adapters trained (the base bit for bit as it was), merged equal to unmerged, the
//! adapters saved and loaded on their own, and the KV-cache path applying them.

use shapecheck::io::{LoadError, SafeTensors};
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims, LoraTargets};
use shapecheck::nn::lora::LoraConfig;
use shapecheck::optim::{AdamW, AdamWConfig, Optimizer};
use shapecheck::prelude::*;

dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
dim!(pub Batch; pub Seq);

type Model = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>;

const B: usize = 4;
const S: usize = 6;

fn shape() -> (Batch, Seq) {
    (Batch::new(B), Seq::new(S))
}

/// A batch of sequences and, as the targets, each token shifted by one: a task the base
/// does not do.
fn data() -> (Vec<u32>, Vec<u32>) {
    let ids: Vec<u32> = (0..B * S).map(|i| (i * 7 % 10) as u32).collect();
    let targets = ids.iter().map(|&t| (t + 1) % 10).collect();
    (ids, targets)
}

fn bits(model: &Model) -> Vec<(String, Vec<u64>)> {
    model
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.values().iter().map(|x| x.to_bits()).collect()))
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// `targets` on q and v, trained for `steps` AdamW steps on the adapters; the losses.
fn trained(targets: LoraTargets, steps: usize) -> (Model, Vec<f64>) {
    let mut model = Model::init(DecoderConfig::default(), 3);
    model
        .add_adapters(targets, 2, LoraConfig::default(), 5)
        .unwrap();
    let (ids, tg) = data();
    let mut opt = AdamW::<f64>::new(AdamWConfig {
        lr: 1e-2,
        ..Default::default()
    })
    .unwrap();
    let mut losses = Vec::new();
    for _ in 0..steps {
        let tape = Tape::new();
        let loss = model.loss(&tape, shape(), &ids, &tg).unwrap();
        let grads = loss.backward();
        // Gradients for the adapters only: the frozen base is read as constants.
        assert!(model.named_params().iter().all(|(_, p)| p.is_frozen()));
        assert!(grads.of(&model.blocks[0].attn.wq.weight).is_none());
        assert!(grads.of(&model.embedding.table).is_none());
        assert_eq!(grads.len(), model.named_adapter_params().len());
        losses.push(loss.item());
        drop(tape);
        opt.step_with_loss(
            losses[losses.len() - 1],
            &mut model.adapter_params_mut(),
            &grads,
        )
        .unwrap();
    }
    (model, losses)
}

#[test]
fn adapters_start_equal_to_the_base() {
    let mut model = Model::init(DecoderConfig::default(), 3);
    let (ids, _) = data();
    let base = model.logits(shape(), &ids).unwrap();
    assert!(!model.has_adapters());
    model
        .add_adapters(LoraTargets::ALL, 2, LoraConfig::default(), 5)
        .unwrap();
    assert!(model.has_adapters());
    // 2 blocks × 4 projections × rank 2 × (16 + 16).
    assert_eq!(model.num_adapter_params(), 2 * 4 * 2 * 32);
    assert_eq!(model.named_adapter_params().len(), 2 * 4 * 2);
    assert_eq!(
        model.named_adapter_params()[0].0,
        "layers.0.self_attn.q_proj.lora_A.weight"
    );
    // The base is frozen; its parameter list and count are unchanged.
    assert!(model.blocks[0].attn.wq.weight.is_frozen() && model.embedding.table.is_frozen());
    assert_eq!(model.named_params().len(), 3 + 9 * 2); // embedding, norm, head
    assert_eq!(model.logits(shape(), &ids).unwrap(), base);
    // A rank above the width is refused, naming it.
    let err = model
        .add_adapters(LoraTargets::ALL, 17, LoraConfig::default(), 0)
        .unwrap_err();
    assert!(err.to_string().contains("rank"), "{err}");
    assert_eq!(model.num_adapter_params(), 2 * 4 * 2 * 32);
}

#[test]
fn training_moves_only_the_adapters_and_merge_equals_unmerged() {
    let before = Model::init(DecoderConfig::default(), 3);
    let targets = LoraTargets {
        q: true,
        v: true,
        ..LoraTargets::NONE
    };
    let (mut model, losses) = trained(targets, 30);
    assert!(
        losses[losses.len() - 1] < 0.97 * losses[0],
        "the loss did not fall: {losses:?}"
    );
    // The base is bit for bit as it was; the adapters moved (B away from zero).
    assert_eq!(bits(&model), bits(&before));
    assert!(model.blocks[1]
        .attn
        .lora
        .v
        .as_ref()
        .unwrap()
        .lora_b
        .value()
        .as_slice()
        .iter()
        .any(|&x| x != 0.0));
    assert!(model.blocks[0].attn.lora.k.is_none());

    let (ids, _) = data();
    let adapted = model.logits(shape(), &ids).unwrap();
    let plain = before.logits(shape(), &ids).unwrap();
    assert!(max_diff(adapted.as_slice(), plain.as_slice()) > 1e-3);
    model.merge_adapters();
    assert!(!model.has_adapters());
    let merged = model.logits(shape(), &ids).unwrap();
    let d = max_diff(adapted.as_slice(), merged.as_slice());
    assert!(d < 1e-12, "merged differs from unmerged by {d}");
    // The merged decoder is a plain one: it saves and loads as any.
    let file = SafeTensors::from_bytes(model.to_safetensors().unwrap().to_bytes()).unwrap();
    let loaded = Model::from_safetensors(&file, "merged").unwrap();
    assert_eq!(loaded.logits(shape(), &ids).unwrap(), merged);
}

#[test]
fn adapters_save_and_load_onto_a_fresh_base() {
    let (model, _) = trained(LoraTargets::ALL, 5);
    let (ids, _) = data();
    let adapted = model.logits(shape(), &ids).unwrap();
    let file =
        SafeTensors::from_bytes(model.adapters_to_safetensors().unwrap().to_bytes()).unwrap();
    assert_eq!(file.names().len(), 2 * 4 * 2);
    assert_eq!(
        file.info("layers.1.self_attn.o_proj.lora_B.weight")
            .unwrap()
            .shape,
        vec![16, 2]
    );

    let mut fresh = Model::init(DecoderConfig::default(), 3);
    fresh
        .add_adapters(LoraTargets::ALL, 2, LoraConfig::default(), 99)
        .unwrap();
    assert_ne!(fresh.logits(shape(), &ids).unwrap(), adapted);
    fresh.load_adapters_from(&file).unwrap();
    assert_eq!(fresh.logits(shape(), &ids).unwrap(), adapted);

    // Adapters of another rank, or on other projections, do not load.
    let mut rank3 = Model::init(DecoderConfig::default(), 3);
    rank3
        .add_adapters(LoraTargets::ALL, 3, LoraConfig::default(), 1)
        .unwrap();
    assert!(matches!(
        rank3.load_adapters_from(&file),
        Err(LoadError::Shape { .. })
    ));
    let mut q_only = Model::init(DecoderConfig::default(), 3);
    q_only
        .add_adapters(
            LoraTargets {
                q: true,
                ..LoraTargets::NONE
            },
            2,
            LoraConfig::default(),
            1,
        )
        .unwrap();
    let before = q_only.logits(shape(), &ids).unwrap();
    let err = q_only.load_adapters_from(&file).unwrap_err();
    assert!(
        err.to_string()
            .contains("is not one of the decoder's adapters"),
        "{err}"
    );
    assert_eq!(q_only.logits(shape(), &ids).unwrap(), before);
}

#[test]
fn kv_cache_decoding_applies_the_adapters() {
    let (model, _) = trained(LoraTargets::ALL, 5);
    let seq: Vec<u32> = vec![3, 1, 4, 1, 5, 9, 2];
    let full = model
        .logits((Batch::new(1), Seq::new(seq.len())), &seq)
        .unwrap();
    let mut cache = model.cache();
    let v = Vocab::SIZE;
    for (t, &id) in seq.iter().enumerate() {
        let step = model.decode(&mut cache, &[id]).unwrap();
        let d = max_diff(step.as_slice(), &full.as_slice()[t * v..][..v]);
        assert!(d < 1e-12, "position {t}: {d}");
    }
    // And the adapters do change what is decoded.
    let base = Model::init(DecoderConfig::default(), 3);
    let mut cache = base.cache();
    let plain = base.decode(&mut cache, &seq).unwrap();
    let mut cache = model.cache();
    let adapted = model.decode(&mut cache, &seq).unwrap();
    assert!(max_diff(plain.as_slice(), adapted.as_slice()) > 1e-6);
}

/// Adapters on the feed-forward's gate/up/down only: training moves them alone (every
/// gradient is an adapter's), the loss falls, and merging them into the projections
/// computes what the adapted decoder computes; saved and read back onto a fresh base, they
/// give the same logits.
#[test]
fn mlp_adapters_train_merge_and_save() {
    let before = Model::init(DecoderConfig::default(), 3);
    let (mut model, losses) = trained(LoraTargets::MLP, 20);
    assert!(
        losses[losses.len() - 1] < 0.97 * losses[0],
        "the loss did not fall: {losses:?}"
    );
    assert_eq!(bits(&model), bits(&before));
    assert!(model.blocks[0].attn.lora.is_empty());
    let down = model.blocks[1].mlp_lora.down.as_ref().unwrap();
    assert!(down.lora_b.value().as_slice().iter().any(|&x| x != 0.0));
    let (ids, _) = data();
    let adapted = model.logits(shape(), &ids).unwrap();
    let file =
        SafeTensors::from_bytes(model.adapters_to_safetensors().unwrap().to_bytes()).unwrap();
    assert_eq!(file.names().len(), 2 * 3 * 2);
    let mut fresh = Model::init(DecoderConfig::default(), 3);
    fresh
        .add_adapters(LoraTargets::MLP, 2, LoraConfig::default(), 99)
        .unwrap();
    fresh.load_adapters_from(&file).unwrap();
    assert_eq!(fresh.logits(shape(), &ids).unwrap(), adapted);
    model.merge_adapters();
    assert!(!model.has_adapters());
    let merged = model.logits(shape(), &ids).unwrap();
    let d = max_diff(adapted.as_slice(), merged.as_slice());
    assert!(d < 1e-12, "merged differs from unmerged by {d}");
}
