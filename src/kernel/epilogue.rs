//! [`Epilogue`]: what a product applies to its result as it writes it, so that a bias, an
//! activation or a residual add costs no pass of its own over `C`.
//!
//! `C = map(α·A·B + bias)`: the bias row is rounded with the product in one FMA (on the
//! packed GEMM it takes the place of `β·C` in the micro-kernel's write-back, on the first
//! block of `k`), which is bit for bit what a `C` prefilled with the bias and β = 1 gives —
//! how [`Linear`](crate::nn::Linear) adds its bias today. `map` runs on each tile's rows once
//! they are final, while they are still in L1; it must be elementwise (it sees a row in
//! segments of any length, with their coordinates), and then equals the same function run
//! over `C` afterwards bit for bit. On the routes without a fused write-back (the few-rows
//! kernel, matrixmultiply) the same three steps run unfused: prefill, product with β = 1,
//! map over `C`; so on every route the fused form gives the bits of the unfused steps.
//!
//! The callers: every `Linear` product's bias ([`ops::linear`](crate::ops::linear), through
//! [`Gemm::to_vec_with`](super::Gemm::to_vec_with)), the activation of `FeedForward`'s up
//! product and SwiGLU's gating `silu(gate)·up` in the up product's write-back (tensor
//! forwards; see [`nn::flow::Input`](crate::nn::flow::Input)).
#![deny(unsafe_code)]

/// An elementwise function on the rows of a product's result: `map(i, j0, row)` where `row`
/// is `C[i, j0 .. j0 + row.len()]`.
pub(crate) type RowMap<'a, T> = &'a (dyn Fn(usize, usize, &mut [T]) + Sync);

/// The fused write-back of one product (see the [module](self) documentation). The default
/// does nothing.
#[derive(Clone, Copy)]
pub(crate) struct Epilogue<'a, T> {
    /// One value per column of `C`, added to every row.
    pub(crate) bias: Option<&'a [T]>,
    /// Run on every row of `C` once it is final.
    pub(crate) map: Option<RowMap<'a, T>>,
    /// Where this block of `C` starts in the whole product (a block of a split product):
    /// `map` sees the whole product's coordinates.
    pub(crate) origin: (usize, usize),
}

impl<T> Default for Epilogue<'_, T> {
    fn default() -> Self {
        Epilogue {
            bias: None,
            map: None,
            origin: (0, 0),
        }
    }
}

impl<T> core::fmt::Debug for Epilogue<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Epilogue")
            .field("bias", &self.bias.map(<[T]>::len))
            .field("map", &self.map.is_some())
            .field("origin", &self.origin)
            .finish()
    }
}

impl<'a, T> Epilogue<'a, T> {
    /// Whether it does anything.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.bias.is_none() && self.map.is_none()
    }

    /// The epilogue of the block of `C` that starts `rows` rows and `cols` columns into this
    /// one: the bias from column `cols`, the origin moved.
    ///
    /// # Panics
    ///
    /// When the bias is shorter than `cols` (a bug of the caller).
    #[inline]
    pub(crate) fn shifted(self, rows: usize, cols: usize) -> Self {
        Epilogue {
            bias: self.bias.map(|b| &b[cols..]),
            map: self.map,
            origin: (self.origin.0 + rows, self.origin.1 + cols),
        }
    }
}
