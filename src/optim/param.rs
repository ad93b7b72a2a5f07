//! [`DynParam`]: a [`Param`] of any shape type seen through one object-safe trait, so that
//! one optimizer step updates parameters of different shapes.

use crate::autodiff::{Param, ParamId};
use crate::element::Float;
use crate::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};
use crate::shape::Shape;
use crate::tensor::TensorView;

/// A parameter whatever its shape type: what an optimizer needs of a [`Param`].
///
/// Implemented for every `Param<S, T>`; a step takes `&mut [&mut dyn DynParam<T>]`, so
/// `&mut layer.weight` (a `(DOut, DIn)` matrix) and `&mut layer.bias` (a `(DOut,)` vector)
/// sit in one slice. The element buffer is flat (row-major); the shape comes back when
/// state is read ([`Adam::exp_avg`](super::Adam::exp_avg) gives a `TensorView` of the
/// parameter's own shape) or saved (state tensors are stored with the parameter's dims,
/// and loaded back checked against them).
pub trait DynParam<T: Float> {
    /// The parameter's id (its state is stored under it).
    fn id(&self) -> ParamId;
    /// Whether it is frozen: a step skips it.
    fn is_frozen(&self) -> bool;
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
}

impl<S: Shape, T: Float> DynParam<T> for Param<S, T> {
    fn id(&self) -> ParamId {
        Param::id(self)
    }

    fn is_frozen(&self) -> bool {
        Param::is_frozen(self)
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
}
