//! The [`Tape`]: the list of recorded operations of one forward pass, and the reverse walk
//! over it.
//!
//! Each node is one traced value's buffer: its length, the parameter it is bound to (for a
//! leaf made by [`Tape::param`]) and the vector–Jacobian product of the op that made it.
//! Nodes are pushed in the order the forward computes them, so every input of a node has a
//! smaller index: the reverse walk is a loop from the loss down to node 0, with no sort.
//! Gradients are flat buffers laid out like the node's value (contiguous, row-major); a
//! view of a traced value (`.t()`, `.permute(…)`) shares its node and reaches its gradient
//! through the same strides as its value.

use core::cell::RefCell;

use super::grads::Gradients;
use super::handle::Handle;
use super::param::ParamId;
use crate::element::Float;
use crate::shape::Shape;
use crate::tensor::layout;

/// The vector–Jacobian product of one op: given the gradient of its output (laid out like
/// the output), add the gradients of its inputs into the sink.
pub(crate) type Backward<T> = Box<dyn Fn(&[T], &mut GradSink<'_, T>)>;

struct Node<T> {
    len: usize,
    param: Option<ParamId>,
    backward: Option<Backward<T>>,
}

/// The record of one forward pass: the operations on traced values, in order.
///
/// A tape is a value the caller creates and holds; there is no hidden global tape. Traced
/// values ([`Var`](super::Var)) borrow it, and ops record into it through a shared
/// reference (interior mutability), so a forward reads like untraced code. Drop it (or let
/// it go out of scope) when the step is done; a new step starts a new tape.
///
/// Every input of one op must come from the same tape: an op given `Var`s of two tapes
/// (`ta.param(&w) * tb.param(&v)`) panics, in every build, with a message saying that its
/// inputs are traced on two different tapes (each `Var` holds its node's index on its
/// own tape, so recording it on another would send its gradient to the wrong value). Two
/// tapes in one scope borrow with the same lifetime, so the type checker cannot refuse it.
///
/// ```
/// use shapecheck::autodiff::{Param, Tape};
/// use shapecheck::prelude::*;
/// let w = Param::new(Tensor::<(D<2>,)>::from_vec(vec![1.0, -2.0]).unwrap());
/// let tape = Tape::new();
/// let loss = tape.param(&w).powi(2).sum_all(); // Σ w²
/// let grads = loss.backward();
/// assert_eq!(grads.of(&w).unwrap().to_vec(), vec![2.0, -4.0]); // 2w
/// assert_eq!(tape.len(), 3); // the leaf, powi, sum_all
/// ```
///
/// A tape made by [`Tape::inference`] reads every parameter as a constant (shared with the
/// parameter, never copied): a forward written once on `Var`s then records nothing and
/// costs nothing beyond its values, which is how models run inference.
pub struct Tape<T: Float = f32> {
    nodes: RefCell<Vec<Node<T>>>,
    inference: bool,
}

impl<T: Float> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> core::fmt::Debug for Tape<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Tape({} nodes)", self.len())
    }
}

impl<T: Float> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            nodes: RefCell::new(Vec::new()),
            inference: false,
        }
    }

    /// An empty tape for inference: [`param`](Tape::param) reads every parameter, frozen
    /// or not, as a constant, so a forward on it records nothing (PyTorch's `no_grad`).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let w = Param::new(Tensor::<(D<2>,)>::ones());
    /// let tape = Tape::inference();
    /// let y = tape.param(&w).powi(2).sum_all();
    /// assert!(!y.is_traced());
    /// assert!(tape.is_empty());
    /// ```
    pub fn inference() -> Self {
        Tape {
            nodes: RefCell::new(Vec::new()),
            inference: true,
        }
    }

    /// Whether it is an inference tape ([`Tape::inference`]).
    pub fn is_inference(&self) -> bool {
        self.inference
    }

    /// The number of recorded nodes (leaves and ops).
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a node and returns its index.
    pub(crate) fn push(
        &self,
        len: usize,
        param: Option<ParamId>,
        backward: Option<Backward<T>>,
    ) -> usize {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node {
            len,
            param,
            backward,
        });
        nodes.len() - 1
    }

    /// The reverse walk from node `root` (a scalar) with seed gradient 1; the gradients that
    /// reach parameter leaves are added into `grads`.
    pub(crate) fn backward_from(&self, root: usize, grads: &mut Gradients<T>) {
        let nodes = self.nodes.borrow();
        debug_assert_eq!(nodes[root].len, 1, "the root of backward is a scalar");
        let mut bufs: Vec<Option<Vec<T>>> = (0..=root).map(|_| None).collect();
        bufs[root] = Some(vec![T::ONE]);
        for i in (0..=root).rev() {
            // Taking the buffer frees it as soon as its node has passed it on.
            let Some(g) = bufs[i].take() else { continue };
            let node = &nodes[i];
            let g = match (node.param, &node.backward) {
                // A parameter's leaf passes nothing on: its buffer moves into `grads`.
                (Some(id), None) => {
                    grads.accumulate(id, g);
                    continue;
                }
                (Some(id), Some(_)) => {
                    grads.accumulate(id, g.clone());
                    g
                }
                (None, _) => g,
            };
            if let Some(backward) = &node.backward {
                let mut sink = GradSink {
                    bufs: &mut bufs[..i],
                    nodes: &nodes[..i],
                };
                backward(&g, &mut sink);
            }
            // Done with: the next step's ops can reuse it.
            crate::pool::give(g);
        }
    }
}

