//! Prepacked right operands: a weight packed once into the packed GEMM's panels of `NR`
//! columns ([`PackedB`]) and reused by every product that reads it, until it changes
//! ([`PackCache`], which a [`Param`](crate::autodiff::Param) owns and empties on every
//! mutable access).
//!
//! The layout is the one `blocked.rs` packs a block of `B` into, for the whole of `B` at
//! once: panel `q` (columns `q·NR .. q·NR + NR`, zero past `n`) holds all `k` groups of
//! `NR` values, so the panel of the `k` block `pc` is the `kc·NR` values starting at
//! `q·NR·k + pc·NR`, exactly what the per-call packing writes for that block. It depends on
//! `NR` only (the kernel's ISA and element type), not on `KC`, `MC` or `NC`: the
//! micro-kernel reads the same values in the same order, so a prepacked product is bit for
//! bit the unpacked one. Products on the other routes (the few-rows kernel, matrixmultiply)
//! read `B` as before and ignore the pack.

use core::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

use super::operand::MatRef;
use super::raw::Backend;
use crate::element::Float;

/// One cache line: the unit of the packing buffers, so that each panel starts 64-byte
/// aligned (whole-vector loads of a packed panel never straddle a line).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Line(pub(super) [u8; 64]);

/// Elements of `T` rounded up to whole lines.
pub(super) fn lines_for<T>(elements: usize) -> usize {
    (elements * core::mem::size_of::<T>()).div_ceil(64)
}

/// Which operand of a product a weight `W` is packed as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PackForm {
    /// `B = Wᵀ`: the forward `x·Wᵀ` of a linear layer.
    Transposed,
    /// `B = W`: the input gradient `dy·W`.
    Plain,
}

/// Whether products may use prepacked weights: yes unless `SHAPECHECK_PREPACK=0` (read once;
/// for measuring the packing's worth, the results are the same bits either way).
pub(crate) fn prepack_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("SHAPECHECK_PREPACK").as_deref() != Ok("0"))
}

/// A whole right operand `B` (`k × n`) packed into the panels of one kernel (see the
/// [module](self) documentation), with the identity of the matrix it was packed from.
pub(crate) struct PackedB<T> {
    buf: Vec<Line>,
    nr: usize,
    k: usize,
    n: usize,
    backend: Backend,
    /// Address of `B[0, 0]` and its strides: a product checks it is given the same matrix.
    source: (usize, usize, usize),
    _t: PhantomData<T>,
}

impl<T> core::fmt::Debug for PackedB<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PackedB")
            .field("k", &self.k)
            .field("n", &self.n)
            .field("nr", &self.nr)
            .field("backend", &self.backend)
            .finish()
    }
}

impl<T: Float> PackedB<T> {
    /// `b` packed for `backend`'s packed GEMM, or `None` where that route does not take a
    /// product with this right operand (matrixmultiply, another CPU, `k = 0`, a small f64
    /// product, a negative stride).
    pub(crate) fn new(b: MatRef<'_, T>, backend: Backend) -> Option<Self> {
        let (k, n) = (b.nrows(), b.ncols());
        if k == 0 || n == 0 || !b.batch_dims().is_empty() {
            return None;
        }
        let (rsb, csb) = b.strides();
        // The route of a product with many rows (the few-rows kernel never reads a pack).
        let route = super::raw::route::<T>(
            backend,
            (usize::MAX, k, n),
            k as isize,
            1,
            rsb as isize,
            csb as isize,
            n as isize,
            1,
        );
        Self::packed(route, b)
    }

