//! A key/value cache for decoding: keys `(Heads, S, Dk)` and values `(Heads, S, Dv)` that grow
//! along the runtime sequence dim `S` as tokens are appended, and attention of new queries
//! over everything cached with the right causal offset.
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::nn::attention::{attention_masked, AttentionMask};
//! use shapecheck::nn::kv_cache::KvCache;
//! dim!(pub Heads = 2; pub HeadDim = 4; pub Seq = 6; pub Ctx);
//! let q = Tensor::<(Heads, Seq, HeadDim)>::randn(0);
//! let k = Tensor::<(Heads, Seq, HeadDim)>::randn(1);
//! let v = Tensor::<(Heads, Seq, HeadDim)>::randn(2);
//! let full = attention_masked(&q, &k, &v, &AttentionMask::causal(0));
//! // The same, one token at a time.
//! let mut cache = KvCache::<Heads, Ctx, HeadDim>::new();
//! for t in 0..6 {
//!     let (qt, kt, vt) = (q.slice_with(A1, t..t + 1), k.slice_with(A1, t..t + 1), v.slice_with(A1, t..t + 1));
//!     let o = cache.attend(&qt, &kt, &vt).unwrap();
//!     for h in 0..2 {
//!         for d in 0..4 {
//!             assert!((o[[h, 0, d]] - full[[h, t, d]]).abs() < 1e-6);
//!         }
//!     }
//! }
//! assert_eq!(cache.len(), 6);
//! ```

use core::marker::PhantomData;

use crate::dim::{Dim, RuntimeDim, StaticDim};
use crate::element::Float;
use crate::error::OrPanic;
use crate::error::ShapeError;
use crate::ops::attention::{try_attention_masked, AttentionMask};
use crate::tensor::{AsView, Tensor, TensorView};

/// Cached keys `(H, S, Dk)` and values `(H, S, Dv)` of one sequence; `S` is a runtime dim
/// whose size is the number of cached positions.
///
/// Storage is one buffer per side of `H × capacity × D`; the cache hands out strided views of
/// its first `len` positions, which attention reads in place. Appending past the capacity
/// doubles it (one copy).
#[derive(Clone, Debug)]
pub struct KvCache<H, S, Dk, Dv = Dk, T = f32>
where
    H: StaticDim,
    S: RuntimeDim,
    Dk: StaticDim,
    Dv: StaticDim,
    T: Float,
{
    keys: Vec<T>,
    values: Vec<T>,
    len: usize,
    capacity: usize,
    _dims: PhantomData<(H, S, Dk, Dv)>,
}

impl<H, S, Dk, Dv, T> Default for KvCache<H, S, Dk, Dv, T>
where
    H: StaticDim,
    S: RuntimeDim,
    Dk: StaticDim,
    Dv: StaticDim,
    T: Float,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<H, S, Dk, Dv, T> KvCache<H, S, Dk, Dv, T>
