//! LoRA on a decoder's projections: optional [`LoRA`] adapters beside `wq`, `wk`, `wv` and
//! `wo` of each block's attention layer ([`AttnAdapters`]) and beside `gate`, `up` and
//! `down` of its feed-forward ([`MlpAdapters`](crate::nn::lora::MlpAdapters), the block's `mlp_lora`), trained while the
//! decoder is frozen, then folded into the projections ([`Decoder::merge_adapters`]).
//!
//! - The forward stays the one forward of `block.rs`: each adapted projection runs
//!   [`nn::lora::adapted`](crate::nn::lora::adapted), `x·Wᵀ + s·(x·Aᵀ)·Bᵀ` (two thin GEMMs,
//!   `B·A` never formed) where the plain one computes `x·Wᵀ`; a block without adapters
//!   checks seven `None`s and computes nothing more.
//! - [`Decoder::add_adapters`] freezes every parameter of the decoder (as PEFT's
//!   `get_peft_model` does), so a tape reads the base as constants: only `A` and `B` get
//!   gradients. [`Decoder::adapter_params_mut`] is what the optimizer steps, so only they
//!   get optimizer state. The decoder's [`Params`] walk (`named_params`, `params_mut`,
//!   `num_parameters`, …) and [`Decoder::save`] cover the base only: the adapters have a
//!   walk of their own ([`AttnAdapters`]'s `Params`) and save and load on their own
//!   ([`save_adapters`](Decoder::save_adapters), [`load_adapters`](Decoder::load_adapters)),
//!   under PEFT's names (`layers.0.self_attn.q_proj.lora_A.weight`,
//!   `layers.0.mlp.gate_proj.lora_A.weight`).
//! - [`Decoder::decode`] (the KV cache) runs the same block forward, adapters included, so
//!   incremental decoding of an adapted decoder equals its full forward, merged or not.
//!
//! ```
//! use shapecheck::nn::lora::LoraConfig;
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims, LoraTargets};
//! use shapecheck::prelude::*;
//!
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
//! dim!(pub Batch; pub Seq);
//! let mut model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>::init(DecoderConfig::default(), 0);
//! let ids: Vec<u32> = (0..6).collect();
//! let shape = (Batch::new(1), Seq::new(6));
//! let base = model.logits(shape, &ids)?;
//! model.add_adapters(LoraTargets { q: true, v: true, ..LoraTargets::NONE }, 2, LoraConfig::default(), 1)?;
//! assert_eq!(model.num_adapter_params(), 2 * 2 * 2 * (16 + 16));
//! // B starts at zero: the adapted decoder starts equal to the base.
//! assert_eq!(model.logits(shape, &ids)?, base);
//! # Ok::<(), shapecheck::Error>(())
//! ```

use std::path::Path;

use super::{Decoder, DecoderDims};
use crate::autodiff::{DynParam, NamedParams, ParamVisitor, ParamVisitorMut, Params, ParamsMut};
use crate::dim::Dyn;
use crate::element::Float;
use crate::error::Error;
use crate::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};
use crate::nn::lora::{LoRA, LoraConfig};
use crate::nn::self_attention::{AttnAdapters, LoraTargets};

/// An adapter of a projection `DIn → DOut`, of runtime rank.
pub type Adapter<DIn, DOut, T> = LoRA<DIn, DOut, Dyn, T>;

/// The factors `A`, `B` read (and checked) for one adapter.
type Factors<DIn, DOut, T> = Option<(
    crate::tensor::Tensor<(Dyn, DIn), T>,
    crate::tensor::Tensor<(DOut, Dyn), T>,
)>;

/// Reads adapter `a`'s factors under `prefix`, if there is an adapter.
fn read<DIn: crate::dim::Dim, DOut: crate::dim::Dim, T: Float>(
    a: &Option<Adapter<DIn, DOut, T>>,
    file: &SafeTensors,
    prefix: String,
    config: &crate::nn::lora::AdapterConfig,
) -> Result<Factors<DIn, DOut, T>, LoadError> {
    a.as_ref()
        .map(|a| a.read_checked(file, &prefix, config))
        .transpose()
}

