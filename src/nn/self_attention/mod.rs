//! The attention layer of a LLaMA-family block, [`SelfAttention`]: the projections
//! `q, k, v, o` (optional biases, as Qwen2's; optional LoRA adapters), grouped-query
//! attention (`KvHeads` key/value heads, each serving `Heads / KvHeads` query heads), an
//! explicit head dim (the queries' width `Heads × HeadDim` need not be the model's), RoPE,
//! and the mask: causal, within a sliding window or not, over the input itself or over a
//! KV cache ([`AttentionCache`], which holds the key/value heads only).
//!
//! The layer runs on traced values ([`Var`]s), as the decoder's one forward does: traced
//! for training, on an inference tape (parameters read as constants) for inference. Its
//! steps are public so that a model can put its hook points between them:
//! [`project`](SelfAttention::project) (the projections and RoPE),
//! [`attend`](SelfAttention::attend) (scaled dot-product attention, merged heads) and
//! [`out`](SelfAttention::out) (the output projection); [`forward`](SelfAttention::forward)
//! runs all three.
//!
//! Over its own input, grouped key/value heads are repeated to the query heads (as
//! `transformers`' `repeat_kv`; traced, the gradient of each group is summed into its
//! head). Over a cache, nothing is copied: the query heads of a group read their key/value
//! head through a stride of 0.
//!
//! ```
//! use shapecheck::autodiff::Tape;
//! use shapecheck::nn::rope::{Rope, RopeLayout};
//! use shapecheck::nn::self_attention::{AttentionCache, SelfAttention};
//! use shapecheck::prelude::*;
//! dim!(pub DModel = 16; pub Heads = 4; pub KvHeads = 2; pub HeadDim = 6);
//! let attn = SelfAttention::<DModel, Heads, KvHeads, HeadDim, f64>::init(
//!     (DModel, Heads, KvHeads, HeadDim), true, 0.1, 0);
//! let rope = Rope::<HeadDim>::new(RopeLayout::HalfSplit);
//! let tape = Tape::inference();
//! let x = tape.constant(Tensor::<(Dyn, Dyn, DModel), f64>::randn_with(
//!     (Dyn::new(1), Dyn::new(5), DModel), 1));
//! let full = attn.forward(&x, &rope, None).unwrap(); // (1, 5, DModel), causal
//! // The same, one position at a time over a cache of the 2 key/value heads.
//! let mut cache = AttentionCache::new(attn.kv_heads().size(), attn.head_dim().size());
//! for t in 0..5 {
//!     let xt = tape.constant(x.value().slice_with(A1, t..t + 1).to_tensor());
//!     let yt = attn.forward(&xt, &rope, Some(&mut cache)).unwrap();
//!     for d in 0..16 {
//!         let (a, b) = (yt.value()[[0, 0, d]], full.value()[[0, t, d]]);
//!         assert!((a - b).abs() < 1e-12);
//!     }
//! }
//! assert_eq!(cache.len(), 5);
//! ```

use crate::autodiff::attention::try_attention_masked;
use crate::autodiff::{Param, ParamVisitor, ParamVisitorMut, Params, Var};
use crate::dim::{Dim, Dyn, Times};
use crate::element::Float;
use crate::error::{Error, OrPanic, ShapeError};
use crate::nn::linear::Linear;
use crate::nn::lora::{LoRA, LoraConfig};
use crate::nn::stored::{Dense, Project, Storage};
use crate::ops::attention::{try_attention_masked as attend_values, AttentionMask};
use crate::ops::rope::Rope;
use crate::shape::{SameDim, Shape, A0, A2};
use crate::tensor::{Tensor, TensorView};

mod adapters;

pub use adapters::{AttnAdapters, LoraTargets};

/// The queries' width: `Heads × HeadDim`.
pub type QWidth<H, Hd> = Times<H, Hd>;
/// The keys' and values' width: `KvHeads × HeadDim`.
pub type KvWidth<Kh, Hd> = Times<Kh, Hd>;

/// The heads' outputs merged, `(B, S, Heads × HeadDim)`.
pub type Merged<'t, B, S, H, Hd, T> = Var<'t, (B, S, QWidth<H, Hd>), T>;

