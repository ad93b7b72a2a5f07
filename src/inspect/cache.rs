//! Which activations to record during a forward ([`Selection`]), and what was recorded
//! ([`ActivationCache`]), typed by the model's dims.
//!
//! The sites take TransformerLens's names, as typed values instead of strings
//! (`blocks.{L}.hook_resid_pre` is `(Site::ResidPre, L)`): the residual stream entering a
//! block, after its attention (and that sublayer's norm), and leaving it, packed
//! `(Tokens, Hidden)`; each sentence's queries and keys `(Heads, Seq, HeadDim)` and
//! attention pattern `(Heads, Seq, Seq)`; the FFN's activations after the nonlinearity
//! `(Tokens, Ffn)`. Only the sites asked
//! for are computed and kept; an empty selection records nothing. The same types serve
//! MiniLM (`MiniLm::run_with_cache`, `f32`) and the decoder (`Decoder::run_with_cache`,
//! its own float; its rows are the `B × S` positions of the batch, row-major), each typed
//! by the model's dims through [`CacheDims`].
//!
//! ```
//! use shapecheck::inspect::{Selection, Site};
//! let sel = Selection::new()
//!     .with(Site::ResidPost, 0..6)
//!     .with(Site::Attention, [2]);
//! assert!(sel.contains(Site::Attention, 2) && !sel.contains(Site::Attention, 3));
//! assert!(sel.contains(Site::ResidPost, 5) && !sel.contains(Site::Ffn, 0));
//! assert!(Selection::new().is_empty());
//! ```

use core::ops::Range;

use crate::dim::{Dim, Times};
use crate::element::Float;
use crate::tensor::Tensor;

/// A place in a block's forward whose activation can be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Site {
    /// The residual stream entering the block (`hook_resid_pre`).
    ResidPre,
    /// After the attention sublayer, before the FFN (`hook_resid_mid`; in a post-norm
    /// model such as BERT, after the attention's LayerNorm).
    ResidMid,
    /// The residual stream leaving the block (`hook_resid_post`).
    ResidPost,
    /// The queries, split into heads (`attn.hook_q`).
    Queries,
    /// The keys, split into heads (`attn.hook_k`).
    Keys,
    /// The attention pattern: softmax of the scaled, masked scores (`attn.hook_pattern`).
    Attention,
    /// The FFN's hidden activations after the nonlinearity (`mlp.hook_post`).
    Ffn,
    /// Every head's output, merged, before the output projection (`attn.hook_z`;
    /// recorded by the LLaMA-family decoder).
    Z,
}

const SITES: usize = 8;

impl Site {
    /// Every site, in the order of the forward.
    pub const ALL: [Site; SITES] = [
        Site::ResidPre,
        Site::Queries,
        Site::Keys,
        Site::Attention,
        Site::Z,
        Site::ResidMid,
        Site::Ffn,
        Site::ResidPost,
    ];
}

/// Which sites of which layers to record: a set of `(Site, layer)` pairs (layers below 64).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    layers: [u64; SITES],
}

impl Selection {
    /// Records nothing.
    pub fn new() -> Self {
        Selection::default()
    }

    /// Adds `site` at each of `layers` (a layer of 64 or more is ignored: no model here has
    /// that many, and the forward records only layers it has).
    pub fn with(mut self, site: Site, layers: impl IntoIterator<Item = usize>) -> Self {
        for l in layers.into_iter().filter(|&l| l < 64) {
            self.layers[site as usize] |= 1 << l;
        }
        self
    }

    /// Whether `site` at `layer` is selected.
    pub fn contains(&self, site: Site, layer: usize) -> bool {
        layer < 64 && self.layers[site as usize] & (1 << layer) != 0
    }

    /// Whether any of `sites` at `layer` is selected.
    pub fn any(&self, sites: &[Site], layer: usize) -> bool {
        sites.iter().any(|&s| self.contains(s, layer))
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.layers.iter().all(|&m| m == 0)
    }
}

/// The dims a model's cache is typed by (implemented by each model type). The residual
/// stream is packed: one `(Tokens, Hidden)` matrix, the sentences' rows one after another.
pub trait CacheDims {
    /// Every token of a packed batch.
    type Tokens: Dim;
    /// The tokens of one sentence.
    type Seq: Dim;
    /// The width of the residual stream.
    type Hidden: Dim;
    /// The attention heads.
    type Heads: Dim;
    /// The width of a head.
    type HeadDim: Dim;
    /// The FFN's inner width.
    type Ffn: Dim;
    /// The element type of the states (`f32` for MiniLM; the decoder's own).
    type Elem: Float;
}

/// A residual-stream state `(Tokens, Hidden)` of model `M`, packed.
pub type Resid<M> =
    Tensor<(<M as CacheDims>::Tokens, <M as CacheDims>::Hidden), <M as CacheDims>::Elem>;
/// One sentence's queries or keys `(Heads, Seq, HeadDim)` of model `M`.
pub type HeadStates<M> = Tensor<
    (
        <M as CacheDims>::Heads,
        <M as CacheDims>::Seq,
        <M as CacheDims>::HeadDim,
    ),
    <M as CacheDims>::Elem,
>;
/// One sentence's attention pattern `(Heads, Seq, Seq)` of model `M` (query rows, key
/// columns).
pub type Pattern<M> = Tensor<
    (
        <M as CacheDims>::Heads,
        <M as CacheDims>::Seq,
        <M as CacheDims>::Seq,
    ),
    <M as CacheDims>::Elem,