where
    H: StaticDim,
    S: RuntimeDim,
    Dk: StaticDim,
    Dv: StaticDim,
    T: Float,
{
    /// An empty cache.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty cache with room for `capacity` positions before it reallocates.
    pub fn with_capacity(capacity: usize) -> Self {
        KvCache {
            keys: vec![T::ZERO; H::SIZE * capacity * Dk::SIZE],
            values: vec![T::ZERO; H::SIZE * capacity * Dv::SIZE],
            len: 0,
            capacity,
            _dims: PhantomData,
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

    /// Forgets every cached position (keeps the storage).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The cached keys, `(H, S, Dk)` with `S` of size [`len`](Self::len).
    pub fn keys(&self) -> TensorView<'_, (H, S, Dk), T> {
        self.view(&self.keys)
    }

    /// The cached values, `(H, S, Dv)`.
    pub fn values(&self) -> TensorView<'_, (H, S, Dv), T> {
        self.view(&self.values)
    }

    /// The first `len` positions of every head of a buffer of `H × capacity × D`.
    fn view<'a, D: StaticDim>(&self, buf: &'a [T]) -> TensorView<'a, (H, S, D), T> {
        let seq = S::from_size(self.len).expect("a runtime dim takes any size");
        TensorView::from_parts(
            buf,
            0,
            (H::default(), seq, D::default()),
            &[self.capacity * D::SIZE, D::SIZE, 1],
        )
        .expect("the first len positions of every head lie in the buffer")
    }

    fn grow(&mut self, needed: usize) {
        if needed <= self.capacity {
            return;
        }
        let cap = needed.max(2 * self.capacity).max(16);
        let regrow = |old: &[T], d: usize| {
            let mut new = vec![T::ZERO; H::SIZE * cap * d];
            for h in 0..H::SIZE {
                let n = self.len * d;
                new[h * cap * d..h * cap * d + n]
                    .copy_from_slice(&old[h * self.capacity * d..h * self.capacity * d + n]);
            }
            new
        };
        self.keys = regrow(&self.keys, Dk::SIZE);
        self.values = regrow(&self.values, Dv::SIZE);
        self.capacity = cap;
    }

    /// Appends the keys `(H, N, Dk)` and values `(H, N, Dv)` of `N` new positions.
    ///
    /// # Panics
    ///
    /// When `k` and `v` hold different numbers of positions; the message is that of
    /// [`try_append`](Self::try_append).
    #[track_caller]
    pub fn append<N, K, V>(&mut self, k: &K, v: &V)
    where
        N: Dim,
        K: AsView<Shape = (H, N, Dk), Elem = T>,
        V: AsView<Shape = (H, N, Dv), Elem = T>,
    {
        self.try_append(k, v).or_panic();
    }

    /// [`append`](Self::append), returning `Err` when `k` and `v` hold different numbers of
    /// positions (the cache is then unchanged).
    pub fn try_append<N, K, V>(&mut self, k: &K, v: &V) -> Result<(), ShapeError>
    where
        N: Dim,
        K: AsView<Shape = (H, N, Dk), Elem = T>,
        V: AsView<Shape = (H, N, Dv), Elem = T>,
    {
        let (k, v) = (k.as_view(), v.as_view());
        let n = k.dims()[1];
        if v.dims()[1] != n {
            return Err(ShapeError::incompatible_described(
                "KvCache::append",
                format!("k {:?}", k.shape()),
                format!("v {:?}", v.shape()),
                format!("k holds {n} positions and v holds {}", v.dims()[1]),
            ));
        }
        self.grow(self.len + n);
        let (cap, len) = (self.capacity, self.len);
        copy_rows(&mut self.keys, &k, (cap, len));
        copy_rows(&mut self.values, &v, (cap, len));
        self.len += n;
        Ok(())
    }

    /// Appends the new keys and values, then attends from the new queries `q: (H, N, Dk)`
    /// over every cached position, causally: new query `i` sees the positions before the
    /// append and the new ones up to itself (causal offset = the length before the append).
    pub fn attend<N, Q, K, V>(
        &mut self,
        q: &Q,
        k: &K,
        v: &V,
    ) -> Result<Tensor<(H, N, Dv), T>, ShapeError>
    where
        N: Dim,
        Q: AsView<Shape = (H, N, Dk), Elem = T>,
        K: AsView<Shape = (H, N, Dk), Elem = T>,
        V: AsView<Shape = (H, N, Dv), Elem = T>,
    {
        let offset = self.len;
        if q.as_view().dims()[1] != k.as_view().dims()[1] {
            return Err(ShapeError::incompatible_described(
                "KvCache::attend",
                format!("q {:?}", q.as_view().shape()),
                format!("k {:?}", k.as_view().shape()),
                "q and the new keys must hold the same number of positions",
            ));
        }
        self.try_append(k, v)?;
        try_attention_masked(
            q,
            &self.keys(),
            &self.values(),
            &AttentionMask::<(), T>::causal(offset),
        )
    }
}

/// Copies `src: (H, N, D)` into positions `len..len + N` of every head of `dst`, a buffer of
/// `H × cap × D`.
fn copy_rows<H: Dim, N: Dim, D: Dim, T: Float>(
    dst: &mut [T],
    src: &TensorView<'_, (H, N, D), T>,
    (cap, len): (usize, usize),
) {
    let [h, n, d] = [src.dims()[0], src.dims()[1], src.dims()[2]];
    let (s, off, data) = (src.strides(), src.offset(), src.as_base_slice());
    for head in 0..h {
        for t in 0..n {
            let row = &mut dst[(head * cap + len + t) * d..][..d];
            let base = off + head * s[0] + t * s[1];
            for (j, x) in row.iter_mut().enumerate() {
                *x = data[base + j * s[2]];
            }
        }
    }
}
