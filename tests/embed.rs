//! Sentence embeddings at corpus scale: packed batches give what one sentence at a time
//! gives, `embed` agrees with `encode`, packed states refuse rows that are not their spans'
//! tokens, and the `.npy` writer's file reads back (header and values).
//!
//! The tests that need the git-ignored model follow tests/common's policy (a failure under
//! `CI=true`, otherwise a note and a pass).

mod common;

use std::io::Cursor;
use std::path::Path;

use common::{max_abs_diff, minilm_dir, missing};
use shapecheck::io::NpyWriter;
use shapecheck::models::minilm::{Hidden, MiniLm, Packed, Spans, Tokens};
use shapecheck::prelude::*;

/// The 40 sentences of the throughput comparison (scripts/bench_embed.py).
fn corpus() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm/corpus.txt");
    std::fs::read_to_string(path)
        .expect("the corpus is in the repository")
        .lines()
        .map(String::from)
        .collect()
}

fn model() -> Option<MiniLm> {
    let dir = minilm_dir();
    if !dir.join("model.safetensors").is_file() {
        missing("the all-MiniLM-L6-v2 model", &dir);
        return None;
    }
    Some(MiniLm::load(&dir).expect("the model loads"))
}

#[test]
fn a_packed_batch_equals_its_sentences_one_by_one() {
    let Some(m) = model() else { return };
    let corpus = corpus();
    assert_eq!(corpus.len(), 40);
    let batch = m.encode(&corpus).unwrap();
    let lengths: Vec<usize> = batch.input_ids.iter().map(Vec::len).collect();
    // Sentences of many lengths: a padded batch would differ from a packed one.
    assert!(lengths.iter().min() < Some(&10) && lengths.iter().max() > Some(&60));
    assert_eq!(
        batch.hidden.states().dims()[0],
        lengths.iter().sum::<usize>(),
        "no padding rows"
    );
    // Every fifth sentence alone (all 40 take minutes in a debug build), the longest too.
    let longest = (0..40).max_by_key(|&i| lengths[i]).unwrap();
    for i in (0..40).step_by(5).chain([longest]) {
        let s = &corpus[i];
        let alone = m.encode(&[s.as_str()]).unwrap();
        assert_eq!(alone.input_ids[0], batch.input_ids[i]);
        let (a, b) = (alone.hidden.sentence(0), batch.hidden.sentence(i));
        assert_eq!(a.dims(), b.dims());
        let d = max_abs_diff(a.to_tensor().as_slice(), b.to_tensor().as_slice());
        assert!(d <= 1e-4, "sentence {i}: hidden states differ by {d}");
        let cos = cosine_similarity(&alone.embeddings.row(0), &batch.embeddings.row(i));
        assert!(
            cos >= 0.99999,
            "sentence {i}: cosine {cos} alone vs in the batch"
        );
        // Not a tautology: another sentence's embedding is elsewhere.
        let other = batch.embeddings.row((i + 1) % corpus.len());
        assert!(cosine_similarity(&alone.embeddings.row(0), &other) < 0.95);
    }
}

#[test]
fn embed_gives_the_unit_rows_of_encode() {
    let Some(m) = model() else { return };
    let corpus = corpus();
    let emb = m.embed(&corpus[..7]).unwrap();
    let enc = m.encode(&corpus[..7]).unwrap();
    assert_eq!(emb.as_tensor().dims().as_slice(), &[7, 384]);
    assert_eq!(
        emb.as_tensor().as_slice(),
        enc.embeddings.as_tensor().as_slice()
    );
    for i in 0..7 {
        let norm: f32 = emb
            .row(i)
            .as_tensor()
            .as_slice()
            .iter()
            .map(|x| x * x)
            .sum();
        assert!((norm - 1.0).abs() < 1e-5, "row {i}: squared norm {norm}");
    }
    // An empty batch is an empty matrix, not a panic.
    let none = m.embed::<&str>(&[]).unwrap();
    assert_eq!(none.as_tensor().dims().as_slice(), &[0, 384]);
}