/// Adds adapter `a`, if there is one, to `file` under `prefix`.
fn save<DIn: crate::dim::Dim, DOut: crate::dim::Dim, T: Float>(
    a: &Option<Adapter<DIn, DOut, T>>,
    file: &mut SafetensorsWriter,
    prefix: String,
) -> Result<(), SaveError> {
    a.as_ref().map_or(Ok(()), |a| a.save(file, &prefix))
}

/// Puts factors read by [`read`] into the adapter.
fn put<DIn: crate::dim::Dim, DOut: crate::dim::Dim, T: Float>(
    a: &mut Option<Adapter<DIn, DOut, T>>,
    f: Factors<DIn, DOut, T>,
) {
    if let (Some(a), Some((fa, fb))) = (a.as_mut(), f) {
        *a.a_mut() = fa;
        *a.b_mut() = fb;
    }
}

impl<D: DecoderDims, T: Float> Decoder<D, T> {
    /// Calls `v` on every adapter parameter, under PEFT's names
    /// (`layers.{i}.self_attn.{q,k,v,o}_proj.lora_{A,B}.weight`, then
    /// `layers.{i}.mlp.{gate,up,down}_proj.…`): the adapters' walk, beside the decoder's
    /// own ([`Params`], which covers the base only).
    pub fn visit_adapters<'a>(&'a self, v: &mut impl ParamVisitor<'a, T>) {
        for (i, b) in self.blocks.iter().enumerate() {
            b.attn
                .lora
                .visit_params(&format!("layers.{i}.self_attn."), v);
            b.mlp_lora.visit_params(&format!("layers.{i}.mlp."), v);
        }
    }

    /// [`visit_adapters`](Self::visit_adapters), mutably.
    pub fn visit_adapters_mut<'a>(&'a mut self, v: &mut impl ParamVisitorMut<'a, T>) {
        for (i, b) in self.blocks.iter_mut().enumerate() {
            b.attn
                .lora
                .visit_params_mut(&format!("layers.{i}.self_attn."), v);
            b.mlp_lora.visit_params_mut(&format!("layers.{i}.mlp."), v);
        }
    }

    /// Freezes the decoder ([`Params::freeze`]: its own parameters, not the adapters) and
    /// gives the projections named by `targets` in every block a fresh rank-`rank` adapter
    /// (see [`SelfAttention::add_adapters`](crate::nn::self_attention::SelfAttention::add_adapters)
    /// and [`MlpAdapters::add`](crate::nn::lora::MlpAdapters::add); block `i`'s attention draws from `seed + 4·i`, its
    /// feed-forward from `seed + 4·L + 3·i` for `L` blocks). For other targets per block,
    /// call [`Params::freeze`] and [`Block::add_adapters`](super::Block::add_adapters)
    /// yourself.
    ///
    /// `Err` when `rank` exceeds a projection's smaller side or `config` is invalid;
    /// nothing is then added (the decoder is frozen all the same).
    pub fn add_adapters(
        &mut self,
        targets: LoraTargets,
        rank: usize,
        config: LoraConfig,
        seed: u64,
    ) -> Result<(), Error> {
        Params::freeze(self);
        // Checked once up front, on every projection of the first block's kind, so that an
        // error leaves every block as it was.
        if let Some(b) = self.blocks.first() {
            let (wq, wk, wo) = (
                b.attn.wq.weight.value().shape(),
                b.attn.wk.weight.value().shape(),
                b.attn.wo.weight.value().shape(),
            );
            let (q, k, o) = ((wq.1, wq.0), (wk.1, wk.0), (wo.1, wo.0));
            let r = Dyn::new(rank);
            let op = "LoRA::new";
            if targets.q {
                Adapter::<_, _, T>::peft(op, q, r, config, 0)?;
            }
            if targets.k || targets.v {
                Adapter::<_, _, T>::peft(op, k, r, config, 0)?;
            }
            if targets.o {
                Adapter::<_, _, T>::peft(op, o, r, config, 0)?;
            }
            let (up, down) = (
                b.ffn.up.weight.value().shape(),
                b.ffn.down.weight.value().shape(),
            );
            if targets.gate || targets.up {
                Adapter::<_, _, T>::peft(op, (up.1, up.0), r, config, 0)?;
            }
            if targets.down {
                Adapter::<_, _, T>::peft(op, (down.1, down.0), r, config, 0)?;
            }
        }
        let mlp_seed = seed + 4 * self.blocks.len() as u64;
        for (i, b) in self.blocks.iter_mut().enumerate() {
            let i = i as u64;
            b.attn.add_adapters(targets, rank, config, seed + 4 * i)?;
            b.mlp_lora
                .add(&b.ffn, targets, rank, config, mlp_seed + 3 * i)?;
        }
        Ok(())
    }

    /// Whether any block has an adapter.
    pub fn has_adapters(&self) -> bool {
        self.blocks
            .iter()
            .any(|b| !b.attn.lora.is_empty() || !b.mlp_lora.is_empty())
    }

    /// The number of scalar parameters of the adapters (`R·(DIn + DOut)` each).
    pub fn num_adapter_params(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| b.attn.lora.num_params() + b.mlp_lora.num_params())
            .sum()
    }

    /// The adapters' parameters with PEFT's names
    /// (`layers.{i}.self_attn.{q,k,v,o}_proj.lora_{A,B}.weight`), for
    /// [`clip_grad_norm`](crate::optim::clip_grad_norm) and
    /// [`Optimizer::save_state`](crate::optim::Optimizer::save_state).
    pub fn named_adapter_params(&self) -> Vec<(String, &dyn DynParam<T>)> {
        let mut c = NamedParams(Vec::new());
        self.visit_adapters(&mut c);
        c.0
    }

    /// The adapters' parameters, mutably, in
    /// [`named_adapter_params`](Self::named_adapter_params)' order: what
    /// [`Optimizer::step`](crate::optim::Optimizer::step) takes to train the adapters
    /// only.
    pub fn adapter_params_mut(&mut self) -> Vec<&mut dyn DynParam<T>> {
        let mut c = ParamsMut(Vec::new());
        self.visit_adapters_mut(&mut c);
        c.0
    }

    /// Folds every adapter into its projection and removes it
    /// ([`Block::merge_adapters`](super::Block::merge_adapters)):
    /// a plain decoder again, which computes what the adapted one computed (to rounding),
    /// and saves as any decoder does.
    pub fn merge_adapters(&mut self) {
        self.blocks.iter_mut().for_each(|b| b.merge_adapters());
    }

    /// The adapters alone as a safetensors file in memory, under
    /// [`named_adapter_params`](Self::named_adapter_params)' names, with their rank, α and
    /// rsLoRA recorded in the metadata in the shape of PEFT's `adapter_config.json`
    /// ([`AdapterConfig`](crate::nn::lora::AdapterConfig): `target_modules` the adapted
    /// projections, `layers.{i}.self_attn.{q,k,v,o}_proj`, `layers.{i}.mlp.{gate,up,down}_proj`). `Err` when the adapters
    /// disagree on rsLoRA (the record holds one for all).
    pub fn adapters_to_safetensors(&self) -> Result<SafetensorsWriter, SaveError> {
        self.adapters_under("")
    }

    /// The adapters as [`adapters_to_safetensors`](Self::adapters_to_safetensors) writes
    /// them, every name after `prefix` (PEFT's `base_model.model.model.` for `save_peft`).
    pub(super) fn adapters_under(&self, prefix: &str) -> Result<SafetensorsWriter, SaveError> {
        let mut file = SafetensorsWriter::new();
        for (i, b) in self.blocks.iter().enumerate() {
            let (l, m): (&AttnAdapters<_, _, _, _, T>, _) = (&b.attn.lora, &b.mlp_lora);
            let p = |n: &str| format!("{prefix}layers.{i}.self_attn.{n}.");
            let pm = |n: &str| format!("{prefix}layers.{i}.mlp.{n}.");
            save(&l.q, &mut file, p("q_proj"))?;
            save(&l.k, &mut file, p("k_proj"))?;
            save(&l.v, &mut file, p("v_proj"))?;
            save(&l.o, &mut file, p("o_proj"))?;
            save(&m.gate, &mut file, pm("gate_proj"))?;
            save(&m.up, &mut file, pm("up_proj"))?;
            save(&m.down, &mut file, pm("down_proj"))?;
        }
        Ok(file)
    }

    /// Writes [`adapters_to_safetensors`](Self::adapters_to_safetensors) to `path`.
    pub fn save_adapters(&self, path: impl AsRef<Path>) -> Result<(), SaveError> {
        self.adapters_to_safetensors()?.write(path)
    }

    /// Reads the adapters saved by [`save_adapters`](Self::save_adapters) at `path` into
    /// this decoder's adapters, which must already be there with the same targets, ranks,
    /// α and rsLoRA ([`add_adapters`](Self::add_adapters)).
    ///
    /// Every adapter is read and checked before any is replaced, so an `Err` leaves all of
    /// them as they were. `Err` when the file cannot be read, holds a tensor that is not
    /// one of the adapters, records no adapter configuration, or an adapter's tensor is
    /// missing or has another shape, or its rank, `lora_alpha` or `use_rslora` differs
    /// from the file's ([`LoadError::Mismatch`], naming the field and both values).
    pub fn load_adapters(&mut self, path: impl AsRef<Path>) -> Result<(), LoadError> {
        let path = path.as_ref();
        let file = SafeTensors::open(path)?;
        self.load_adapters_from(&file).map_err(|e| match e {
            LoadError::Malformed { path: None, detail } => LoadError::Malformed {
                path: Some(path.to_owned()),
                detail,
            },
            e => e,
        })
    }

    /// [`load_adapters`](Self::load_adapters) from a file already read.
    pub fn load_adapters_from(&mut self, file: &SafeTensors) -> Result<(), LoadError> {
        let config = crate::nn::lora::recorded_config(file)?;
        self.load_adapters_under(file, "", &config)
    }

    /// Reads every adapter under `{root}layers.{i}.self_attn.{q,k,v,o}_proj.` and
    /// `{root}layers.{i}.mlp.{gate,up,down}_proj.`, checked
    /// against `config`, after refusing a tensor of `file` that is none of them; all are
    /// read and checked before any is replaced.
    pub(super) fn load_adapters_under(
        &mut self,
        file: &SafeTensors,
        root: &str,
        config: &crate::nn::lora::AdapterConfig,
    ) -> Result<(), LoadError> {
        // A stray tensor is refused before anything is replaced.
        let known: Vec<String> = self
            .named_adapter_params()
            .into_iter()
            .map(|(n, _)| format!("{root}{n}"))
            .collect();
        if let Some(extra) = file
            .names()
            .into_iter()
            .find(|n| !known.iter().any(|k| k == n))
        {
            return Err(LoadError::Malformed {
                path: None,
                detail: format!("tensor `{extra}` is not one of the decoder's adapters"),
            });
        }
        // All read and checked first: a refused file replaces nothing.
        let mut read_all = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            let l = &b.attn.lora;
            let p = |n: &str| format!("{root}layers.{i}.self_attn.{n}.");
            let (m, pm) = (&b.mlp_lora, |n: &str| format!("{root}layers.{i}.mlp.{n}."));
            read_all.push((
                (
                    read(&l.q, file, p("q_proj"), config)?,
                    read(&l.k, file, p("k_proj"), config)?,
                    read(&l.v, file, p("v_proj"), config)?,
                    read(&l.o, file, p("o_proj"), config)?,
                ),
                (
                    read(&m.gate, file, pm("gate_proj"), config)?,
                    read(&m.up, file, pm("up_proj"), config)?,
                    read(&m.down, file, pm("down_proj"), config)?,
                ),
            ));
        }
        for (b, ((q, k, v, o), (gate, up, down))) in self.blocks.iter_mut().zip(read_all) {
            let l = &mut b.attn.lora;
            put(&mut l.q, q);
            put(&mut l.k, k);
            put(&mut l.v, v);
            put(&mut l.o, o);
            let m = &mut b.mlp_lora;
            put(&mut m.gate, gate);
            put(&mut m.up, up);
            put(&mut m.down, down);
        }
        Ok(())
    }
}
