//! The one parameter walk: [`Params`], implemented once per layer (its own parameters
//! under the checkpoint's names) and composed by blocks and models (each part under its
//! prefix); and [`DynParam`], a [`Param`] of any shape type seen through one object-safe
//! trait, which is what an optimizer step, gradient clipping and optimizer state take.
//!
//! A walk calls a visitor on every parameter with its full name
//! (`layers.0.self_attn.q_proj.weight`). Everything else is derived from the two walks, once:
//! [`named_params`](Params::named_params), [`params_mut`](Params::params_mut),
//! [`num_parameters`](Params::num_parameters), [`freeze`](Params::freeze),
//! [`save_params`](Params::save_params) and [`load_params`](Params::load_params).
//!
//! ```
//! use shapecheck::autodiff::Params;
//! use shapecheck::nn::linear::Linear;
//! use shapecheck::prelude::*;
//! dim!(pub DIn = 3; pub DOut = 2);
//! let mut layer = Linear::<DIn, DOut>::init(true, 0);
//! let names: Vec<String> = layer.named_params().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["weight", "bias"]);
//! assert_eq!(layer.num_parameters(), 3 * 2 + 2);
//! layer.freeze();
//! assert!(layer.weight.is_frozen() && layer.bias.as_ref().unwrap().is_frozen());
//! ```

use std::collections::HashSet;

use super::param::{Param, ParamId};
use crate::element::Float;
use crate::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};
use crate::shape::Shape;
use crate::tensor::TensorView;

/// A parameter whatever its shape type: what an optimizer needs of a [`Param`].
///
/// Implemented for every `Param<S, T>`; a step takes `&mut [&mut dyn DynParam<T>]`, so
/// `&mut layer.weight` (a `(DOut, DIn)` matrix) and `&mut layer.bias` (a `(DOut,)` vector)
/// sit in one slice. The element buffer is flat (row-major); the shape comes back when
/// state is read (`Adam::exp_avg` gives a `TensorView` of the
/// parameter's own shape) or saved (state tensors are stored with the parameter's dims,
/// and loaded back checked against them).
pub trait DynParam<T: Float> {
    /// The parameter's id (its state is stored under it).
    fn id(&self) -> ParamId;
    /// Whether it is frozen: a step skips it.
    fn is_frozen(&self) -> bool;
    /// Freezes it (`true`) or makes it trainable (`false`).
    fn set_frozen(&mut self, frozen: bool);
    /// The shape, as its dims print: `(Ffn=16, DModel=8)`.
    fn describe(&self) -> String;
    /// The elements, row-major.
    fn values(&self) -> &[T];
    /// The elements, mutably (in place once no tape holds the value).
    fn values_mut(&mut self) -> &mut [T];
    /// Adds `data` (laid out like the parameter) to `writer` as tensor `name`, with the
    /// parameter's shape.
    fn save_like(
        &self,
        writer: &mut SafetensorsWriter,
        name: &str,
        data: &[T],
    ) -> Result<(), SaveError>;
    /// Loads tensor `name` from `file`, checked against the parameter's shape.
    fn load_like(&self, file: &SafeTensors, name: &str) -> Result<Vec<T>, LoadError>;
    /// The bytes of the GEMM packs it keeps ([`Param::packed_bytes`]).
    fn packed_bytes(&self) -> usize;
    /// Drops those packs ([`Param::release_packs`]).
    fn release_packs(&mut self);
    /// Turns packing on or off ([`Param::set_prepack`]).
    fn set_prepack(&mut self, on: bool);
}

impl<S: Shape, T: Float> DynParam<T> for Param<S, T> {
    fn id(&self) -> ParamId {
        Param::id(self)
    }

    fn is_frozen(&self) -> bool {
        Param::is_frozen(self)
    }

    fn set_frozen(&mut self, frozen: bool) {
        if frozen {
            self.freeze()
        } else {
            self.unfreeze()
        }
    }

    fn describe(&self) -> String {
        format!("{:?}", self.value().shape())
    }

    fn values(&self) -> &[T] {
        self.value().as_slice()
    }

    fn values_mut(&mut self) -> &mut [T] {
        self.value_mut().as_mut_slice()
    }

    fn save_like(
        &self,
        writer: &mut SafetensorsWriter,
        name: &str,
        data: &[T],
    ) -> Result<(), SaveError> {
        let shape = self.value().shape();
        debug_assert_eq!(data.len(), shape.num_elements());
        writer
            .add(name, &TensorView::contiguous(data, shape))
            .map(|_| ())
    }

    fn load_like(&self, file: &SafeTensors, name: &str) -> Result<Vec<T>, LoadError> {
        file.load_with::<S, T>(name, self.value().shape())
            .map(|t| t.into_vec())
    }

    fn packed_bytes(&self) -> usize {
        Param::packed_bytes(self)
    }

    fn release_packs(&mut self) {
        Param::release_packs(self)
    }

    fn set_prepack(&mut self, on: bool) {
        Param::set_prepack(self, on)
    }
}

/// Something that looks at every parameter of a layer or model, by name: saving,
/// comparing, counting. The lifetime `'a` is that of the walked value, so a visitor may
/// keep the references it is given.
pub trait ParamVisitor<'a, T: Float> {
    /// Called once per parameter, with its full name.
    fn visit<S: Shape>(&mut self, name: &str, param: &'a Param<S, T>);
}

/// Something that changes every parameter of a layer or model, by name: loading,
/// freezing, updating.
pub trait ParamVisitorMut<'a, T: Float> {
    /// Called once per parameter, with its full name.
    fn visit<S: Shape>(&mut self, name: &str, param: &'a mut Param<S, T>);
}

