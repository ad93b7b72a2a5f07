//! The BERT WordPiece tokenizer: ids equal to sentence-transformers' on the shared MiniLM
//! fixture and to Hugging Face `tokenizers`' on harder strings (tests/fixtures, made by
//! scripts/gen-wordpiece-cases.py), and the algorithm on a tiny in-test vocab.
//!
//! The MiniLM vocab is git-ignored (scripts/fetch-minilm.sh fetches it; the env var
//! SHAPECHECK_MINILM_DIR points elsewhere). Without it a test that needs it fails under
//! `CI=true` and otherwise prints a note and passes.

mod common;

use std::path::PathBuf;

use common::{minilm_dir, missing};
use proptest::prelude::*;
use serde_json::Value;
use shapecheck::text::{VocabError, WordPiece, MAX_INPUT_CHARS_PER_WORD};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The MiniLM tokenizer, or `None` (after the missing-file policy) when its vocab is absent.
fn minilm() -> Option<WordPiece> {
    let path = minilm_dir().join("vocab.txt");
    if !path.is_file() {
        missing("the all-MiniLM-L6-v2 vocab", &path);
        return None;
    }
    Some(WordPiece::from_vocab_file(&path).unwrap_or_else(|e| panic!("{e}")))
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("an array of ids")
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("an id")).expect("an id that fits u32"))
        .collect()
}

#[test]
fn minilm_vocab_has_the_bert_specials() {
    let Some(wp) = minilm() else { return };
    assert_eq!(wp.vocab_size(), 30522);
    assert_eq!(wp.pad_id(), 0);
    assert_eq!(wp.unk_id(), 100);
    assert_eq!((wp.cls_id(), wp.sep_id()), (101, 102));
    assert_eq!(wp.token_id("[MASK]"), Some(103));
    assert_eq!(wp.token_id("##ing"), Some(2075));
    assert_eq!(wp.id_token(1996), Some("the"));
    assert_eq!(wp.id_token(30522), None);
}

#[test]
fn reference_sentences_match_sentence_transformers() {
    let path = manifest_dir().join("tests/fixtures/minilm/reference.json");
    let Some(wp) = minilm() else { return };
    let fixture = read_json(&path);
    let sentences = fixture["sentences"].as_array().expect("sentences");
    let expected = fixture["input_ids"].as_array().expect("input_ids");
    assert_eq!(sentences.len(), expected.len());
    assert!(!sentences.is_empty());
    for (s, ids) in sentences.iter().zip(expected) {
        let s = s.as_str().expect("a sentence");
        assert_eq!(wp.encode(s, 256), ids_of(ids), "sentence {s:?}");
    }
}

#[test]
fn hard_cases_match_hugging_face_tokenizers() {
    let Some(wp) = minilm() else { return };
    let fixture = read_json(&manifest_dir().join("tests/fixtures/wordpiece_cases.json"));
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20);
    for case in cases {
        let (what, text) = (&case["what"], case["text"].as_str().expect("text"));
        let want = ids_of(&case["ids"]);
        match case["max_len"].as_u64() {
            Some(n) => {
                let got = wp.encode(text, n as usize);
                assert_eq!(got, want, "{what}: {text:?} truncated to {n}");
            }
            None => {
                assert_eq!(wp.encode(text, usize::MAX), want, "{what}: {text:?}");
                let tokens: Vec<&str> = case["tokens"]
                    .as_array()
                    .expect("tokens")
                    .iter()
                    .map(|t| t.as_str().expect("a token"))
                    .collect();
                assert_eq!(
                    wp.tokenize(text),
                    tokens[1..tokens.len() - 1],
                    "{what}: {text:?}"
                );
            }
        }
    }
}

// ---- the algorithm on a tiny vocab (no model needed) ----

/// ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 a=5 ab=6 abc=7 ##c=8 ##d=9 ##cd=10 b=11
/// ##b=12 !=13 cafe=14 ##a=15
const TINY: &str =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nab\nabc\n##c\n##d\n##cd\nb\n##b\n!\ncafe\n##a\n";

fn tiny() -> WordPiece {
    WordPiece::from_vocab(TINY).unwrap()
}

#[test]
fn greedy_longest_match_first() {
    let wp = tiny();
    // Longest first from the left: abc + ##d, not ab + ##cd (which also covers the word).
    assert_eq!(wp.tokenize("abcd"), ["abc", "##d"]);
    assert_eq!(wp.tokenize("abd"), ["ab", "##d"]);
    assert_eq!(wp.tokenize("ab"), ["ab"]);
    assert_eq!(wp.tokenize("aaaa"), ["a", "##a", "##a", "##a"]);
}

#[test]
fn continuation_pieces_only_continue_words() {
    let wp = tiny();
    // `##b` continues `a`; a word starting with `b` uses the word-initial `b`.
    assert_eq!(wp.tokenize("abb b"), ["ab", "##b", "b"]);
    // `c` exists only as a continuation, so a word starting with it is unknown.
    assert_eq!(wp.tokenize("c cd"), ["[UNK]", "[UNK]"]);
    assert_eq!(wp.encode("c", 8), [2, 1, 3]);
}

