//! Compile-fail cases: each `ui-tests/*.rs` is one mistake whose error message is pinned in
//! its `.stderr`; each `ui-tests/pass/*.rs` is its corrected twin, which must compile and run.
//! Regenerate the snapshots with `TRYBUILD=overwrite cargo test --test ui`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui-tests/*.rs");
    t.pass("ui-tests/pass/*.rs");
}
