//! LoRA on a decoder's attention projections: optional [`LoRA`] adapters beside `wq`, `wk`,
//! `wv` and `wo` of each [`Block`](super::Block) ([`AttnAdapters`]), trained while the decoder is frozen,
//! then folded into the projections ([`Decoder::merge_adapters`]).
//!
//! - The forward stays the one forward of `block.rs`: each adapted projection runs
//!   [`nn::lora::adapted`](crate::nn::lora::adapted), `x·Wᵀ + s·(x·Aᵀ)·Bᵀ` (two thin GEMMs,
//!   `B·A` never formed) where the plain one computes `x·Wᵀ`; a block without adapters
//!   checks four `None`s and computes nothing more.
//! - [`Decoder::add_adapters`] freezes every parameter of the decoder (as PEFT's
//!   `get_peft_model` does), so a tape reads the base as constants: only `A` and `B` get
//!   gradients. [`Decoder::adapter_params_mut`] is what the optimizer steps, so only they
//!   get optimizer state. The decoder's [`Params`] walk (`named_params`, `params_mut`,
//!   `num_parameters`, …) and [`Decoder::save`] cover the base only: the adapters have a
//!   walk of their own ([`AttnAdapters`]'s `Params`) and save and load on their own
//!   ([`save_adapters`](Decoder::save_adapters), [`load_adapters`](Decoder::load_adapters)),
//!   under PEFT's names (`layers.0.self_attn.q_proj.lora_A.weight`).
//! - [`Decoder::decode`] (the KV cache) runs the same block forward, adapters included, so
//!   incremental decoding of an adapted decoder equals its full forward, merged or not.
//!
//! ```
//! use shapecheck::nn::lora::LoraConfig;
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, LoraTargets};
//! use shapecheck::prelude::*;
//!
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
//! dim!(pub Batch; pub Seq);
//! let mut model = Decoder::<Vocab, DModel, Heads, HeadDim, Ffn, f64>::init(DecoderConfig::default(), 0);
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

use super::Decoder;
use crate::autodiff::{DynParam, NamedParams, ParamVisitor, ParamVisitorMut, Params, ParamsMut};
use crate::dim::{Dim, Dyn, Many, StaticDim};
use crate::element::Float;
use crate::error::Error;
use crate::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};
use crate::nn::lora::{LoRA, LoraConfig};
use crate::shape::SplitsInto;

/// An adapter of a `DModel → DModel` projection, of runtime rank.
pub type Adapter<DModel, T> = LoRA<DModel, DModel, Dyn, T>;

/// Which attention projections of a block get an adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoraTargets {
    /// The query projection `wq` (`q_proj`).
    pub q: bool,
    /// The key projection `wk` (`k_proj`).
    pub k: bool,
    /// The value projection `wv` (`v_proj`).
    pub v: bool,
    /// The output projection `wo` (`o_proj`).
    pub o: bool,
}

impl LoraTargets {
    /// No projection.
    pub const NONE: LoraTargets = LoraTargets {
        q: false,
        k: false,
        v: false,
        o: false,
    };
    /// All four projections.
    pub const ALL: LoraTargets = LoraTargets {
        q: true,
        k: true,
        v: true,
        o: true,
    };
}

/// The optional adapters of one block's attention projections (`None`: not adapted).
#[derive(Debug)]
pub struct AttnAdapters<DModel: Dim, T: Float = f32> {
    /// The adapter of `wq`.
    pub q: Option<Adapter<DModel, T>>,
    /// The adapter of `wk`.
    pub k: Option<Adapter<DModel, T>>,
    /// The adapter of `wv`.
    pub v: Option<Adapter<DModel, T>>,
    /// The adapter of `wo`.
    pub o: Option<Adapter<DModel, T>>,
}

impl<DModel: Dim, T: Float> AttnAdapters<DModel, T> {
    /// No adapter.
    pub fn none() -> Self {
        AttnAdapters {
            q: None,
            k: None,
            v: None,
            o: None,
        }
    }

    /// The adapters present, with their projection's name (`q_proj`, …).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Adapter<DModel, T>)> {
        [
            ("q_proj", &self.q),
            ("k_proj", &self.k),
            ("v_proj", &self.v),
            ("o_proj", &self.o),
        ]
        .into_iter()
        .filter_map(|(n, a)| a.as_ref().map(|a| (n, a)))
    }

    /// The adapters present, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&'static str, &mut Adapter<DModel, T>)> {
        [
            ("q_proj", &mut self.q),
            ("k_proj", &mut self.k),
            ("v_proj", &mut self.v),
            ("o_proj", &mut self.o),
        ]
        .into_iter()
        .filter_map(|(n, a)| a.as_mut().map(|a| (n, a)))
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl<DModel: Dim, T: Float> Params<T> for AttnAdapters<DModel, T> {
    /// PEFT's names under `prefix`: `{prefix}q_proj.lora_A.weight`, … (the projections
    /// without an adapter have none).
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        for (name, a) in self.iter() {
            a.visit_params(&format!("{prefix}{name}."), v);
        }
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        for (name, a) in self.iter_mut() {
            a.visit_params_mut(&format!("{prefix}{name}."), v);
        }
    }
}