    #[cfg(target_arch = "x86_64")]
    fn packed(route: super::raw::Route, b: MatRef<'_, T>) -> Option<Self> {
        let super::raw::Route::Blocked(backend) = route else {
            return None;
        };
        let (k, n) = (b.nrows(), b.ncols());
        let (rsb, csb) = b.strides();
        let nr = super::micro::nr::<T>(backend);
        let mut buf = vec![Line([0; 64]); lines_for::<T>(n.div_ceil(nr) * nr * k)];
        let src = b.ptr_at(b.item_offset(&[]));
        // SAFETY: by `MatRef`'s invariant every `B[l·rsb + j·csb]` (l < k, j < n) is in its
        // slice, so `src + j·csb + l·rsb` is readable for the `n × k` matrix `Bᵀ` that `pack`
        // reads; `buf` holds `n.div_ceil(nr)·nr·k` elements of `T` (whole lines, aligned for
        // any `T`), which `pack` writes, and is a fresh allocation, disjoint from `B`.
        unsafe { super::pack::pack(nr, n, k, src, csb, rsb, buf.as_mut_ptr().cast::<T>()) };
        Some(PackedB {
            buf,
            nr,
            k,
            n,
            backend,
            source: (src as usize, rsb, csb),
            _t: PhantomData,
        })
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn packed(route: super::raw::Route, b: MatRef<'_, T>) -> Option<Self> {
        // Only matrixmultiply runs here: it packs at every call.
        let _ = (route, b);
        None
    }

    /// The bytes it holds.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len() * core::mem::size_of::<Line>()
    }

    /// The pack, for a product on `backend` whose right operand is `b`; `None` when it was
    /// packed for another backend.
    ///
    /// # Panics
    ///
    /// When `b` is not the matrix it was packed from (its address, extents or strides
    /// differ): a bug of the caller.
    pub(super) fn view_for(&self, b: MatRef<'_, T>, backend: Backend) -> Option<PackedView<'_, T>> {
        let src = b.ptr_at(b.item_offset(&[])) as usize;
        let (rsb, csb) = b.strides();
        assert!(
            (b.nrows(), b.ncols(), (src, rsb, csb)) == (self.k, self.n, self.source),
            "a packed operand used for another matrix"
        );
        (backend == self.backend).then(|| PackedView {
            ptr: self.buf.as_ptr().cast::<T>(),
            nr: self.nr,
            k: self.k,
            col0: 0,
            _b: PhantomData,
        })
    }
}

/// A borrowed [`PackedB`] from column `col0` on (a multiple of `NR`): what a block of
/// columns of a product split over threads reads.
#[derive(Clone, Copy, Debug)]
pub(super) struct PackedView<'a, T> {
    ptr: *const T,
    /// The panel width it was packed with.
    pub(super) nr: usize,
    /// The `k` it was packed with.
    pub(super) k: usize,
    col0: usize,
    _b: PhantomData<&'a [T]>,
}

// SAFETY: a `PackedView` is a shared borrow of a `PackedB`'s buffer, which nothing writes
// while it lives (the `'a` borrow); reading it from several threads is sound for `T: Sync`.
unsafe impl<T: Sync> Send for PackedView<'_, T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Sync> Sync for PackedView<'_, T> {}

impl<T> PackedView<'_, T> {
    /// The view of a whole `B` of depth `k` packed at `ptr` in panels of `nr` columns (a
    /// product's own pack, shared by its threads: `blocked.rs`).
    ///
    /// # Safety
    ///
    /// `ptr` holds `B` packed whole in this layout for every panel read through the view,
    /// and nothing writes it while the view is read.
    pub(super) unsafe fn whole(ptr: *const T, nr: usize, k: usize) -> Self {
        PackedView {
            ptr,
            nr,
            k,
            col0: 0,
            _b: PhantomData,
        }
    }

    /// The view of the block of columns from `start` on, or `None` when `start` is not on a
    /// panel edge (the block then packs its own).
    pub(super) fn columns_from(self, start: usize) -> Option<Self> {
        start.is_multiple_of(self.nr).then_some(PackedView {
            col0: self.col0 + start,
            ..self
        })
    }

    /// The panel of columns `j .. j + NR` (`j` a multiple of `NR`, below this view's
    /// columns) for the `k` block starting at `pc`: `kc·NR` values, `kc ≤ k − pc`.
    ///
    /// # Safety
    ///
    /// `j` is a multiple of `NR` and `col0 + j < n`; `pc < k`.
    #[inline]
    pub(super) unsafe fn panel(self, j: usize, pc: usize) -> *const T {
        // SAFETY: panel `(col0 + j) / NR` starts at `(col0 + j)·k` (a whole panel is `NR·k`
        // elements) and is inside the buffer since `col0 + j < n`; `pc·NR < k·NR` stays in it.
        unsafe { self.ptr.add((self.col0 + j) * self.k + pc * self.nr) }
    }
}

