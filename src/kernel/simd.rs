//! The AVX2/FMA frame: safe code run compiled for AVX2 and FMA when this CPU has them (the
//! default x86-64 target compiles loops to 4-wide SSE). Used by the lane loops of softmax and
//! attention, the activations of `FeedForward`, and the matrix–vector passes of `linalg`.

/// Calls `f`, with its code generated for AVX2 and FMA when this CPU has them. The features
/// reach only what is inlined into `f`'s frame: mark the functions it calls
/// `#[inline(always)]`. Used by the elementwise passes of softmax and attention (exp, max,
/// sum), which the default x86-64 target compiles to 4-wide SSE.
pub(crate) fn with_avx2_fma<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        #[target_feature(enable = "avx2,fma")]
        fn run<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: `run` is safe Rust compiled with the avx2 and fma target features; the only
        // requirement of calling it is that the CPU has them, which was just detected.
        return unsafe { run(f) };
    }
    f()
}

/// A computation for [`run_avx2_fma`]. Unlike a closure's body, a trait method can be
/// `#[inline(always)]`, so a large computation still lands in the feature-enabled frame.
pub(crate) trait Avx2FmaKernel {
    /// What the computation returns.
    type Output;
    /// The computation; implementations mark it, and what it calls, `#[inline(always)]`.
    fn run(self) -> Self::Output;
}

/// Runs `k`, with its code generated for AVX2 and FMA when this CPU has them. Used by the
/// matrix–vector passes of the linear algebra (`crate::linalg`), too large a body for
/// [`with_avx2_fma`]'s closure to be inlined.
pub(crate) fn run_avx2_fma<K: Avx2FmaKernel>(k: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        #[target_feature(enable = "avx2,fma")]
        fn go<K: Avx2FmaKernel>(k: K) -> K::Output {
            k.run()
        }
        // SAFETY: `go` is safe Rust compiled with the avx2 and fma target features; the only
        // requirement of calling it is that the CPU has them, which was just detected.
        return unsafe { go(k) };
    }
    k.run()
}
