//! minilm: one sentence of about 20 tokens through all-MiniLM-L6-v2 (tokenise, 6 layers,
//! pool, normalise) on 1 thread, then on all cores, median (and 10th percentile) over 101
//! calls: `minilm/encode/<n>-tokens/1-thread median=<ms> p10=<ms> per-token=<µs>
//! pytorch-1-thread=<ms>`. The PyTorch
//! figure is the fixture's (sentence-transformers, 1 thread, measured on this machine type
//! when the fixture was made), not measured in this run. Skipped when the model is absent.

use std::time::Instant;

use std::path::{Path, PathBuf};

use shapecheck::models::minilm::MiniLm;
use shapecheck::with_threads;

/// 21 tokens with [CLS] and [SEP].
const SENTENCE: &str =
    "Singular value decomposition factors any matrix into rotations and scalings, like PCA.";

/// `$SHAPECHECK_MINILM_DIR`, else `models/all-MiniLM-L6-v2` in the repository.
fn default_dir() -> PathBuf {
    std::env::var_os("SHAPECHECK_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"))
}

pub fn run(filter: &str) {
    let case = "minilm/encode";
    if !case.contains(filter) {
        return;
    }
    let dir = default_dir();
    let model = match MiniLm::load(&dir) {
        Ok(m) => m,
        Err(e) => {
            println!("{case} skipped: no model at {} ({e})", dir.display());
            return;
        }
    };
    let tokens = model.tokenize(SENTENCE).0.len();
    let pytorch = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm/reference.json"),
    )
    .ok()
    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    .and_then(|v| v["torch_encode_one_sentence_median_s"].as_f64())
    .map_or("n/a".to_string(), |s| format!("{:.2}ms", s * 1e3));
    let cores = shapecheck::max_threads();
    let mut counts = vec![1];
    if cores > 1 {
        counts.push(cores);
    }
    for threads in counts {
        let mut times: Vec<f64> = with_threads(threads, || {
            let _ = model.encode(&[SENTENCE]); // warm-up
            (0..101)
                .map(|_| {
                    let t = Instant::now();
                    let out = model.encode(&[SENTENCE]).expect("encodes");
                    std::hint::black_box(out);
                    t.elapsed().as_secs_f64()
                })
                .collect()
        });
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let label = if threads == 1 { "thread" } else { "threads" };
        println!(
            "{case}/{tokens}-tokens/{threads}-{label} median={:.2}ms p10={:.2}ms per-token={:.1}us pytorch-1-thread={pytorch}",
            median * 1e3,
            times[times.len() / 10] * 1e3,
            median * 1e6 / tokens as f64,
        );
    }
}