impl<Vocab, DModel, Heads, HeadDim, Ffn, T> Decoder<Vocab, DModel, Heads, HeadDim, Ffn, T>
where
    Vocab: StaticDim<Kind = Many>,
    DModel: StaticDim<Kind = Many> + SplitsInto<Heads, HeadDim>,
    Heads: StaticDim,
    HeadDim: StaticDim,
    Ffn: StaticDim<Kind = Many>,
    T: Float,
{
    /// Calls `v` on every adapter parameter, under PEFT's names
    /// (`layers.{i}.self_attn.{q,k,v,o}_proj.lora_{A,B}.weight`): the adapters' walk, beside
    /// the decoder's own ([`Params`], which covers the base only).
    pub fn visit_adapters<'a>(&'a self, v: &mut impl ParamVisitor<'a, T>) {
        for (i, b) in self.blocks.iter().enumerate() {
            b.lora.visit_params(&format!("layers.{i}.self_attn."), v);
        }
    }

    /// [`visit_adapters`](Self::visit_adapters), mutably.
    pub fn visit_adapters_mut<'a>(&'a mut self, v: &mut impl ParamVisitorMut<'a, T>) {
        for (i, b) in self.blocks.iter_mut().enumerate() {
            b.lora
                .visit_params_mut(&format!("layers.{i}.self_attn."), v);
        }
    }

    /// Freezes the decoder ([`Params::freeze`]: its own parameters, not the adapters) and
    /// gives the projections named by `targets` in every block a fresh rank-`rank` adapter
    /// (see [`Block::add_adapters`](super::Block::add_adapters); block `i` draws from `seed + 4·i`). For other targets
    /// per block, call [`Params::freeze`] and [`Block::add_adapters`](super::Block::add_adapters) yourself.
    ///
    /// `Err` when `rank` exceeds the model width or `config` is invalid; nothing is then
    /// added (the decoder is frozen all the same).
    pub fn add_adapters(
        &mut self,
        targets: LoraTargets,
        rank: usize,
        config: LoraConfig,
        seed: u64,
    ) -> Result<(), Error> {
        Params::freeze(self);
        // Checked once up front, so that an error leaves every block as it was.
        Adapter::<DModel, T>::new_with(
            (DModel::default(), DModel::default()),
            Dyn::new(rank),
            config,
            0,
        )?;
        for (i, b) in self.blocks.iter_mut().enumerate() {
            b.add_adapters(targets, rank, config, seed + 4 * i as u64)?;
        }
        Ok(())
    }

    /// Whether any block has an adapter.
    pub fn has_adapters(&self) -> bool {
        self.blocks.iter().any(|b| !b.lora.is_empty())
    }

    /// The number of scalar parameters of the adapters (`R·(DModel + DModel)` each).
    pub fn num_adapter_params(&self) -> usize {
        self.blocks
            .iter()
            .flat_map(|b| b.lora.iter())
            .map(|(_, a)| a.num_params())
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
    /// ([`Block::merge_adapters`](super::Block::merge_adapters)): a plain decoder again, which computes what the adapted
    /// one computed (to rounding), and saves as any decoder does.
    pub fn merge_adapters(&mut self) {
        self.blocks.iter_mut().for_each(|b| b.merge_adapters());
    }

    /// The adapters alone as a safetensors file in memory, under
    /// [`named_adapter_params`](Self::named_adapter_params)' names, with their rank, α and
    /// rsLoRA recorded in the metadata in the shape of PEFT's `adapter_config.json`
    /// ([`AdapterConfig`](crate::nn::lora::AdapterConfig): `target_modules` the adapted
    /// projections, `layers.{i}.self_attn.{q,k,v,o}_proj`). `Err` when the adapters
    /// disagree on rsLoRA (the record holds one for all).
    pub fn adapters_to_safetensors(&self) -> Result<SafetensorsWriter, SaveError> {
        let mut file = SafetensorsWriter::new();
        for (i, b) in self.blocks.iter().enumerate() {
            for (name, a) in b.lora.iter() {
                a.save(&mut file, &format!("layers.{i}.self_attn.{name}."))?;
            }
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
        // A stray tensor is refused before anything is replaced.
        let known: Vec<String> = self
            .named_adapter_params()
            .into_iter()
            .map(|(n, _)| n)
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
        let config = crate::nn::lora::recorded_config(file)?;
        // All read and checked first: a refused file replaces nothing.
        let mut read = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            for (name, a) in b.lora.iter() {
                read.push(a.read_checked(
                    file,
                    &format!("layers.{i}.self_attn.{name}."),
                    &config,
                )?);
            }
        }
        let adapters = self.blocks.iter_mut().flat_map(|b| b.lora.iter_mut());
        for ((_, adapter), (a, b)) in adapters.zip(read) {
            *adapter.a_mut() = a;
            *adapter.b_mut() = b;
        }
        Ok(())
    }
}