/// The four projections `wq`, `wk`, `wv`, `wo` of a [`SelfAttention`].
pub type Projections<M, H, Kh, Hd, T, W = Dense> = (
    <W as Storage<T>>::Linear<M, QWidth<H, Hd>>,
    <W as Storage<T>>::Linear<M, KvWidth<Kh, Hd>>,
    <W as Storage<T>>::Linear<M, KvWidth<Kh, Hd>>,
    <W as Storage<T>>::Linear<QWidth<H, Hd>, M>,
);

/// Queries `(B, Heads, S, HeadDim)` or keys and values `(B, KvHeads, S, HeadDim)`.
pub type HeadsOf<'t, B, H, S, Hd, T> = Var<'t, (B, H, S, Hd), T>;

/// Multi-head self-attention with grouped key/value heads; see the [module docs](self).
/// Its projections are trainable [`Linear`]s, or inference-only stored weights with `W`
/// = [`Stored`](crate::nn::stored::Stored).
#[derive(Debug)]
pub struct SelfAttention<M: Dim, H: Dim, Kh: Dim, Hd: Dim, T: Float = f32, W: Storage<T> = Dense> {
    /// The query projection `M → Heads × HeadDim` (`q_proj`).
    pub wq: W::Linear<M, QWidth<H, Hd>>,
    /// The key projection `M → KvHeads × HeadDim` (`k_proj`).
    pub wk: W::Linear<M, KvWidth<Kh, Hd>>,
    /// The value projection (`v_proj`).
    pub wv: W::Linear<M, KvWidth<Kh, Hd>>,
    /// The output projection `Heads × HeadDim → M` (`o_proj`).
    pub wo: W::Linear<QWidth<H, Hd>, M>,
    /// LoRA adapters of the projections, none by default.
    pub lora: AttnAdapters<M, H, Kh, Hd, T>,
    /// The sliding window (Mistral's, Qwen2's sliding layers): a query sees the keys of
    /// the last `window` positions, its own included; `None`: every earlier position.
    pub window: Option<usize>,
    heads: H,
    kv_heads: Kh,
    head_dim: Hd,
}

/// A `(rows, cols)` matrix of normal entries of standard deviation `std`.
fn normal<R: Dim, C: Dim, T: Float>(dims: (R, C), std: f64, seed: u64) -> Tensor<(R, C), T> {
    if std == 0.0 {
        // Zeros without drawing (a model about to be loaded from a file).
        return Tensor::zeros_with(dims);
    }
    let mut t = Tensor::<(R, C), T>::randn_with(dims, seed);
    let s = T::from_f64(std);
    t.map_inplace(|x| x * s);
    t
}

/// A linear layer with a normal weight (and a zero bias when `bias`).
pub(crate) fn normal_linear<I: Dim, O: Dim, T: Float>(
    (din, dout): (I, O),
    bias: bool,
    std: f64,
    seed: u64,
) -> Linear<I, O, T> {
    Linear {
        weight: Param::new(normal((dout, din), std, seed)),
        bias: bias.then(|| Param::new(Tensor::zeros_with((dout,)))),
    }
}

/// `Err` unless `kv_heads` divides `heads` (and neither is 0).
pub(crate) fn check_groups(
    op: &'static str,
    heads: usize,
    kv_heads: usize,
) -> Result<(), ShapeError> {
    if kv_heads == 0 || heads == 0 || !heads.is_multiple_of(kv_heads) {
        return Err(ShapeError::incompatible_described(
            op,
            format!("{heads} heads"),
            format!("{kv_heads} key/value heads"),
            "the key/value heads must divide the heads (grouped-query attention)",
        ));
    }
    Ok(())
}