/// The packs of one weight, one per (form, backend) it has been used in, built on first
/// use; emptied by [`clear`](Self::clear), which its owner calls on every change of the
/// weight.
pub(crate) struct PackCache<T> {
    slots: Mutex<Vec<(PackForm, Arc<PackedB<T>>)>>,
    /// Whether it makes packs at all (its owner's choice; off keeps no memory).
    on: bool,
}

/// On: a cache that packs.
impl<T> Default for PackCache<T> {
    fn default() -> Self {
        PackCache {
            slots: Mutex::new(Vec::new()),
            on: true,
        }
    }
}

/// A copy starts empty (the packs are a cache of the value, not part of it), on or off as
/// the original.
impl<T> Clone for PackCache<T> {
    fn clone(&self) -> Self {
        PackCache {
            on: self.on,
            ..Self::default()
        }
    }
}

/// Always equal: the packs are a cache of the value, not part of it.
impl<T> PartialEq for PackCache<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> core::fmt::Debug for PackCache<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_list()
            .entries(slots.iter().map(|(form, p)| (form, p.as_ref())))
            .finish()
    }
}

impl<T: Float> PackCache<T> {
    /// The pack of `b` (which is `W` or `Wᵀ` as `form` says) for an `m`-row product on this
    /// process's backend: the cached one, or a new one kept for the next product. `None`
    /// when this cache or prepacking is off, or the product would not read a pack (see
    /// [`PackedB::new`]; products of up to 48 rows go to the few-rows kernel, which reads
    /// `W` in place, so decoding builds no pack).
    pub(crate) fn get(
        &self,
        form: PackForm,
        b: MatRef<'_, T>,
        m: usize,
    ) -> Option<Arc<PackedB<T>>> {
        if !self.on || !prepack_enabled() || m <= super::raw::FEW_ROWS_MAX_M {
            return None;
        }
        let backend = Backend::current();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let src = (
            b.ptr_at(b.item_offset(&[])) as usize,
            b.strides().0,
            b.strides().1,
        );
        if let Some((_, p)) = slots.iter().find(|(f, p)| {
            *f == form
                && p.backend == backend
                && p.source == src
                && (p.k, p.n) == (b.nrows(), b.ncols())
        }) {
            return Some(p.clone());
        }
        let packed = Arc::new(PackedB::new(b, backend)?);
        slots.retain(|(f, _)| *f != form);
        slots.push((form, packed.clone()));
        Some(packed)
    }

    /// An empty cache that makes packs (`on`) or never does.
    #[cfg_attr(
        not(feature = "llm"),
        expect(dead_code, reason = "for quant::StoredWeight, an llm type")
    )]
    pub(crate) fn new(on: bool) -> Self {
        PackCache {
            on,
            ..Self::default()
        }
    }

    /// Makes packs from now on, or stops and forgets them.
    pub(crate) fn set_on(&mut self, on: bool) {
        self.on = on;
        if !on {
            self.clear();
        }
    }

    /// Whether it makes packs.
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }

    /// Forgets every pack (the weight changed).
    pub(crate) fn clear(&mut self) {
        self.slots
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The bytes its packs hold.
    pub(crate) fn bytes(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.iter().map(|(_, p)| p.bytes()).sum()
    }
}
