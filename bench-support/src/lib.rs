//! What shapecheck's criterion benches (`benches/*.rs`) and the perf example
//! (`examples/perf/`) share, so that both measure the same cases against the same
//! baselines: the table of cases ([`cases`]: sizes and the names the output prints) and the
//! hand-written baselines — matrixmultiply called directly on row-major buffers ([`raw`]),
//! the two bare GEMMs inside attention ([`attention`]), plain loops and ndarray
//! ([`loops`]); and a counting allocator for peak-memory figures ([`alloc`]).
//!
//! A dev-dependency of the root package, not published. The baselines call matrixmultiply's
//! raw-pointer entry points, so this crate (not the library) holds their `unsafe` blocks.

pub mod alloc;
pub mod attention;
pub mod cases;
pub mod loops;
pub mod raw;