/// A value that owns parameters: a layer, a block, a model. A layer implements the two
/// walks over its own parameters; a model calls its parts' walks with their prefixes, and
/// lists its fields once. The rest is derived from the walks.
pub trait Params<T: Float> {
    /// Calls `v` on every parameter, named `{prefix}{name}`.
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>);

    /// Calls `v` on every parameter, mutably, in [`visit_params`](Self::visit_params)'
    /// order and with its names.
    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>);

    /// Every parameter with its name: for [`clip_grad_norm`](crate::optim::clip_grad_norm)
    /// (drop the names) and [`Optimizer::save_state`](crate::optim::Optimizer::save_state).
    fn named_params(&self) -> Vec<(String, &dyn DynParam<T>)> {
        let mut c = NamedParams(Vec::new());
        self.visit_params("", &mut c);
        c.0
    }

    /// Every parameter, mutably, in [`named_params`](Self::named_params)' order: what
    /// [`Optimizer::step`](crate::optim::Optimizer::step) takes.
    fn params_mut(&mut self) -> Vec<&mut dyn DynParam<T>> {
        let mut c = ParamsMut(Vec::new());
        self.visit_params_mut("", &mut c);
        c.0
    }

    /// The number of scalar parameters.
    fn num_parameters(&self) -> usize {
        self.named_params()
            .iter()
            .map(|(_, p)| p.values().len())
            .sum()
    }

    /// The bytes of the GEMM packs its parameters keep (see [`Param::packed_bytes`]): the
    /// memory prepacking costs on top of the parameters' own.
    fn packed_bytes(&self) -> usize {
        self.named_params()
            .iter()
            .map(|(_, p)| p.packed_bytes())
            .sum()
    }

    /// Drops the GEMM packs of every parameter (they are made again on use).
    fn release_packs(&mut self) {
        self.params_mut()
            .into_iter()
            .for_each(|p| p.release_packs());
    }

    /// Turns the GEMM packs of every parameter on or off ([`Param::set_prepack`]): off drops
    /// them and makes no more.
    fn set_prepack(&mut self, on: bool) {
        self.params_mut()
            .into_iter()
            .for_each(|p| p.set_prepack(on));
    }

    /// Freezes every parameter: tapes read them as constants, and they get no gradient.
    fn freeze(&mut self) {
        self.params_mut()
            .into_iter()
            .for_each(|p| p.set_frozen(true));
    }

    /// Makes every parameter trainable again.
    fn unfreeze(&mut self) {
        self.params_mut()
            .into_iter()
            .for_each(|p| p.set_frozen(false));
    }

    /// Adds every parameter to `writer` under `{prefix}{name}`, with its shape.
    fn save_params(&self, writer: &mut SafetensorsWriter, prefix: &str) -> Result<(), SaveError> {
        for (name, p) in self.named_params() {
            p.save_like(writer, &format!("{prefix}{name}"), p.values())?;
        }
        Ok(())
    }

    /// Replaces every parameter with the tensor saved under `{prefix}{name}`, checked
    /// against its shape. Every tensor is read and checked before any parameter is
    /// replaced, so an `Err` (a tensor missing, of another shape or dtype) leaves all of
    /// them as they were. The parameters keep their ids, so an optimizer's state still
    /// belongs to them. Tensors of `file` that are not parameters are not looked at.
    fn load_params(&mut self, file: &SafeTensors, prefix: &str) -> Result<(), LoadError> {
        let values = self
            .named_params()
            .into_iter()
            .map(|(name, p)| p.load_like(file, &format!("{prefix}{name}")))
            .collect::<Result<Vec<_>, _>>()?;
        for (p, v) in self.params_mut().into_iter().zip(values) {
            p.values_mut().copy_from_slice(&v);
        }
        Ok(())
    }

    /// The names of the tensors of `file` under `prefix` that are not one of these
    /// parameters (`{prefix}{name}`), in the file's order: what a strict load refuses.
    fn stray_tensors(&self, file: &SafeTensors, prefix: &str) -> Vec<String> {
        let known: HashSet<String> = self
            .named_params()
            .into_iter()
            .map(|(n, _)| format!("{prefix}{n}"))
            .collect();
        file.names()
            .into_iter()
            .filter(|n| n.starts_with(prefix) && !known.contains(*n))
            .map(|n| n.to_owned())
            .collect()
    }
}

/// A visitor that collects every parameter with its name, in the walk's order.
#[derive(Default)]
pub struct NamedParams<'a, T: Float>(pub Vec<(String, &'a dyn DynParam<T>)>);

impl<'a, T: Float> ParamVisitor<'a, T> for NamedParams<'a, T> {
    fn visit<S: Shape>(&mut self, name: &str, p: &'a Param<S, T>) {
        self.0.push((name.to_owned(), p));
    }
}

/// A visitor that collects every parameter, mutably, in the walk's order.
#[derive(Default)]
pub struct ParamsMut<'a, T: Float>(pub Vec<&'a mut dyn DynParam<T>>);

impl<'a, T: Float> ParamVisitorMut<'a, T> for ParamsMut<'a, T> {
    fn visit<S: Shape>(&mut self, _: &str, p: &'a mut Param<S, T>) {
        self.0.push(p);
    }
}

impl<S: Shape, T: Float> Params<T> for Param<S, T> {
    /// A bare parameter is named by its prefix alone.
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        v.visit(prefix, self);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        v.visit(prefix, self);
    }
}

impl<T: Float, P: Params<T>> Params<T> for Option<P> {
    /// Nothing when absent.
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        if let Some(p) = self {
            p.visit_params(prefix, v);
        }
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        if let Some(p) = self {
            p.visit_params_mut(prefix, v);
        }
    }
}