impl<M: SameDim, H: Dim, Kh: Dim, Hd: Dim, T: Float, W: Storage<T>>
    SelfAttention<M, H, Kh, Hd, T, W>
{
    /// A layer from its projections, unadapted, without a window. `Err` when the key/value
    /// heads do not divide the heads, or a projection's width is not its heads × head dim.
    pub fn new(
        (wq, wk, wv, wo): Projections<M, H, Kh, Hd, T, W>,
        (heads, kv_heads, head_dim): (H, Kh, Hd),
    ) -> Result<Self, ShapeError> {
        check_groups("SelfAttention::new", heads.size(), kv_heads.size())?;
        let (q, kv) = (
            heads.size() * head_dim.size(),
            kv_heads.size() * head_dim.size(),
        );
        let rows = [
            ("wq", wq.sizes()[0], q),
            ("wk", wk.sizes()[0], kv),
            ("wv", wv.sizes()[0], kv),
            ("wo", wo.sizes()[1], q),
        ];
        if let Some((name, found, want)) = rows.into_iter().find(|(_, f, w)| f != w) {
            return Err(ShapeError::incompatible_described(
                "SelfAttention::new",
                format!("{name} of width {found}"),
                format!("heads ({heads:?}, {kv_heads:?}, {head_dim:?})"),
                format!("{name} must have width {want}"),
            ));
        }
        Ok(SelfAttention {
            wq,
            wk,
            wv,
            wo,
            lora: AttnAdapters::none(),
            window: None,
            heads,
            kv_heads,
            head_dim,
        })
    }

    /// The query heads.
    pub fn heads(&self) -> H {
        self.heads
    }

    /// The key/value heads.
    pub fn kv_heads(&self) -> Kh {
        self.kv_heads
    }

    /// The width of a head.
    pub fn head_dim(&self) -> Hd {
        self.head_dim
    }
}

impl<M: SameDim, H: Dim, Kh: Dim, Hd: Dim, T: Float> SelfAttention<M, H, Kh, Hd, T> {
    /// A layer of normal matrices of standard deviation `std` (seeds `seed..seed + 4`),
    /// with zero q/k/v biases when `qkv_bias`.
    ///
    /// # Panics
    ///
    /// When the key/value heads do not divide the heads.
    #[track_caller]
    pub fn init(
        (model, heads, kv_heads, head_dim): (M, H, Kh, Hd),
        qkv_bias: bool,
        std: f64,
        seed: u64,
    ) -> Self {
        let (q, kv) = (Times::of(heads, head_dim), Times::of(kv_heads, head_dim));
        Self::new(
            (
                normal_linear((model, q), qkv_bias, std, seed),
                normal_linear((model, kv), qkv_bias, std, seed + 1),
                normal_linear((model, kv), qkv_bias, std, seed + 2),
                normal_linear((q, model), false, std, seed + 3),
            ),
            (heads, kv_heads, head_dim),
        )
        .or_panic()
    }

    /// Gives each projection named by `targets` a fresh adapter of rank `rank` (`A`
    /// Kaiming-uniform from `seed`, `seed + 1`, … in the order q, k, v, o; `B` zero),
    /// replacing any it had. `Err` when `rank` exceeds a projection's smaller side or
    /// `config` is invalid; the layer is then unchanged.
    pub fn add_adapters(
        &mut self,
        targets: LoraTargets,
        rank: usize,
        config: LoraConfig,
        seed: u64,
    ) -> Result<(), Error> {
        let (m, q, kv) = (
            self.wq.weight.value().shape().1,
            self.wq.weight.value().shape().0,
            self.wk.weight.value().shape().0,
        );
        let r = Dyn::new(rank);
        let aq = targets
            .q
            .then(|| LoRA::peft("SelfAttention::add_adapters", (m, q), r, config, seed))
            .transpose()?;
        let ak = targets
            .k
            .then(|| LoRA::peft("SelfAttention::add_adapters", (m, kv), r, config, seed + 1))
            .transpose()?;
        let av = targets
            .v
            .then(|| LoRA::peft("SelfAttention::add_adapters", (m, kv), r, config, seed + 2))
            .transpose()?;
        let ao = targets
            .o
            .then(|| LoRA::peft("SelfAttention::add_adapters", (q, m), r, config, seed + 3))
            .transpose()?;
        let l = &mut self.lora;
        l.q = aq.or(l.q.take());
        l.k = ak.or(l.k.take());
        l.v = av.or(l.v.take());
        l.o = ao.or(l.o.take());
        Ok(())
    }

