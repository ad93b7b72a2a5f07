//! minilm: one sentence of about 20 tokens through all-MiniLM-L6-v2 (tokenise, 6 layers,
//! pool, normalise) on 1 thread, median over repeated calls:
//! `minilm/encode/<n>-tokens/1-thread median=<ms> per-token=<µs> pytorch=<ms>`. The PyTorch
//! figure is the fixture's (sentence-transformers, 1 thread, measured on this machine type
//! when the fixture was made), not measured in this run. Skipped when the model is absent.

use std::time::Instant;

use shapecheck::with_threads;

use crate::model::{default_dir, MiniLm};

/// 21 tokens with [CLS] and [SEP].
const SENTENCE: &str =
    "Singular value decomposition factors any matrix into rotations and scalings, like PCA.";

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
    let tokens = model.tokenizer().encode(SENTENCE, 256).len();
    let mut times: Vec<f64> = with_threads(1, || {
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
    let pytorch = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/minilm/reference.json"),
    )
    .ok()
    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    .and_then(|v| v["torch_encode_one_sentence_median_s"].as_f64())
    .map_or("n/a".to_string(), |s| format!("{:.2}ms", s * 1e3));
    println!(
        "{case}/{tokens}-tokens/1-thread median={:.2}ms per-token={:.1}us pytorch={pytorch}",
        median * 1e3,
        median * 1e6 / tokens as f64,
    );
}
