//! [`Handle`]: the part of a traced value that outlives the borrow of its tape (node,
//! shared buffer, layout), which is what a backward closure keeps of its inputs: a
//! reference count on their buffers, not a copy. The tape's gradient sink and the traced
//! values both use it; it uses neither.

use std::sync::Arc;

use crate::element::Float;
use crate::shape::{Dims, Shape};
use crate::tensor::{layout, Tensor, TensorView};

/// A buffer of elements behind an `Arc`, whatever the shape type of the tensor owning it.
pub(crate) trait Buffer<T>: 'static {
    fn slice(&self) -> &[T];
    /// The elements, moved out when this is the last reference, else copied.
    fn into_vec(self: Arc<Self>) -> Vec<T>;
}

impl<S: Shape, T: Float> Buffer<T> for Tensor<S, T> {
    #[inline]
    fn slice(&self) -> &[T] {
        self.as_slice()
    }

    fn into_vec(self: Arc<Self>) -> Vec<T> {
        Arc::try_unwrap(self).map_or_else(|shared| shared.as_slice().to_vec(), Tensor::into_vec)
    }
}

/// The part of a [`Var`] that outlives the borrow of its tape: node, buffer and layout.
pub(crate) struct Handle<S: Shape, T: Float> {
    pub(crate) id: Option<usize>,
    pub(crate) data: Arc<dyn Buffer<T>>,
    pub(crate) offset: usize,
    pub(crate) shape: S,
    pub(crate) strides: Dims<S>,
}

impl<S: Shape, T: Float> Clone for Handle<S, T> {
    fn clone(&self) -> Self {
        Handle {
            id: self.id,
            data: Arc::clone(&self.data),
            offset: self.offset,
            shape: self.shape,
            strides: self.strides.clone(),
        }
    }
}

impl<S: Shape, T: Float> Handle<S, T> {
    pub(crate) fn whole<S0: Shape>(id: Option<usize>, t: Arc<Tensor<S0, T>>, shape: S) -> Self {
        Handle {
            id,
            data: t,
            offset: 0,
            strides: shape.contiguous_strides(),
            shape,
        }
    }

    /// The value, as a view of the shared buffer.
    #[inline]
    pub(crate) fn view(&self) -> TensorView<'_, S, T> {
        TensorView::from_parts(self.data.slice(), self.offset, self.shape, &self.strides)
            .expect("a Var's layout was checked when it was made")
    }

    /// Whether the view is the whole buffer, row-major from offset 0: then its gradient
    /// can be written straight into the node's buffer.
    #[inline]
    pub(crate) fn is_whole_buffer(&self) -> bool {
        self.offset == 0
            && self.data.slice().len() == self.shape.num_elements()
            && layout::is_contiguous(&self.shape.dims(), &self.strides)
    }

    pub(crate) fn is_traced(&self) -> bool {
        self.id.is_some()
    }
}
