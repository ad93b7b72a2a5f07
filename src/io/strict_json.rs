//! JSON read with every repeated key refused: serde_json's `Map` keeps the last of a
//! repeated key, so `{"w": {…[4, 4]…}, "w": {…[16]…}}` would silently become its second
//! half. [`parse`] builds the same [`Value`] a plain parse would, but returns an error
//! naming the key when an object repeats one (at any depth); serde_json's own limits
//! (nesting depth 128) still hold, since the same deserializer walks the text.

use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What [`parse`] says about its input.
#[derive(Debug)]
pub(crate) enum StrictError {
    /// The text is not JSON (serde_json's message, with line and column).
    Syntax(serde_json::Error),
    /// An object repeats a key (the message names the key, the line and the column).
    Duplicate(serde_json::Error),
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::Syntax(e) | StrictError::Duplicate(e) => e.fmt(f),
        }
    }
}

/// Parses `text` as JSON, refusing any object that repeats a key. The keys of the
/// outermost object are called `{top}` in the message (`tensor`, say): `tensor `w` is
/// declared twice` rather than `key `w` appears twice`.
pub(crate) fn parse(text: &str, top: &'static str) -> Result<Value, StrictError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict { depth: 0, top }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| {
            if e.is_data() {
                StrictError::Duplicate(e)
            } else {
                StrictError::Syntax(e)
            }
        })?;
    Ok(value)
}

/// A [`Value`] seed that refuses repeated keys; `depth` 0 is the outermost value.
#[derive(Clone, Copy)]
struct Strict {
    depth: usize,
    top: &'static str,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Strict {
    fn inner(self) -> Strict {
        Strict {
            depth: self.depth + 1,
            ..self
        }
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self.inner())? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(if self.depth == 0 {
                    format!("{} `{key}` is declared twice", self.top)
                } else {
                    format!("key `{key}` appears twice in one object")
                }));
            }
            let value = map.next_value_seed(self.inner())?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_as_serde_json_without_duplicates() {
        let text = r#"{"a": [1, -2, 3.5, "x", null, true], "b": {"c": {}}}"#;
        let plain: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parse(text, "tensor").unwrap(), plain);
    }

    #[test]
    fn repeated_keys_are_errors_at_any_depth() {
        let err = parse(r#"{"w": 1, "w": 2}"#, "tensor").unwrap_err();
        assert!(matches!(err, StrictError::Duplicate(_)));
        assert!(
            err.to_string().starts_with("tensor `w` is declared twice"),
            "{err}"
        );
        let err = parse(r#"{"w": {"dtype": 1, "dtype": 2}}"#, "tensor").unwrap_err();
        assert!(
            err.to_string().starts_with("key `dtype` appears twice"),
            "{err}"
        );
        assert!(matches!(
            parse(r#"{"w": 1"#, "tensor"),
            Err(StrictError::Syntax(_))
        ));
        assert!(matches!(
            parse(r#"{"w": 1} x"#, "tensor"),
            Err(StrictError::Syntax(_))
        ));
    }
}