    /// Folds every adapter into its projection (`W += s·B·A`) and removes it.
    pub fn merge_adapters(&mut self) {
        if let Some(a) = self.lora.q.take() {
            a.merge(self.wq.weight.value_mut());
        }
        if let Some(a) = self.lora.k.take() {
            a.merge(self.wk.weight.value_mut());
        }
        if let Some(a) = self.lora.v.take() {
            a.merge(self.wv.weight.value_mut());
        }
        if let Some(a) = self.lora.o.take() {
            a.merge(self.wo.weight.value_mut());
        }
    }
}

impl<M: SameDim, H: Dim, Kh: Dim, Hd: Dim, T: Float, W: Storage<T>>
    SelfAttention<M, H, Kh, Hd, T, W>
{
    /// The queries `(B, Heads, S, HeadDim)`, keys and values `(B, KvHeads, S, HeadDim)` of
    /// `x: (B, S, M)`, the queries and keys turned by `rope`, row `i` at position
    /// `offset + i`.
    #[allow(clippy::type_complexity)]
    pub fn qkv<'t, B: SameDim, S: SameDim>(
        &self,
        x: &Var<'t, (B, S, M), T>,
        rope: &Rope<Hd>,
        offset: usize,
    ) -> Result<
        (
            HeadsOf<'t, B, H, S, Hd, T>,
            HeadsOf<'t, B, Kh, S, Hd, T>,
            HeadsOf<'t, B, Kh, S, Hd, T>,
        ),
        ShapeError,
    > {
        let (q, k, v) = self.qkv_unrotated(x)?;
        Ok((q.try_rope(rope, offset)?, k.try_rope(rope, offset)?, v))
    }

    /// [`project`](Self::project) without RoPE: for rows whose positions differ (a
    /// left-padded batch, [`attend_rows`](Self::attend_rows)).
    #[allow(clippy::type_complexity)]
    pub fn qkv_unrotated<'t, B: SameDim, S: SameDim>(
        &self,
        x: &Var<'t, (B, S, M), T>,
    ) -> Result<
        (
            HeadsOf<'t, B, H, S, Hd, T>,
            HeadsOf<'t, B, Kh, S, Hd, T>,
            HeadsOf<'t, B, Kh, S, Hd, T>,
        ),
        ShapeError,
    > {
        let (h, kh, hd) = (self.heads, self.kv_heads, self.head_dim);
        let l = &self.lora;
        let q = self
            .wq
            .try_project(l.q.as_ref(), x)?
            .try_split_heads_with(h, hd)?;
        let k = self
            .wk
            .try_project(l.k.as_ref(), x)?
            .try_split_heads_with(kh, hd)?;
        let v = self
            .wv
            .try_project(l.v.as_ref(), x)?
            .try_split_heads_with(kh, hd)?;
        Ok((q, k, v))
    }

    /// Attention of a left-padded batch over a cache per row, on values (inference):
    /// `q`, `k`, `v` unrotated ([`qkv_unrotated`](Self::qkv_unrotated)), row `b`'s
    /// first `pads[b]` positions padding. Row `b`'s other positions are turned by `rope`
    /// at `caches[b].len()..`, appended to `caches[b]` and attend over it (causal, within
    /// the window), exactly as that row alone through [`attend`](Self::attend) with its
    /// cache; a padding position is never cached and its output is zero. The heads
    /// merged: `(B, S, Heads × HeadDim)`.
    ///
    /// `Err` when `caches` or `pads` do not hold one per row, or a pad count exceeds `S`.
    #[allow(clippy::type_complexity)]
    pub fn attend_rows<'t, B: SameDim, S: SameDim>(
        &self,
        (q, k, v): (
            &HeadsOf<'t, B, H, S, Hd, T>,
            &HeadsOf<'t, B, Kh, S, Hd, T>,
            &HeadsOf<'t, B, Kh, S, Hd, T>,
        ),
        rope: &Rope<Hd>,
        caches: &mut [AttentionCache<T>],
        pads: &[usize],
    ) -> Result<Merged<'t, B, S, H, Hd, T>, ShapeError> {
        let (b, h, n, hd) = q.shape();
        let (rows, n, heads, d) = (b.size(), n.size(), h.size(), hd.size());
        if caches.len() != rows || pads.len() != rows || pads.iter().any(|&p| p > n) {
            return Err(ShapeError::incompatible_described(
                "SelfAttention::attend_rows",
                format!("queries {:?}", q.shape()),
                format!("{} caches, pads {pads:?}", caches.len()),
                "one cache and one pad count (at most the sequence) per row",
            ));
        }
        let (qv, kv, vv) = (q.value(), k.value(), v.value());
        let mut out = vec![T::ZERO; rows * heads * n * d];
        for (r, (cache, &pad)) in caches.iter_mut().zip(pads).enumerate() {
            if pad == n {
                continue;
            }
            /// Row `r` of `x`, from position `pad` on.
            #[allow(clippy::type_complexity)]
            fn row<'a, B: Dim, X: Dim, S: Dim, Hd: Dim, T: Float>(
                x: &TensorView<'a, (B, X, S, Hd), T>,
                (r, pad): (usize, usize),
            ) -> Result<TensorView<'a, (Dyn, X, Dyn, Hd), T>, ShapeError> {
                x.try_slice_with(A0, r..r + 1)?.try_slice_with(A2, pad..)
            }
            let offset = cache.len();
            let (qr, kr) = (
                rope.try_rotate(&row(&qv, (r, pad))?, offset)?,
                rope.try_rotate(&row(&kv, (r, pad))?, offset)?,
            );
            let o = cache.attend(
                &qr.view(),
                &kr.view(),
                &row(&vv, (r, pad))?,
                &self.mask(offset),
            )?;
            let (o, m) = (o.as_slice(), n - pad);
            for head in 0..heads {
                let dst = ((r * heads + head) * n + pad) * d;
                out[dst..dst + m * d].copy_from_slice(&o[head * m * d..(head + 1) * m * d]);
            }
        }
        let o = q.tape().constant(Tensor::from_parts(q.shape(), out));
        o.try_merge_heads_with(Times::of(self.heads, self.head_dim))
    }

    /// Keys or values of the key/value heads repeated to the query heads (`repeat_kv`);
    /// themselves when there are as many.
    pub fn repeat_kv<'t, B: Dim, S: Dim>(
        &self,
        x: &HeadsOf<'t, B, Kh, S, Hd, T>,
    ) -> Result<HeadsOf<'t, B, H, S, Hd, T>, ShapeError> {
        x.try_repeat_heads_with(self.heads)
    }

    /// The mask of queries at positions `offset..`: causal, within the window if any.
    fn mask(&self, offset: usize) -> AttentionMask<(), T> {
        match self.window {
            Some(w) => AttentionMask::sliding(offset, w),
            None => AttentionMask::causal(offset),
        }
    }

    /// Scaled dot-product attention of the queries `q` over keys `k` and values `v` of the
    /// same positions (causal, within the window), or, with a `cache`, over every cached
    /// position and the new ones, which are appended to it (one sequence, values only:
    /// nothing through the cache is traced). The heads merged: `(B, S, Heads × HeadDim)`.
    pub fn attend<'t, B: SameDim, S: SameDim>(
        &self,
        q: &HeadsOf<'t, B, H, S, Hd, T>,
        k: &HeadsOf<'t, B, Kh, S, Hd, T>,
        v: &HeadsOf<'t, B, Kh, S, Hd, T>,
        cache: Option<&mut AttentionCache<T>>,
    ) -> Result<Merged<'t, B, S, H, Hd, T>, ShapeError> {
        let width = Times::of(self.heads, self.head_dim);
        let o = match cache {
            None => {
                let (k, v) = (self.repeat_kv(k)?, self.repeat_kv(v)?);
                try_attention_masked(q, &k, &v, &self.mask(0))?
            }
            Some(cache) => {
                let offset = cache.len();
                let o = cache.attend(&q.value(), &k.value(), &v.value(), &self.mask(offset))?;
                q.tape().constant(o)
            }
        };
        o.try_merge_heads_with(width)
    }

    /// The output projection of the merged heads `z: (B, S, Heads × HeadDim)`.
    pub fn out<'t, B: SameDim, S: SameDim>(
        &self,
        z: &Var<'t, (B, S, QWidth<H, Hd>), T>,
    ) -> Result<Var<'t, (B, S, M), T>, ShapeError> {
        self.wo.try_project(self.lora.o.as_ref(), z)
    }

    /// `residual + out(z)`: the output projection with the residual stream added (in the
    /// product's write-back where it can be, see [`Project::try_project_residual`]).
    pub fn out_residual<'t, B: SameDim, S: SameDim>(
        &self,
        z: &Var<'t, (B, S, QWidth<H, Hd>), T>,
        residual: &Var<'t, (B, S, M), T>,
    ) -> Result<Var<'t, (B, S, M), T>, ShapeError> {
        self.wo
            .try_project_residual(self.lora.o.as_ref(), z, residual)
    }

    /// The layer on `x: (B, S, M)`: [`project`](Self::project) (at the cache's length, or
    /// 0), [`attend`](Self::attend), [`out`](Self::out).
    pub fn forward<'t, B: SameDim, S: SameDim>(
        &self,
        x: &Var<'t, (B, S, M), T>,
        rope: &Rope<Hd>,
        cache: Option<&mut AttentionCache<T>>,
    ) -> Result<Var<'t, (B, S, M), T>, ShapeError> {
        let offset = cache.as_ref().map_or(0, |c| c.len());
        let (q, k, v) = self.qkv(x, rope, offset)?;
        let z = self.attend(&q, &k, &v, cache)?;
        self.out(&z)
    }
}