/// Where a backward closure adds the gradients of its inputs: the gradient buffers of the
/// nodes recorded before it, allocated (zeroed) on first use.
pub(crate) struct GradSink<'a, T> {
    bufs: &'a mut [Option<Vec<T>>],
    nodes: &'a [Node<T>],
}

impl<T: Float> GradSink<'_, T> {
    /// The gradient buffer of node `id`, laid out like its value.
    pub(crate) fn buf(&mut self, id: usize) -> &mut [T] {
        let len = self.nodes[id].len;
        self.bufs[id].get_or_insert_with(|| crate::pool::zeroed(len))
    }

    /// The gradient buffer of node `id` if it has one yet.
    pub(crate) fn existing(&mut self, id: usize) -> Option<&mut [T]> {
        self.bufs[id].as_deref_mut()
    }

    /// Makes `g` the gradient buffer of node `id`, which has none yet (`g` laid out like its
    /// value): a gradient written whole, with no zeroed buffer before it.
    pub(crate) fn insert(&mut self, id: usize, g: Vec<T>) {
        debug_assert!(self.bufs[id].is_none() && g.len() == self.nodes[id].len);
        self.bufs[id] = Some(g);
    }

    /// Adds `g` (laid out contiguously in `x`'s own shape) into the gradient of the traced
    /// value `x`, through `x`'s offset and strides. Nothing for a constant.
    pub(crate) fn add<S: Shape>(&mut self, x: &Handle<S, T>, g: &[T]) {
        let Some(id) = x.id else { return };
        debug_assert_eq!(g.len(), x.shape.num_elements());
        let full = x.is_whole_buffer();
        let buf = self.buf(id);
        if full {
            // Each element on its own: split over threads, the same sums for any count.
            crate::parallel::for_each_row_block(buf, 1, |start, block| {
                let g = &g[start..start + block.len()];
                block.iter_mut().zip(g).for_each(|(b, &v)| *b += v);
            });
        } else {
            let mut k = 0;
            layout::for_each_offset(x.offset, &x.shape.dims(), &x.strides, |o| {
                buf[o] += g[k];
                k += 1;
            });
        }
    }

    /// [`add`](Self::add) for a gradient the caller owns: when `x` is its node's whole
    /// buffer and that node has no gradient yet, `g` becomes the buffer (no zeroed copy
    /// beside it); otherwise it is added as by `add`.
    pub(crate) fn add_owned<S: Shape>(&mut self, x: &Handle<S, T>, g: Vec<T>) {
        let Some(id) = x.id else { return };
        if x.is_whole_buffer() && self.bufs[id].is_none() {
            debug_assert_eq!(g.len(), self.nodes[id].len);
            self.bufs[id] = Some(g);
        } else {
            self.add(x, &g);
        }
    }

    /// Adds `f(k, o)` to element `o` of `x`'s gradient buffer for every element `k` of `x`
    /// in row-major order, `o` being its offset through `x`'s strides: the gradient of an
    /// element-wise op, whose `k`-th output element reads element `k` of `x`. When `x` is
    /// its node's whole buffer (`o = k`) the elements are split over threads, each computed
    /// on its own, so the result is the same for any count. Nothing for a constant.
    pub(crate) fn add_map<S: Shape>(
        &mut self,
        x: &Handle<S, T>,
        f: impl Fn(usize, usize) -> T + Sync,
    ) {
        let Some(id) = x.id else { return };
        if x.is_whole_buffer() {
            let buf = self.buf(id);
            crate::parallel::for_each_row_block(buf, 1, |start, block| {
                for (i, b) in block.iter_mut().enumerate() {
                    *b += f(start + i, start + i);
                }
            });
        } else {
            let dims = x.shape.dims();
            self.add_with(x, &dims, &x.strides, f);
        }
    }

    /// Adds `f(k, o)` to element `o` of `x`'s gradient buffer, for every element `k` (in
    /// row-major order) of a tensor of dims `dims` read from `x` with offset `x.offset` and
    /// the strides `strides` (zero on broadcast axes, so those terms sum). Nothing for a
    /// constant.
    pub(crate) fn add_with<S: Shape>(
        &mut self,
        x: &Handle<S, T>,
        dims: &[usize],
        strides: &[usize],
        mut f: impl FnMut(usize, usize) -> T,
    ) {
        let Some(id) = x.id else { return };
        let buf = self.buf(id);
        let mut k = 0;
        layout::for_each_offset(x.offset, dims, strides, |o| {
            buf[o] += f(k, o);
            k += 1;
        });
    }
}

/// A shape `backward()` accepts: a scalar, `()`. The loss of a training step is one
/// number; reduce a tensor to it first.
///
/// ```
/// use shapecheck::autodiff::{Param, Tape};
/// use shapecheck::prelude::*;
/// let w = Param::new(Tensor::<(D<2>, D<3>)>::ones());
/// let tape = Tape::new();
/// let _ = tape.param(&w).mean_all().backward();
/// ```
///
/// ```compile_fail
/// use shapecheck::autodiff::{Param, Tape};
/// use shapecheck::prelude::*;
/// let w = Param::new(Tensor::<(D<2>, D<3>)>::ones());
/// let tape = Tape::new();
/// let _ = tape.param(&w).backward(); // not a scalar
/// ```
#[diagnostic::on_unimplemented(
    message = "`backward()` needs a scalar loss, and `{Self}` is not a scalar",
    label = "this is a `{Self}`, not a scalar `()`",
    note = "reduce it first, e.g. `.mean_all()` or `.sum_all()`, or use a loss such as `.mse(&target)`"
)]
pub trait ScalarLoss: Shape {}

impl ScalarLoss for () {}
