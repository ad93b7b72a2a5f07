//! The decoder's forward with an activation cache and interventions
//! ([`inspect`](crate::inspect)): [`Decoder::run_with_cache`] and
//! [`Decoder::run_with_hooks`] run the one forward of `block.rs` (the code behind
//! [`Decoder::logits`] and the training forward) with an inspector at its hook points, so
//! the states that flow on are those of `logits`, bit for bit, wherever nothing is changed.
//!
//! The residual stream and the FFN activations are recorded `(Tokens, …)`: the `B × S`
//! positions of the batch row-major, sequence `b`'s rows at `b·S..(b + 1)·S`
//! ([`ActivationCache::rows`]); queries, keys (after RoPE, as the scores see them) and
//! attention patterns per sequence, `(Heads, Seq, …)`.
//!
//! ```
//! use shapecheck::inspect::{HeadAblation, Intervention, Selection, Site};
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
//! use shapecheck::prelude::*;
//!
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
//! dim!(pub Batch; pub Len);
//! let model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>::init(DecoderConfig::default(), 0);
//! let (shape, ids) = ((Batch::new(2), Len::new(4)), [1, 2, 3, 4, 5, 6, 7, 8]);
//! let sel = Selection::new().with(Site::ResidPost, 0..2).with(Site::Attention, [1]);
//! let (logits, cache) = model.run_with_cache(shape, &ids, &sel, &[]).unwrap();
//! assert_eq!(logits.as_slice(), model.logits(shape, &ids).unwrap().as_slice());
//! let pattern = cache.attention(1, 0).unwrap(); // layer 1, sequence 0: (Heads, Seq, Seq)
//! assert_eq!(pattern[[0, 0, 1]], 0.0); // causal: position 0 does not see position 1
//! assert_eq!(cache.resid_post(1).unwrap().dims()[..], [8, 16]); // (Tokens, DModel)
//!
//! // Steer from position 2 on at layer 1, and zero head 1 of layer 0.
//! let steer = Intervention::add(1, Tensor::<(DModel,), f64>::ones(), 0.5).from_position(2);
//! let ablate = HeadAblation::<Heads>::zero(0, 1);
//! let (changed, _) = model
//!     .run_with_hooks(shape, &ids, &Selection::new(), &[steer], &[ablate])
//!     .unwrap();
//! assert_ne!(changed.as_slice(), logits.as_slice());
//! // A head the model does not have is an error, not a panic.
//! let e = model
//!     .run_with_hooks(shape, &ids, &Selection::new(), &[], &[HeadAblation::<Heads>::zero(0, 2)])
//!     .map(|_| ())
//!     .unwrap_err();
//! assert_eq!(e.to_string(), "head 2 is out of range: there are 2");
//! ```
//!
//! A steering vector must have the model's width, by type:
//!
//! ```compile_fail
//! use shapecheck::inspect::{Intervention, Selection};
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
//! use shapecheck::prelude::*;
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
//! dim!(pub Batch; pub Len);
//! let model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>::init(DecoderConfig::default(), 0);
//! let wrong = Intervention::add(1, Tensor::<(Ffn,), f64>::ones(), 0.5); // not (DModel,)
//! let shape = (Batch::new(1), Len::new(2));
//! let _ = model.run_with_cache(shape, &[1, 2], &Selection::new(), &[wrong]);
//! ```

use super::{Decoder, DecoderDims};
use core::marker::PhantomData;
use core::ops::Range;

use crate::autodiff::{Tape, Var};
use crate::dim::{Dim, Dyn, Times};
use crate::element::Float;
use crate::inspect::cache::CacheDims;
use crate::inspect::Hooks;
use crate::inspect::{
    ActivationCache, HeadAblation, HeadPatch, InspectError, Intervention, Selection, Site,
};
use crate::nn::flow::Traced;
use crate::ops::attention::{try_attention_weights, AttentionMask};
use crate::shape::SameDim;
use crate::tensor::{Tensor, TensorView};

crate::dim!(
    /// Every position of a batch run through [`Decoder::run_with_cache`], row-major
    /// (runtime): the rows of the cached residual stream and FFN activations.
    pub Tokens;
    /// The positions of one sequence (runtime): the cached queries', keys' and attention
    /// patterns' sequence dim.
    pub Seq
);