impl<M: Dim, H: Dim, Kh: Dim, Hd: Dim, T: Float> Params<T> for SelfAttention<M, H, Kh, Hd, T> {
    /// `q_proj.weight`, `q_proj.bias` (when there is one), … `o_proj.weight` under
    /// `prefix` (Hugging Face's names); the adapters have their own walk
    /// ([`AttnAdapters`]).
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        self.wq.visit_params(&format!("{prefix}q_proj."), v);
        self.wk.visit_params(&format!("{prefix}k_proj."), v);
        self.wv.visit_params(&format!("{prefix}v_proj."), v);
        self.wo.visit_params(&format!("{prefix}o_proj."), v);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        self.wq.visit_params_mut(&format!("{prefix}q_proj."), v);
        self.wk.visit_params_mut(&format!("{prefix}k_proj."), v);
        self.wv.visit_params_mut(&format!("{prefix}v_proj."), v);
        self.wo.visit_params_mut(&format!("{prefix}o_proj."), v);
    }
}

/// The keys and values of one sequence cached by one attention layer: `KvHeads` heads of
/// `HeadDim`, sizes known at run time, one buffer per side of
/// `KvHeads × capacity × HeadDim` that doubles when full (one copy).
#[derive(Clone, Debug)]
pub struct AttentionCache<T: Float = f32> {
    kv_heads: usize,
    head_dim: usize,
    keys: Vec<T>,
    values: Vec<T>,
    len: usize,
    capacity: usize,
}