>;
/// The heads' outputs `(Tokens, Heads × HeadDim)` of model `M` before the output
/// projection, packed: head `h` is the columns `h·HeadDim .. (h + 1)·HeadDim`.
pub type ZStates<M> = Tensor<
    (
        <M as CacheDims>::Tokens,
        Times<<M as CacheDims>::Heads, <M as CacheDims>::HeadDim>,
    ),
    <M as CacheDims>::Elem,
>;
/// FFN activations `(Tokens, Ffn)` of model `M`, packed.
pub type FfnStates<M> =
    Tensor<(<M as CacheDims>::Tokens, <M as CacheDims>::Ffn), <M as CacheDims>::Elem>;

/// One layer's recorded activations.
struct LayerCache<M: CacheDims> {
    resid_pre: Option<Resid<M>>,
    resid_mid: Option<Resid<M>>,
    resid_post: Option<Resid<M>>,
    queries: Vec<HeadStates<M>>,
    keys: Vec<HeadStates<M>>,
    attention: Vec<Pattern<M>>,
    ffn: Option<FfnStates<M>>,
    z: Option<ZStates<M>>,
}

impl<M: CacheDims> Default for LayerCache<M> {
    fn default() -> Self {
        LayerCache {
            resid_pre: None,
            resid_mid: None,
            resid_post: None,
            queries: Vec::new(),
            keys: Vec::new(),
            attention: Vec::new(),
            ffn: None,
            z: None,
        }
    }
}

/// The activations a forward recorded, per layer, typed by the model's dims: each getter
/// returns `None` for a site or layer that was not selected (or that the model does not
/// have). Packed states hold every sentence's rows; [`rows`](Self::rows) says whose.
pub struct ActivationCache<M: CacheDims> {
    layers: Vec<LayerCache<M>>,
    rows: Vec<Range<usize>>,
    /// The number of heads the recorded `z` holds (a runtime `Heads` is not in its type).
    heads: usize,
}

impl<M: CacheDims> ActivationCache<M> {
    /// An empty cache for a model of `layers` layers over sentences at `rows`.
    pub(crate) fn new(layers: usize, rows: Vec<Range<usize>>) -> Self {
        ActivationCache {
            layers: (0..layers).map(|_| LayerCache::default()).collect(),
            rows,
            heads: 0,
        }
    }

    /// The number of layers of the model that filled it.
    pub fn layers(&self) -> usize {
        self.layers.len()
    }

    /// The rows of sentence `i` in the packed states, or `None` past the last sentence.
    pub fn rows(&self, i: usize) -> Option<Range<usize>> {
        self.rows.get(i).cloned()
    }

    /// The residual stream entering layer `l`.
    pub fn resid_pre(&self, l: usize) -> Option<&Resid<M>> {
        self.layers.get(l)?.resid_pre.as_ref()
    }

    /// The residual stream after layer `l`'s attention sublayer.
    pub fn resid_mid(&self, l: usize) -> Option<&Resid<M>> {
        self.layers.get(l)?.resid_mid.as_ref()
    }

    /// The residual stream leaving layer `l`.
    pub fn resid_post(&self, l: usize) -> Option<&Resid<M>> {
        self.layers.get(l)?.resid_post.as_ref()
    }

    /// Layer `l`'s queries for sentence `i`, split into heads.
    pub fn queries(&self, l: usize, i: usize) -> Option<&HeadStates<M>> {
        self.layers.get(l)?.queries.get(i)
    }

    /// Layer `l`'s keys for sentence `i`, split into heads.
    pub fn keys(&self, l: usize, i: usize) -> Option<&HeadStates<M>> {
        self.layers.get(l)?.keys.get(i)
    }

    /// Layer `l`'s attention pattern over sentence `i`: each query row sums to 1.
    pub fn attention(&self, l: usize, i: usize) -> Option<&Pattern<M>> {
        self.layers.get(l)?.attention.get(i)
    }

    /// Layer `l`'s FFN activations after the nonlinearity.
    pub fn ffn(&self, l: usize) -> Option<&FfnStates<M>> {
        self.layers.get(l)?.ffn.as_ref()
    }

    /// Layer `l`'s heads' outputs before the output projection (`hook_z`).
    pub fn z(&self, l: usize) -> Option<&ZStates<M>> {
        self.layers.get(l)?.z.as_ref()
    }

    /// The number of heads of the recorded [`z`](Self::z) (0 when none was recorded).
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// Records the heads' outputs, `heads` of them.
    pub(crate) fn put_z(&mut self, l: usize, z: ZStates<M>, heads: usize) {
        self.layers[l].z = Some(z);
        self.heads = heads;
    }

    /// Records a residual-stream state at `site` (one of the three `Resid…` sites).
    pub(crate) fn put_resid(&mut self, site: Site, l: usize, x: Resid<M>) {
        let layer = &mut self.layers[l];
        match site {
            Site::ResidPre => layer.resid_pre = Some(x),
            Site::ResidMid => layer.resid_mid = Some(x),
            _ => layer.resid_post = Some(x),
        }
    }

    /// Records one sentence's queries, keys or pattern (the next sentence's, in order).
    pub(crate) fn push_heads(
        &mut self,
        l: usize,
        q: Option<HeadStates<M>>,
        k: Option<HeadStates<M>>,
        p: Option<Pattern<M>>,
    ) {
        let layer = &mut self.layers[l];
        layer.queries.extend(q);
        layer.keys.extend(k);
        layer.attention.extend(p);
    }

    /// Records FFN activations.
    pub(crate) fn put_ffn(&mut self, l: usize, h: FfnStates<M>) {
        self.layers[l].ffn = Some(h);
    }
}