impl<D: DecoderDims, T: Float> CacheDims for Decoder<D, T> {
    type Tokens = Tokens;
    type Seq = Seq;
    type Hidden = D::Model;
    type Heads = D::Heads;
    type HeadDim = D::HeadDim;
    type Ffn = D::Ffn;
    type Elem = T;
}

/// Queries or keys of a batch, `(B, Heads, S, HeadDim)`, as the block has them.
type BatchHeads<'v, M, B, S> = TensorView<
    'v,
    (B, <M as CacheDims>::Heads, S, <M as CacheDims>::HeadDim),
    <M as CacheDims>::Elem,
>;
/// One sequence's of them, `(Heads, Seq, HeadDim)`, as the cache holds them.
type SequenceHeads<'v, M> = TensorView<
    'v,
    (<M as CacheDims>::Heads, Seq, <M as CacheDims>::HeadDim),
    <M as CacheDims>::Elem,
>;
/// What an inspected run returns: the logits `(B, S, Vocab)` and the cache.
type Inspected<B, S, Vocab, T, M> = InspectedRows<(B, S, Vocab), T, M>;
/// What an inspected run returns: its logits of shape `L` and the cache.
type InspectedRows<L, T, M> = Result<(Tensor<L, T>, ActivationCache<M>), InspectError>;

/// Sites inside a block that need its queries and keys, per sequence.
const HEADS: [Site; 3] = [Site::Queries, Site::Keys, Site::Attention];

/// What sits at the hook points of an inspected forward: records the selected sites and
/// applies the interventions and ablations of the block it is in. It reads values and
/// puts constants back, so it serves the inference path (every parameter a constant),
/// where nothing is traced.
pub(super) struct Inspector<'a, M: CacheDims, B, S> {
    selection: &'a Selection,
    interventions: &'a [Intervention<M::Hidden, M::Elem>],
    ablations: &'a [HeadAblation<M::Heads>],
    patches: &'a [HeadPatch<M::Heads, M::Elem>],
    cache: ActivationCache<M>,
    /// The position of the run's first row in its sequences (the tokens a KV cache
    /// already holds): interventions count positions from the sequences' starts.
    offset: usize,
    layer: usize,
    /// The first error met (a hook cannot return one; the run does).
    error: Option<InspectError>,
    /// The number of query heads (the width of the merged heads is theirs × head dim).
    heads: usize,
    /// Each sequence's rows in the run's `B × S` rows, `b·S..b·S + len` (a sequence
    /// shorter than `S` is padded on the right: causal attention never lets its
    /// positions see the padding after them).
    padded: Vec<Range<usize>>,
    /// Whether some sequence is shorter than `S` (else the packed rows are the run's).
    ragged: bool,
    /// The batch and sequence dims of the run.
    dims: PhantomData<fn() -> (B, S)>,
}

/// What an inspected run does besides recording: interventions on the residual stream,
/// head ablations and head patches.
pub(super) type Changes<'a, M> = (
    &'a [Intervention<<M as CacheDims>::Hidden, <M as CacheDims>::Elem>],
    &'a [HeadAblation<<M as CacheDims>::Heads>],
    &'a [HeadPatch<<M as CacheDims>::Heads, <M as CacheDims>::Elem>],
);

impl<'a, M: CacheDims<Tokens = Tokens, Seq = Seq>, B: Dim, S: Dim> Inspector<'a, M, B, S> {
    /// An inspector of a run of sequences of `lens` positions each, padded on the right
    /// to `s`, after `offset` cached ones, of a model of `layers` blocks and `heads`
    /// heads. The cache holds the sequences' own positions only, packed.
    pub(super) fn new(
        selection: &'a Selection,
        (interventions, ablations, patches): Changes<'a, M>,
        (layers, heads): (usize, usize),
        (lens, s): (&[usize], usize),
        offset: usize,
    ) -> Self {
        let padded = lens.iter().enumerate().map(|(b, &n)| b * s..b * s + n);
        let mut start = 0;
        let packed = lens.iter().map(|&n| {
            start += n;
            start - n..start
        });
        Inspector {
            selection,
            interventions,
            ablations,
            patches,
            cache: ActivationCache::new(layers, packed.collect()),
            offset,
            layer: 0,
            error: None,
            heads,
            padded: padded.collect(),
            ragged: lens.iter().any(|&n| n != s),
            dims: PhantomData,
        }
    }