/// A 4-D view of runtime dims.
type View4<'a, T> = TensorView<'a, (Dyn, Dyn, Dyn, Dyn), T>;

impl<T: Float> AttentionCache<T> {
    /// An empty cache for `kv_heads` heads of width `head_dim`.
    pub fn new(kv_heads: usize, head_dim: usize) -> Self {
        AttentionCache {
            kv_heads,
            head_dim,
            keys: Vec::new(),
            values: Vec::new(),
            len: 0,
            capacity: 0,
        }
    }

    /// The number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every position (keeps the storage).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    fn grow(&mut self, needed: usize) {
        if needed <= self.capacity {
            return;
        }
        let (kh, d) = (self.kv_heads, self.head_dim);
        let cap = needed.max(2 * self.capacity).max(64);
        let (old_cap, len) = (self.capacity, self.len);
        let regrow = |old: &[T]| {
            let mut new = vec![T::ZERO; kh * cap * d];
            for h in 0..kh {
                new[h * cap * d..][..len * d].copy_from_slice(&old[h * old_cap * d..][..len * d]);
            }
            new
        };
        self.keys = regrow(&self.keys);
        self.values = regrow(&self.values);
        self.capacity = cap;
    }

    /// Appends `x: (1, KvHeads, N, HeadDim)` at positions `len..len + N` of `buf`.
    fn copy_in<S: Shape>(buf: &mut [T], x: &TensorView<'_, S, T>, (cap, len): (usize, usize)) {
        let (d, st, data) = (x.dims(), x.strides(), x.as_base_slice());
        let (kh, n, hd) = (d[1], d[2], d[3]);
        for h in 0..kh {
            for t in 0..n {
                let row = &mut buf[(h * cap + len + t) * hd..][..hd];
                let base = x.offset() + h * st[1] + t * st[2];
                if st[3] == 1 {
                    row.copy_from_slice(&data[base..base + hd]);
                } else {
                    row.iter_mut()
                        .enumerate()
                        .for_each(|(j, r)| *r = data[base + j * st[3]]);
                }
            }
        }
    }

    /// Appends the new keys and values `(1, KvHeads, N, HeadDim)`, then attends from the
    /// new queries `q: (1, Heads, N, HeadDim)` over every cached position under `mask`
    /// (whose causal offset is the length before the append): `(1, Heads, N, HeadDim)`.
    /// Query head `h` reads key/value head `h / (Heads / KvHeads)` through a stride of 0.
    /// `Err` (the cache unchanged) for more than one sequence, or sizes that are not the
    /// cache's.
    pub fn attend<Q: Shape, K: Shape>(
        &mut self,
        q: &TensorView<'_, Q, T>,
        k: &TensorView<'_, K, T>,
        v: &TensorView<'_, K, T>,
        mask: &AttentionMask<(), T>,
    ) -> Result<Tensor<Q, T>, ShapeError> {
        let (qd, kd) = (q.dims(), k.dims());
        let (kh, hd) = (self.kv_heads, self.head_dim);
        let ok = Q::RANK == 4
            && K::RANK == 4
            && qd[0] == 1
            && kd[..] == v.dims()[..]
            && kd[0] == 1
            && kd[1] == kh
            && kd[3] == hd
            && qd[3] == hd
            && qd[2] == kd[2]
            && kh > 0
            && qd[1] % kh == 0;
        if !ok {
            return Err(ShapeError::incompatible_described(
                "AttentionCache::attend",
                format!("q {:?}, k {:?}, v {:?}", q.shape(), k.shape(), v.shape()),
                format!("a cache of one sequence, {kh} key/value heads of {hd}"),
                "a KV cache holds one sequence; the queries' heads must be a multiple of its \
                 key/value heads, and the keys and values must have its sizes",
            ));
        }
        let (h, n) = (qd[1], qd[2]);
        let group = h / kh;
        self.grow(self.len + n);
        let (cap, len) = (self.capacity, self.len);
        Self::copy_in(&mut self.keys, k, (cap, len));
        Self::copy_in(&mut self.values, v, (cap, len));
        self.len += n;
        let qs = q.strides();
        let q4 = View4::from_parts(
            q.as_base_slice(),
            q.offset(),
            (Dyn::new(kh), Dyn::new(group), Dyn::new(n), Dyn::new(hd)),
            &[group * qs[1], qs[1], qs[2], qs[3]],
        )?;
        let kv = |buf| {
            View4::from_parts(
                buf,
                0,
                (
                    Dyn::new(kh),
                    Dyn::new(group),
                    Dyn::new(self.len),
                    Dyn::new(hd),
                ),
                &[cap * hd, 0, hd, 1],
            )
        };
        let (k4, v4) = (kv(&self.keys)?, kv(&self.values)?);
        let o = attend_values(&q4, &k4, &v4, mask)?;
        Ok(Tensor::from_parts(q.shape(), o.into_vec()))
    }
}
