//! `config.json` (Hugging Face's `BertConfig`) against the dims of [`MiniLm`](super::MiniLm):
//! the same code serves any checkpoint of this architecture whose dims match the type, and a
//! checkpoint whose dims do not is refused by name before its weights are read.

use std::path::Path;

use serde_json::Value;

use super::{Ffn, Heads, Hidden, Layers, MaxPos, TypeVocab, Vocab, LN_EPS};
use crate::dim::StaticDim;
use crate::models::ModelError;

/// The sizes the type fixes, by their `config.json` names. Every one must be in the file.
const SIZES: [(&str, usize); 7] = [
    ("vocab_size", Vocab::SIZE),
    ("max_position_embeddings", MaxPos::SIZE),
    ("type_vocab_size", TypeVocab::SIZE),
    ("hidden_size", Hidden::SIZE),
    ("num_attention_heads", Heads::SIZE),
    ("intermediate_size", Ffn::SIZE),
    ("num_hidden_layers", Layers::SIZE),
];

/// Checks `config.json` at `path` if it exists (a directory without one is taken as it is:
/// the weights' shapes are still checked tensor by tensor).
pub(super) fn check_file(path: &Path) -> Result<(), ModelError> {
    if !path.is_file() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::ConfigFile {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    check(path, &text)
}

/// Checks the text of a `config.json` (`path` names it in errors).
pub(super) fn check(path: &Path, text: &str) -> Result<(), ModelError> {
    let file_error = |detail: String| ModelError::ConfigFile {
        path: path.to_owned(),
        detail,
    };
    let config: Value =
        serde_json::from_str(text).map_err(|e| file_error(format!("not JSON: {e}")))?;
    let Some(config) = config.as_object() else {
        return Err(file_error("not a JSON object".into()));
    };
    let mismatch = |field: &'static str, expected: String, found: String| ModelError::Config {
        path: path.to_owned(),
        field,
        expected,
        found,
    };
    for (field, size) in SIZES {
        match config.get(field) {
            Some(v) if v.as_u64() == Some(size as u64) => {}
            Some(v) => return Err(mismatch(field, size.to_string(), v.to_string())),
            None => return Err(mismatch(field, size.to_string(), "missing".into())),
        }
    }
    // The rest has BertConfig's defaults when absent, which are what the type computes.
    let text_field = |field: &'static str, want: &str| match config.get(field) {
        None => Ok(()),
        Some(v) if v.as_str() == Some(want) => Ok(()),
        Some(v) => Err(mismatch(field, format!("\"{want}\""), v.to_string())),
    };
    text_field("hidden_act", "gelu")?;
    text_field("position_embedding_type", "absolute")?;
    match config.get("layer_norm_eps") {
        None => Ok(()),
        Some(v) if v.as_f64().map(|e| e as f32) == Some(LN_EPS as f32) => Ok(()),
        Some(v) => Err(mismatch(
            "layer_norm_eps",
            format!("{LN_EPS:e}"),
            v.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"hidden_act": "gelu", "hidden_size": 384, "intermediate_size": 1536,
        "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
        "num_attention_heads": 12, "num_hidden_layers": 6, "type_vocab_size": 2,
        "vocab_size": 30522, "position_embedding_type": "absolute"}"#;

    fn err(text: &str) -> String {
        check(Path::new("m/config.json"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_fetched_config_passes() {
        check(Path::new("config.json"), GOOD).unwrap();
    }

    #[test]
    fn a_mismatch_names_the_field_and_both_values() {
        assert_eq!(
            err(&GOOD.replace("\"hidden_size\": 384", "\"hidden_size\": 768")),
            "m/config.json: `hidden_size` is 768 in the file, but the model's type has 384"
        );
        assert_eq!(
            err(&GOOD.replace("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 12")),
            "m/config.json: `num_hidden_layers` is 12 in the file, but the model's type has 6"
        );
        assert_eq!(
            err(&GOOD.replace("\"gelu\"", "\"relu\"")),
            "m/config.json: `hidden_act` is \"relu\" in the file, but the model's type has \"gelu\""
        );
        assert_eq!(
            err(&GOOD.replace("1e-12", "1e-5")),
            "m/config.json: `layer_norm_eps` is 0.00001 in the file, but the model's type has 1e-12"
        );
        assert_eq!(
            err(&GOOD.replace("\"vocab_size\": 30522", "\"vocab_size\": \"30522\"")),
            "m/config.json: `vocab_size` is \"30522\" in the file, but the model's type has 30522"
        );
    }

    #[test]
    fn a_missing_size_is_an_error_and_a_missing_default_is_not() {
        assert_eq!(
            err(&GOOD.replace("\"intermediate_size\": 1536,", "")),
            "m/config.json: `intermediate_size` is missing in the file, but the model's type \
             has 1536"
        );
        let without_defaults = GOOD
            .replace("\"hidden_act\": \"gelu\",", "")
            .replace("\"layer_norm_eps\": 1e-12,", "")
            .replace(", \"position_embedding_type\": \"absolute\"", "");
        check(Path::new("config.json"), &without_defaults).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_json_object_is_an_error() {
        assert!(err("{").starts_with("cannot read the config m/config.json: not JSON"));
        assert_eq!(
            err("[1, 2]"),
            "cannot read the config m/config.json: not a JSON object"
        );
    }
}