    /// The number of the sequences' own positions.
    fn tokens(&self) -> Tokens {
        Tokens::new(self.padded.iter().map(Range::len).sum())
    }

    /// The sequences' packed rows, each `(0..len)` of them in the packed rows.
    fn sequences(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        (0..self.padded.len()).filter_map(|b| self.cache.rows(b))
    }

    /// The sequences' own rows of `data`, rows of `width` of the run's `B × S` positions,
    /// packed (the padding left out).
    pub(super) fn gather(&self, data: Vec<M::Elem>, width: usize) -> Vec<M::Elem> {
        if !self.ragged {
            return data;
        }
        let rows = self.padded.iter();
        rows.flat_map(|r| &data[r.start * width..r.end * width])
            .copied()
            .collect()
    }

    /// The packed rows of `packed` put back at the sequences' own rows of `data` (the run's
    /// `B × S` rows of `width`).
    fn scatter(&self, packed: &[M::Elem], mut data: Vec<M::Elem>, width: usize) -> Vec<M::Elem> {
        if !self.ragged {
            return packed.to_vec();
        }
        for (r, p) in self.padded.iter().zip(self.sequences()) {
            data[r.start * width..r.end * width]
                .copy_from_slice(&packed[p.start * width..p.end * width]);
        }
        data
    }

    /// The cache, or the first error met.
    pub(super) fn finish(self) -> Result<ActivationCache<M>, InspectError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.cache),
        }
    }

    fn keep(&self, site: Site) -> bool {
        self.layer < self.cache.layers() && self.selection.contains(site, self.layer)
    }

    fn fail(&mut self, e: impl Into<InspectError>) {
        self.error.get_or_insert(e.into());
    }

    /// Sequence `b`'s `(Heads, Seq, HeadDim)` slice of `x: (B, Heads, S, HeadDim)`: its
    /// first `len` positions.
    fn sequence<'v>(
        x: &BatchHeads<'v, M, B, S>,
        (b, len): (usize, usize),
    ) -> Result<SequenceHeads<'v, M>, InspectError> {
        let (shape, st) = (x.shape(), x.strides());
        Ok(TensorView::from_parts(
            x.as_base_slice(),
            x.offset() + b * st[0],
            (shape.1, Seq::new(len), shape.3),
            &[st[1], st[2], st[3]],
        )?)
    }
}