#[test]
fn an_unsplittable_word_is_one_unk() {
    let wp = tiny();
    // `abx`: ab matches, then x matches nothing: the whole word is [UNK], not ab + [UNK].
    assert_eq!(wp.tokenize("abx ab"), ["[UNK]", "ab"]);
    // Punctuation is its own word, so `ab!` splits and both parts are known.
    assert_eq!(wp.tokenize("ab!ab"), ["ab", "!", "ab"]);
    // Accents go and case folds before matching.
    assert_eq!(wp.tokenize("CAFÉ Ab"), ["cafe", "ab"]);
}

#[test]
fn a_word_over_the_length_limit_is_unk() {
    let wp = tiny();
    let at_limit = "a".repeat(MAX_INPUT_CHARS_PER_WORD);
    assert_eq!(wp.tokenize(&at_limit).len(), MAX_INPUT_CHARS_PER_WORD);
    let over = "a".repeat(MAX_INPUT_CHARS_PER_WORD + 1);
    assert_eq!(wp.tokenize(&over), ["[UNK]"]);
    // The limit counts characters, not bytes: 100 × `á` (2 bytes, 1 char after NFD strip).
    let accented = "á".repeat(MAX_INPUT_CHARS_PER_WORD);
    assert_eq!(wp.tokenize(&accented).len(), MAX_INPUT_CHARS_PER_WORD);
}

#[test]
fn encode_frames_and_truncates() {
    let wp = tiny();
    let text = "a ab abc b";
    assert_eq!(wp.encode(text, usize::MAX), [2, 5, 6, 7, 11, 3]);
    assert_eq!(wp.encode(text, 6), [2, 5, 6, 7, 11, 3]);
    assert_eq!(wp.encode(text, 5), [2, 5, 6, 7, 3]);
    assert_eq!(wp.encode(text, 3), [2, 5, 3]);
    assert_eq!(wp.encode(text, 2), [2, 3]);
    assert_eq!(wp.encode(text, 1), [2]);
    assert_eq!(wp.encode(text, 0), Vec::<u32>::new());
    assert_eq!(wp.encode("", 8), [2, 3]);
    // Truncation may cut a word between its pieces, as Hugging Face's does.
    assert_eq!(wp.encode("abcd", 3), [2, 7, 3]);
    // Special tokens written in the text are kept whole.
    assert_eq!(wp.encode("a[MASK]b", 8), [2, 5, 4, 11, 3]);
}

#[test]
fn vocab_errors_name_the_problem() {
    for missing in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] {
        let vocab = TINY.replace(&format!("{missing}\n"), "x\n");
        let err = WordPiece::from_vocab(&vocab).unwrap_err();
        assert!(matches!(err, VocabError::MissingToken { token } if token == missing));
        assert!(err.to_string().contains(missing), "{err}");
    }
    // [MASK] is optional.
    assert!(WordPiece::from_vocab(&TINY.replace("[MASK]\n", "x\n")).is_ok());

    let err = WordPiece::from_vocab(&format!("{TINY}ab\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "vocab line 17 repeats the token \"ab\" of line 7; each line must hold a distinct \
         token (its id is the line number − 1)"
    );

    // CRLF line ends and trailing spaces are trimmed.
    let crlf = WordPiece::from_vocab(&TINY.replace('\n', " \r\n")).unwrap();
    assert_eq!(crlf.token_id("abc"), Some(7));
    assert_eq!(crlf.vocab_size(), 16);
}

#[test]
fn vocab_file_errors_name_the_file() {
    let dir = std::env::temp_dir();
    let absent = dir.join(format!(
        "shapecheck-no-such-vocab-{}.txt",
        std::process::id()
    ));
    let err = WordPiece::from_vocab_file(&absent).unwrap_err();
    assert!(matches!(err, VocabError::Io { .. }));
    assert!(
        err.to_string().contains(&absent.display().to_string()),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());

    let bad = dir.join(format!("shapecheck-bad-vocab-{}.txt", std::process::id()));
    std::fs::write(&bad, b"[PAD]\n[UNK]\n\xff\xfe\n").unwrap();
    let err = WordPiece::from_vocab_file(&bad).unwrap_err();
    std::fs::remove_file(&bad).unwrap();
    assert!(
        matches!(err, VocabError::NotUtf8 { line: 3, .. }),
        "{err:?}"
    );

    let good = dir.join(format!("shapecheck-good-vocab-{}.txt", std::process::id()));
    std::fs::write(&good, TINY).unwrap();
    let wp = WordPiece::from_vocab_file(&good);
    std::fs::remove_file(&good).unwrap();
    assert_eq!(wp.unwrap().encode("abcd", 8), [2, 7, 9, 3]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Truncation keeps [CLS], a prefix of the pieces and [SEP], within max_len.
    #[test]
    fn truncation_is_a_prefix_of_the_full_encoding(
        text in "[abcd!é中 \t\\[\\]MASK]{0,40}",
        max_len in 0usize..24,
    ) {
        let wp = tiny();
        let full = wp.encode(&text, usize::MAX);
        let pieces = &full[1..full.len() - 1];
        prop_assert_eq!(pieces.iter().map(|&i| wp.id_token(i).unwrap().to_owned())
            .collect::<Vec<_>>(), wp.tokenize(&text));
        let cut = wp.encode(&text, max_len);
        let keep = max_len.saturating_sub(2).min(pieces.len());
        let mut want = vec![2u32];
        want.extend_from_slice(&pieces[..keep]);
        want.push(3);
        want.truncate(max_len);
        prop_assert_eq!(cut, want);
    }
}