#[test]
fn long_sentences_are_truncated_as_sentence_transformers_truncates() {
    let Some(m) = model() else { return };
    let long = "word ".repeat(600);
    let (ids, truncated) = m.tokenize(&long);
    assert!(truncated);
    assert_eq!(ids.len(), 256);
    assert_eq!((ids[0], ids[255]), (101, 102)); // [CLS] … [SEP]
    let (short, truncated) = m.tokenize("The cat sat.");
    assert!(!truncated);
    assert_eq!(short.len(), 6);
    // The model runs on the truncated sentence.
    assert_eq!(m.embed(&[long.as_str()]).unwrap().as_tensor().dims()[0], 1);
}

#[test]
fn packed_states_must_have_one_row_per_token() {
    let spans = Spans::from_lengths([3, 0, 2]);
    assert_eq!(spans.iter().collect::<Vec<_>>(), vec![0..3, 3..3, 3..5]);
    let five = Tensor::<(Tokens, Hidden)>::zeros_with((Tokens::new(5), Hidden));
    let p = Packed::try_new(five, spans.clone()).unwrap();
    assert_eq!(p.sentence(2).dims().as_slice(), &[2, 384]);
    assert_eq!(p.sentence(1).dims().as_slice(), &[0, 384]);
    let four = Tensor::<(Tokens, Hidden)>::zeros_with((Tokens::new(4), Hidden));
    let err = Packed::try_new(four, spans).unwrap_err().to_string();
    assert!(
        err.contains("Tokens=4") && err.contains("3 sentences of Tokens=5"),
        "{err}"
    );
}

/// Parses a `.npy` file as NumPy would (format 1.0, float32, C order): the shape and values.
fn read_npy(bytes: &[u8]) -> ((usize, usize), Vec<f32>) {
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00", "magic and version 1.0");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + len) % 64, 0, "the data is 64-byte aligned");
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert!(header.ends_with('\n'));
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"));
    let shape = header.split("'shape': (").nth(1).unwrap();
    let shape: Vec<usize> = shape[..shape.find(')').unwrap()]
        .split(',')
        .map(|d| d.trim().parse().unwrap())
        .collect();
    let values = bytes[10 + len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    ((shape[0], shape[1]), values)
}

#[test]
fn an_npy_file_reads_back_with_its_shape_and_values() {
    let a = Tensor::<(Dyn, D<3>)>::from_vec_with(
        (Dyn::new(2), D),
        vec![1.5, -2.0, 3.25, 0.0, f32::MAX, -1e-30],
    )
    .unwrap();
    let b =
        Tensor::<(Dyn, D<3>)>::from_vec_with((Dyn::new(1), D), vec![7.0, 8.0, f32::NAN]).unwrap();
    let mut w = NpyWriter::new(Cursor::new(Vec::new()), 3).unwrap();
    w.write(&a).unwrap();
    w.write(&b).unwrap();
    // A block of another width is refused, naming both widths.
    let wrong = Tensor::<(D<1>, D<2>)>::zeros();
    let err = w.write(&wrong).unwrap_err().to_string();
    assert!(
        err.contains("width 2") && err.contains("3 columns"),
        "{err}"
    );
    let bytes = w.finish().unwrap().into_inner();
    let (shape, values) = read_npy(&bytes);
    assert_eq!(shape, (3, 3));
    let want = [a.as_slice(), b.as_slice()].concat();
    assert_eq!(values.len(), want.len());
    for (got, want) in values.iter().zip(&want) {
        assert_eq!(got.to_bits(), want.to_bits());
    }
    // No row written: an empty (0, 3) array.
    let empty = NpyWriter::new(Cursor::new(Vec::new()), 3)
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(read_npy(&empty.into_inner()), ((0, 3), vec![]));
}

/// With two threads a batch is cut into runs of sentences, one per thread; with one it is a
/// single packed batch. The embeddings agree.
#[test]
fn the_thread_count_does_not_change_the_embeddings() {
    let Some(m) = model() else { return };
    let corpus = corpus();
    let one = shapecheck::with_threads(1, || m.embed(&corpus[..8]).unwrap());
    let two = shapecheck::with_threads(2, || m.embed(&corpus[..8]).unwrap());
    let d = max_abs_diff(one.as_tensor().as_slice(), two.as_tensor().as_slice());
    assert!(d <= 1e-6, "1 vs 2 threads differ by {d}");
}