impl<'t, M, B, S> Hooks<Traced<'t>, M::Elem> for Inspector<'_, M, B, S>
where
    M: CacheDims<Tokens = Tokens, Seq = Seq>,
    B: Dim,
    S: Dim,
{
    type Stream = (B, S, M::Hidden);
    type Merged = (B, S, Times<M::Heads, M::HeadDim>);
    type Heads = (B, M::Heads, S, M::HeadDim);
    type Ffn = (B, S, M::Ffn);

    fn block(&mut self, layer: usize) {
        self.layer = layer;
    }

    fn resid(
        &mut self,
        site: Site,
        x: Var<'t, (B, S, M::Hidden), M::Elem>,
    ) -> Var<'t, (B, S, M::Hidden), M::Elem> {
        let layer = self.layer;
        let here = site == Site::ResidPre && self.interventions.iter().any(|i| i.layer() == layer);
        if !here && !self.keep(site) {
            return x;
        }
        let (shape, width) = (x.shape(), x.shape().2.size());
        let packed = self.gather(x.value().to_vec(), width);
        let mut flat = match Tensor::from_vec_with((self.tokens(), shape.2), packed) {
            Ok(t) => t,
            Err(e) => {
                self.fail(e);
                return x;
            }
        };
        for i in self.interventions.iter().filter(|i| i.layer() == layer) {
            if let Err(e) = i.apply_at(&mut flat, self.sequences(), self.offset) {
                self.fail(e);
            }
        }
        let out = if here {
            let data = self.scatter(flat.as_slice(), x.value().to_vec(), width);
            match Tensor::from_vec_with(shape, data) {
                Ok(t) => x.tape().constant(t),
                Err(e) => {
                    self.fail(e);
                    x
                }
            }
        } else {
            x
        };
        if self.keep(site) {
            self.cache.put_resid(site, layer, flat);
        }
        out
    }

    fn wants_heads(&self) -> bool {
        self.layer < self.cache.layers() && self.selection.any(&HEADS, self.layer)
    }

    fn heads(
        &mut self,
        q: &Var<'t, (B, M::Heads, S, M::HeadDim), M::Elem>,
        k: &Var<'t, (B, M::Heads, S, M::HeadDim), M::Elem>,
    ) {
        if self.layer >= self.cache.layers() || !self.selection.any(&HEADS, self.layer) {
            return;
        }
        let (qv, kv) = (q.value(), k.value());
        for b in 0..q.shape().0.size() {
            let at = (b, self.padded[b].len());
            let one = Self::sequence(&qv, at).and_then(|qb| Ok((qb, Self::sequence(&kv, at)?)));
            let (qb, kb) = match one {
                Ok(p) => p,
                Err(e) => return self.fail(e),
            };
            let pattern = if self.keep(Site::Attention) {
                match try_attention_weights(&qb, &kb, &AttentionMask::causal(0)) {
                    Ok(p) => Some(p),
                    Err(e) => return self.fail(e),
                }
            } else {
                None
            };
            let (kq, kk) = (self.keep(Site::Queries), self.keep(Site::Keys));
            self.cache.push_heads(
                self.layer,
                kq.then(|| qb.to_tensor()),
                kk.then(|| kb.to_tensor()),
                pattern,
            );
        }
    }

    fn z(
        &mut self,
        z: Var<'t, (B, S, Times<M::Heads, M::HeadDim>), M::Elem>,
    ) -> Var<'t, (B, S, Times<M::Heads, M::HeadDim>), M::Elem> {
        let layer = self.layer;
        let ablated = self.ablations.iter().any(|a| a.layer() == layer);
        let patched = self.patches.iter().any(|p| p.site().layer() == layer);
        let keep = self.keep(Site::Z);
        if !ablated && !patched && !keep {
            return z;
        }
        let (shape, width) = (z.shape(), z.shape().2.size());
        let head_dim = width / self.heads.max(1);
        // The sequences' own rows: a mean ablation averages over them, not the padding.
        let mut data = self.gather(z.value().to_vec(), width);
        for a in self.ablations.iter().filter(|a| a.layer() == layer) {
            a.apply(&mut data, width, head_dim);
        }
        for p in self.patches.iter().filter(|p| p.site().layer() == layer) {
            if let Err(e) = p.apply(&mut data, width, self.heads, self.sequences()) {
                self.fail(e);
            }
        }
        if keep {
            match Tensor::from_vec_with((self.tokens(), shape.2), data.clone()) {
                Ok(t) => self.cache.put_z(layer, t, self.heads),
                Err(e) => self.fail(e),
            }
        }
        if !ablated && !patched {
            return z;
        }
        match Tensor::from_vec_with(shape, self.scatter(&data, z.value().to_vec(), width)) {
            Ok(t) => z.tape().constant(t),
            Err(e) => {
                self.fail(e);
                z
            }
        }
    }

    fn ffn(&mut self, act: &Var<'t, (B, S, M::Ffn), M::Elem>) {
        if !self.keep(Site::Ffn) {
            return;
        }
        let shape = act.shape();
        let packed = self.gather(act.value().to_vec(), shape.2.size());
        match Tensor::from_vec_with((self.tokens(), shape.2), packed) {
            Ok(t) => self.cache.put_ffn(self.layer, t),
            Err(e) => self.fail(e),
        }
    }
}

impl<D: DecoderDims, T: Float> Decoder<D, T> {
    /// [`logits`](Self::logits) that records the `selection`'s sites and applies the
    /// `interventions` (each to the residual stream entering its block; the block count
    /// means the stream leaving the last block, before the final norm). Returns the
    /// logits and the cache.
    ///
    /// An intervention past the block count is [`InspectError::OutOfRange`]; the errors of
    /// [`logits`](Self::logits) are [`InspectError::Shape`]. See the
    /// [module docs](self) for an example.
    pub fn run_with_cache<B, S>(
        &self,
        shape: (B, S),
        ids: &[u32],
        selection: &Selection,
        interventions: &[Intervention<D::Model, T>],
    ) -> Inspected<B, S, D::Vocab, T, Self>
    where
        B: SameDim,
        S: SameDim,
    {
        self.run_with_hooks(shape, ids, selection, interventions, &[])
    }

