//! The policy for files a test needs but the repository does not hold (the git-ignored MiniLM
//! model, fetched by scripts/fetch-minilm.sh): a failure under `CI=true`, a note elsewhere.

use std::path::Path;

/// Reports `what` missing at `path`: panics when `CI=true`, otherwise prints a note (the
/// caller then returns, skipping the test).
pub fn missing(what: &str, path: &Path) {
    let msg = format!(
        "{what} not found at {}: run scripts/fetch-minilm.sh (or set SHAPECHECK_MINILM_DIR)",
        path.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("note: skipping: {msg}");
}
