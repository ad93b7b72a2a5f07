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

/// An op's fresh value, whose buffer goes back to the thread's buffer pool
/// (`crate::pool`) when the last reference to it is dropped (with its tape, for a traced
/// value), for the next step's ops to reuse.
pub(crate) struct Pooled<S: Shape, T: Float>(Option<Tensor<S, T>>);

impl<S: Shape, T: Float> Pooled<S, T> {
    pub(crate) fn new(t: Tensor<S, T>) -> Self {
        Pooled(Some(t))
    }
}

impl<S: Shape, T: Float> Drop for Pooled<S, T> {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            crate::pool::give(t.into_vec());
        }
    }
}

impl<S: Shape, T: Float> Buffer<T> for Pooled<S, T> {
    #[inline]
    fn slice(&self) -> &[T] {
        self.0.as_ref().map_or(&[], Tensor::as_slice)
    }

    fn into_vec(self: Arc<Self>) -> Vec<T> {
        match Arc::try_unwrap(self) {
            Ok(mut own) => own.0.take().map_or_else(Vec::new, Tensor::into_vec),
            Err(shared) => shared.slice().to_vec(),
        }
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
    pub(crate) fn whole<B: Buffer<T>>(id: Option<usize>, t: Arc<B>, shape: S) -> Self {
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