    /// [`run_with_cache`](Self::run_with_cache) that also ablates heads: each
    /// [`HeadAblation`] zeroes (or mean-ablates) one head's output at its block, before
    /// the output projection. A head not below `Heads`, or a block not below the block
    /// count, is [`InspectError::OutOfRange`].
    pub fn run_with_hooks<B, S>(
        &self,
        shape: (B, S),
        ids: &[u32],
        selection: &Selection,
        interventions: &[Intervention<D::Model, T>],
        ablations: &[HeadAblation<D::Heads>],
    ) -> Inspected<B, S, D::Vocab, T, Self>
    where
        B: SameDim,
        S: SameDim,
    {
        self.run_inspected(shape, ids, selection, (interventions, ablations, &[]))
    }

    /// [`run_with_cache`](Self::run_with_cache) (its `interventions` too) with head
    /// patches: each [`HeadPatch`]
    /// (from [`HeadSite::patch`](crate::inspect::HeadSite::patch) of a clean run's cache)
    /// puts a head's clean output, at every position of every sequence, in place of this
    /// run's, before the output projection. A sequence not as long as the clean one, a
    /// head not below `Heads` or a block not below the block count is an error.
    ///
    /// ```
    /// use shapecheck::inspect::{HeadSite, Selection, Site};
    /// use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
    /// use shapecheck::prelude::*;
    /// dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
    /// dim!(pub Batch; pub Len);
    /// let model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>::init(DecoderConfig::default(), 0);
    /// let shape = (Batch::new(1), Len::new(3));
    /// let sel = Selection::new().with(Site::Z, 0..2);
    /// let (clean, cache) = model.run_with_cache(shape, &[1, 2, 3], &sel, &[]).unwrap();
    /// assert_eq!(cache.z(1).unwrap().dims()[..], [3, 16]); // (Tokens, Heads × HeadDim)
    /// // Every head of every layer from the clean run: the corrupted run becomes the clean one.
    /// let patches: Vec<_> = (0..2)
    ///     .flat_map(|l| (0..2).map(move |h| HeadSite::<Heads>::new(l, h)))
    ///     .map(|site| site.patch(&cache, 0).unwrap())
    ///     .collect();
    /// let (patched, _) = model
    ///     .run_with_patches(shape, &[1, 5, 3], &Selection::new(), &[], &patches)
    ///     .unwrap();
    /// let (corrupt, _) = model.run_with_cache(shape, &[1, 5, 3], &Selection::new(), &[]).unwrap();
    /// assert_ne!(patched.as_slice(), corrupt.as_slice());
    /// // Not the clean run: the residual stream still carries the corrupted token itself.
    /// assert_ne!(patched.as_slice(), clean.as_slice());
    /// ```
    pub fn run_with_patches<B, S>(
        &self,
        shape: (B, S),
        ids: &[u32],
        selection: &Selection,
        interventions: &[Intervention<D::Model, T>],
        patches: &[HeadPatch<D::Heads, T>],
    ) -> Inspected<B, S, D::Vocab, T, Self>
    where
        B: SameDim,
        S: SameDim,
    {
        self.run_inspected(shape, ids, selection, (interventions, &[], patches))
    }

    /// The inspected run ([`run_with_hooks`](Self::run_with_hooks) with `patches` as in
    /// [`run_with_patches`](Self::run_with_patches)) of prompts of different lengths in
    /// one batch. The logits `(Tokens, Vocab)` and every `(Tokens, …)` state of the cache
    /// hold each prompt's own positions only, packed: prompt `i`'s are the rows
    /// [`cache.rows(i)`](ActivationCache::rows), its position `p` the row
    /// `rows(i).start + p`; its queries, keys and pattern are `cache.queries(l, i)`, … of
    /// its own length. Interventions count positions from each prompt's start, a mean
    /// ablation averages over the prompts' own positions, and a head patch needs every
    /// prompt as long as its clean run.
    ///
    /// Each prompt gives what it gives alone ([`run_with_hooks`](Self::run_with_hooks) on
    /// `(1, its length)`): the batch is padded on the right to the longest prompt, and
    /// causal attention never lets a position see the padding after it. Up to the
    /// rounding of a product of more rows: the products of up to 48 rows and of more
    /// take kernels that sum in different orders (`tests/inside_llm.rs` measures it).
    ///
    /// `Err` when there is no prompt or a prompt has no id, an id is not below `Vocab`, or
    /// a change is out of range ([`InspectError::OutOfRange`]).
    ///
    /// ```
    /// use shapecheck::inspect::{Selection, Site};
    /// use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
    /// use shapecheck::prelude::*;
    /// dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
    /// let model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>::init(DecoderConfig::default(), 0);
    /// let prompts: [&[u32]; 2] = [&[1, 2, 3, 4], &[5, 6]];
    /// let sel = Selection::new().with(Site::ResidPost, 0..2).with(Site::Attention, [0]);
    /// let (logits, cache) = model.run_ragged(&prompts, &sel, &[], &[], &[]).unwrap();
    /// assert_eq!(logits.dims()[..], [6, 11]); // 4 + 2 positions, no padding
    /// assert_eq!((cache.rows(0), cache.rows(1)), (Some(0..4), Some(4..6)));
    /// assert_eq!(cache.attention(0, 1).unwrap().dims()[..], [2, 2, 2]); // (Heads, Seq, Seq)
    /// // The second prompt alone.
    /// let (alone, _) = model.run_with_cache((Dyn::new(1), Dyn::new(2)), &[5, 6], &sel, &[]).unwrap();
    /// for (a, b) in logits.as_slice()[4 * 11..].iter().zip(alone.as_slice()) {
    ///     assert!((a - b).abs() < 1e-12);
    /// }
    /// ```
    pub fn run_ragged(
        &self,
        prompts: &[&[u32]],
        selection: &Selection,
        interventions: &[Intervention<D::Model, T>],
        ablations: &[HeadAblation<D::Heads>],
        patches: &[HeadPatch<D::Heads, T>],
    ) -> InspectedRows<(Tokens, D::Vocab), T, Self> {
        let lens: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
        if lens.is_empty() || lens.contains(&0) {
            return Err(crate::ShapeError::incompatible_described(
                "Decoder::run_ragged",
                format!("{} prompts of {lens:?} ids", lens.len()),
                "a batch of prompts",
                "there must be at least one prompt, each of at least one id",
            )
            .into());
        }
        let changes = (interventions, ablations, patches);
        self.check_changes(changes)?;
        let s = lens.iter().copied().max().unwrap_or(0);
        let mut ids = Vec::with_capacity(lens.len() * s);
        for p in prompts {
            ids.extend_from_slice(p);
            // Padding: any id below the vocabulary; no position of the prompt sees it.
            ids.extend(std::iter::repeat_n(0, s - p.len()));
        }
        let sizes = (self.blocks.len(), self.dims.heads().size());
        let mut inspector =
            Inspector::<Self, Dyn, Dyn>::new(selection, changes, sizes, (&lens, s), 0);
        let tape = Tape::inference();
        let shape = (Dyn::new(lens.len()), Dyn::new(s));
        let logits = self.run(&tape, shape, &ids, super::Caches::None, &mut inspector)?;
        let vocab = self.dims.vocab();
        let packed = inspector.gather(logits.value().to_vec(), vocab.size());
        let tokens = Tokens::new(lens.iter().sum());
        let logits = Tensor::from_vec_with((tokens, vocab), packed)?;
        Ok((logits, inspector.finish()?))
    }

    /// `Err` when a change is out of range for this decoder.
    pub(super) fn check_changes(&self, changes: Changes<'_, Self>) -> Result<(), InspectError> {
        let (layers, heads) = (self.blocks.len(), self.dims.heads().size());
        HeadAblation::check_all_with(layers, heads, changes.0, changes.1)?;
        changes.2.iter().try_for_each(|p| {
            let site = p.site();
            HeadAblation::<D::Heads>::zero(site.layer(), site.head()).check(layers, heads)
        })
    }

    fn run_inspected<B, S>(
        &self,
        shape: (B, S),
        ids: &[u32],
        selection: &Selection,
        changes: Changes<'_, Self>,
    ) -> Inspected<B, S, D::Vocab, T, Self>
    where
        B: SameDim,
        S: SameDim,
    {
        self.check_changes(changes)?;
        let sizes = (self.blocks.len(), self.dims.heads().size());
        let (b, s) = (shape.0.size(), shape.1.size());
        let lens = vec![s; b];
        let mut inspector = Inspector::<Self, B, S>::new(selection, changes, sizes, (&lens, s), 0);
        let tape = Tape::inference();
        let logits = self.run(&tape, shape, ids, super::Caches::None, &mut inspector)?;
        debug_assert!(tape.is_empty(), "inspection recorded {} nodes", tape.len());
        Ok((logits.to_tensor(), inspector.finish()?))
    }
}
