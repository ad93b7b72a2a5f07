//! [`AdapterConfig`]: the settings of saved LoRA adapters, in the shape of PEFT's
//! `adapter_config.json`, recorded in a safetensors file's `__metadata__` (under
//! [`AdapterConfig::METADATA_KEY`], as that file's JSON text) so that an adapter file says
//! what its factors mean: the factors alone do not give the scale `α/R` (or `α/√R`), and
//! adapters loaded with another α or rsLoRA would compute other outputs without a word.
//!
//! One file can hold many adapters (a decoder's, under their module names). As in PEFT,
//! `r`, `lora_alpha`, `use_rslora` and `lora_dropout` are the settings of all of them, and
//! `rank_pattern` / `alpha_pattern` give the rank and α of a module that differs (keyed by
//! its name, matched as PEFT matches them: the whole name or a `.`-separated suffix of it).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::LoraConfig;
use crate::io::strict_json;
use crate::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};

/// The settings of the adapters of a file, as PEFT's `adapter_config.json` names them.
///
/// [`LoRA::save`](super::LoRA::save) records each adapter it saves in the writer's
/// metadata, and [`LoRA::load`](super::LoRA::load) compares the adapter's rank, α and
/// rsLoRA with the file's before it replaces anything. [`to_json`](Self::to_json) is the
/// text of PEFT's `adapter_config.json` for these adapters, and
/// [`from_json`](Self::from_json) reads one written by PEFT (to load its
/// `adapter_model.safetensors` with [`LoRA::load_with_config`](super::LoRA::load_with_config)).
///
/// ```
/// use shapecheck::io::{SafeTensors, SafetensorsWriter};
/// use shapecheck::nn::lora::{AdapterConfig, LoraConfig};
/// use shapecheck::prelude::*;
///
/// let lora = LoRA::<D<4>, D<3>, D<2>>::init(8.0, 1);
/// let mut w = SafetensorsWriter::new();
/// lora.save(&mut w, "q_proj.")?;
/// let file = SafeTensors::from_bytes(w.to_bytes()).unwrap();
/// let config = AdapterConfig::from_metadata(&file).unwrap().unwrap();
/// assert_eq!((config.r, config.lora_alpha, config.use_rslora), (2, 8.0, false));
/// assert_eq!(config.target_modules, ["q_proj"]);
///
/// // Loading into an adapter of another α is an error naming the field and both values.
/// let mut other = LoRA::<D<4>, D<3>, D<2>>::init(32.0, 2);
/// let err = other.load(&file, "q_proj.").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "adapter `q_proj`: `lora_alpha` is 8 in the file, but 32 here; nothing was loaded"
/// );
/// # Ok::<(), shapecheck::io::SaveError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterConfig {
    /// The rank of every adapter not in `rank_pattern`.
    pub r: usize,
    /// α of every adapter not in `alpha_pattern`.
    pub lora_alpha: f64,
    /// rsLoRA (`α/√R`) for every adapter.
    pub use_rslora: bool,
    /// The dropout the adapters were trained with (recorded, not compared on load: it
    /// changes training, not an adapter's outputs).
    pub lora_dropout: f64,
    /// The adapted modules (whole names, or suffixes as PEFT matches them).
    pub target_modules: Vec<String>,
    /// The rank of the modules whose rank is not `r`.
    pub rank_pattern: BTreeMap<String, usize>,
    /// α of the modules whose α is not `lora_alpha`.
    pub alpha_pattern: BTreeMap<String, f64>,
}

/// `name` is `key` or ends with `.key`: how PEFT matches target modules and patterns.
fn matches(name: &str, key: &str) -> bool {
    name == key
        || name
            .strip_suffix(key)
            .is_some_and(|head| head.ends_with('.'))
}

/// The value of the key of `pattern` that is `module`, or else of the first that is a
/// suffix of it.
fn lookup<V: Copy>(pattern: &BTreeMap<String, V>, module: &str) -> Option<V> {
    pattern.get(module).copied().or_else(|| {
        pattern
            .iter()
            .find(|(k, _)| matches(module, k))
            .map(|(_, &v)| v)
    })
}

/// The module name of an adapter saved under `prefix`: the prefix without its final `.`.
pub(super) fn module_of(prefix: &str) -> &str {
    prefix.strip_suffix('.').unwrap_or(prefix)
}

impl AdapterConfig {
    /// The metadata key under which a file's adapter configuration is recorded.
    pub const METADATA_KEY: &'static str = "adapter_config";

    /// The configuration of one adapter of rank `rank` and settings `config`, for module
    /// `module`.
    pub fn single(module: &str, rank: usize, config: &LoraConfig) -> Self {
        AdapterConfig {
            r: rank,
            lora_alpha: config.alpha,
            use_rslora: config.rslora,
            lora_dropout: config.dropout,
            target_modules: vec![module.to_owned()],
            rank_pattern: BTreeMap::new(),
            alpha_pattern: BTreeMap::new(),
        }
    }

    /// The rank of module `module`: from `rank_pattern` if a key is its name (or else is
    /// a suffix of it), else `r`.
    pub fn rank_of(&self, module: &str) -> usize {
        lookup(&self.rank_pattern, module).unwrap_or(self.r)
    }

    /// α of module `module`: from `alpha_pattern` if a key is its name (or else is a
    /// suffix of it), else `lora_alpha`.
    pub fn alpha_of(&self, module: &str) -> f64 {
        lookup(&self.alpha_pattern, module).unwrap_or(self.lora_alpha)
    }

    /// The text of PEFT's `adapter_config.json` for these adapters (`peft_type` `LORA`,
    /// no bias, no `fan_in_fan_out`).
    pub fn to_json(&self) -> String {
        let mut m = Map::new();
        m.insert("peft_type".into(), "LORA".into());
        m.insert("r".into(), self.r.into());
        m.insert("lora_alpha".into(), self.lora_alpha.into());
        m.insert("use_rslora".into(), self.use_rslora.into());
        m.insert("lora_dropout".into(), self.lora_dropout.into());
        m.insert("target_modules".into(), self.target_modules.clone().into());
        let ranks = self
            .rank_pattern
            .iter()
            .map(|(k, &v)| (k.clone(), v.into()));
        m.insert("rank_pattern".into(), Value::Object(ranks.collect()));
        let alphas = self
            .alpha_pattern
            .iter()
            .map(|(k, &v)| (k.clone(), v.into()));
        m.insert("alpha_pattern".into(), Value::Object(alphas.collect()));
        m.insert("bias".into(), "none".into());
        m.insert("fan_in_fan_out".into(), false.into());
        Value::Object(m).to_string()
    }

    /// Reads the text of an `adapter_config.json` (PEFT's, or [`to_json`](Self::to_json)'s).
    /// `Err` (a [`LoadError::Malformed`]) when it is not a JSON object, repeats a key, is
    /// not of a LoRA (`peft_type`), lacks `r` or `lora_alpha`, has a field of the wrong
    /// type, or asks for what these adapters do not compute (a `bias` other than `none`,
    /// `fan_in_fan_out`, DoRA). Absent optional fields take PEFT's defaults (no rsLoRA, no
    /// dropout, no patterns).
    pub fn from_json(text: &str) -> Result<Self, LoadError> {
        parse(text).map_err(|detail| LoadError::Malformed {
            path: None,
            detail: format!("adapter configuration: {detail}"),
        })
    }

    /// The configuration recorded in `file`'s metadata, `None` when it records none (a file
    /// written by PEFT keeps it beside, in `adapter_config.json`); `Err` when the record
    /// does not parse.
    pub fn from_metadata(file: &SafeTensors) -> Result<Option<Self>, LoadError> {
        file.metadata()
            .get(Self::METADATA_KEY)
            .map(|text| Self::from_json(text))
            .transpose()
    }

    /// Adds an adapter of module `module`, rank `rank` and settings `config` to the
    /// configuration recorded in `writer` (starting one if there is none): a rank or α
    /// other than the file's goes to `rank_pattern` / `alpha_pattern`, as PEFT records it.
    /// `Err` when rsLoRA differs from the adapters already recorded (PEFT records it once
    /// per file), or the metadata entry holds something else.
    pub(crate) fn record(
        writer: &mut SafetensorsWriter,
        module: &str,
        rank: usize,
        config: &LoraConfig,
    ) -> Result<(), SaveError> {
        let bad = |detail: String| SaveError::Metadata {
            key: Self::METADATA_KEY.to_owned(),
            detail,
        };
        let mut all = match writer.metadata_value(Self::METADATA_KEY) {
            None => Self::single(module, rank, config),
            Some(text) => {
                let mut all = Self::from_json(text).map_err(|e| bad(e.to_string()))?;
                if all.use_rslora != config.rslora {
                    return Err(bad(format!(
                        "adapter `{module}` has use_rslora = {}, the adapters saved before it \
                         {}: one file records one",
                        config.rslora, all.use_rslora
                    )));
                }
                if !all.target_modules.iter().any(|t| t == module) {
                    all.target_modules.push(module.to_owned());
                }
                if rank != all.r {
                    all.rank_pattern.insert(module.to_owned(), rank);
                }
                if config.alpha != all.lora_alpha {
                    all.alpha_pattern.insert(module.to_owned(), config.alpha);
                }
                all
            }
        };
        // Patterns are matched by suffix: the record must give this module its own values
        // even when a key recorded earlier is a suffix of its name.
        if all.rank_of(module) != rank {
            all.rank_pattern.insert(module.to_owned(), rank);
        }
        if all.alpha_of(module) != config.alpha {
            all.alpha_pattern.insert(module.to_owned(), config.alpha);
        }
        if all.rank_of(module) != rank || all.alpha_of(module) != config.alpha {
            return Err(bad(format!(
                "adapter `{module}`: its rank and α cannot be recorded apart from those of \
                 another module whose name ends like it"
            )));
        }
        writer.metadata(Self::METADATA_KEY, &all.to_json());
        Ok(())
    }

    /// `Err` naming the field and both values unless module `module` has rank `rank`, α
    /// `config.alpha` and rsLoRA `config.rslora` in this configuration (or the module is
    /// not among `target_modules`).
    pub(crate) fn check(
        &self,
        module: &str,
        rank: usize,
        config: &LoraConfig,
    ) -> Result<(), LoadError> {
        let item = format!("adapter `{module}`");
        let mismatch = |field: &str, expected: String, found: String| {
            Err(LoadError::Mismatch {
                item: item.clone(),
                field: field.to_owned(),
                expected,
                found,
            })
        };
        if !self.target_modules.iter().any(|t| matches(module, t)) {
            return mismatch(
                "target_modules",
                format!("`{module}` must be among them"),
                format!("{:?}", self.target_modules),
            );
        }
        if self.rank_of(module) != rank {
            return mismatch("r", rank.to_string(), self.rank_of(module).to_string());
        }
        if self.alpha_of(module) != config.alpha {
            return mismatch(
                "lora_alpha",
                config.alpha.to_string(),
                self.alpha_of(module).to_string(),
            );
        }
        if self.use_rslora != config.rslora {
            return mismatch(
                "use_rslora",
                config.rslora.to_string(),
                self.use_rslora.to_string(),
            );
        }
        Ok(())
    }
}

/// [`AdapterConfig::from_json`], its error the detail of the message.
fn parse(text: &str) -> Result<AdapterConfig, String> {
    let value = strict_json::parse(text, "field").map_err(|e| e.to_string())?;
    let Value::Object(m) = value else {
        return Err("not a JSON object".into());
    };
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let wrong = |key: &str, want: &str, v: &Value| {
        format!("`{key}` must be {want}, found {} ({v})", kind(v))
    };
    if let Some(v) = m.get("peft_type") {
        if v.as_str() != Some("LORA") {
            return Err(format!("`peft_type` is {v}: not a LoRA adapter"));
        }
    }
    let count = |key: &str, v: &Value| {
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| wrong(key, "a non-negative integer", v))
    };
    let alpha = |key: &str, v: &Value| {
        v.as_f64()
            .filter(|a| a.is_finite() && *a > 0.0)
            .ok_or_else(|| wrong(key, "a finite number greater than 0", v))
    };
    let r = count("r", m.get("r").ok_or("no `r` field")?)?;
    let lora_alpha = alpha(
        "lora_alpha",
        m.get("lora_alpha").ok_or("no `lora_alpha` field")?,
    )?;
    let flag = |key: &str| match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(wrong(key, "a boolean", v)),
    };
    let use_rslora = flag("use_rslora")?;
    if flag("fan_in_fan_out")? {
        return Err("`fan_in_fan_out` is true: these adapters store A and B untransposed".into());
    }
    if flag("use_dora")? {
        return Err("`use_dora` is true: DoRA adapters are not LoRA adapters".into());
    }
    if let Some(v) = m.get("bias") {
        if v.as_str() != Some("none") {
            return Err(format!("`bias` is {v}: these adapters train no bias"));
        }
    }
    let lora_dropout = match m.get("lora_dropout") {
        None | Some(Value::Null) => 0.0,
        Some(v) => v
            .as_f64()
            .filter(|d| (0.0..1.0).contains(d))
            .ok_or_else(|| wrong("lora_dropout", "a number in [0, 1)", v))?,
    };
    let target_modules = match m.get("target_modules") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| wrong("target_modules", "an array of strings", v))
            })
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(wrong("target_modules", "an array of strings", v)),
    };
    let pattern = |key: &str| -> Result<Vec<(String, Value)>, String> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(p)) => Ok(p.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            Some(v) => Err(wrong(key, "an object", v)),
        }
    };
    let rank_pattern = pattern("rank_pattern")?
        .into_iter()
        .map(|(k, v)| count(&format!("rank_pattern.{k}"), &v).map(|n| (k, n)))
        .collect::<Result<_, _>>()?;
    let alpha_pattern = pattern("alpha_pattern")?
        .into_iter()
        .map(|(k, v)| alpha(&format!("alpha_pattern.{k}"), &v).map(|a| (k, a)))
        .collect::<Result<_, _>>()?;
    Ok(AdapterConfig {
        r,
        lora_alpha,
        use_rslora,
        lora_dropout,
        target_modules,
        rank_pattern,
        alpha_pattern,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_reads_peft_files() {
        let mut c = AdapterConfig::single("layers.0.self_attn.q_proj", 8, &LoraConfig::alpha(0.1));
        c.rank_pattern.insert("v_proj".into(), 4);
        c.alpha_pattern.insert("v_proj".into(), 1.0 / 3.0);
        c.use_rslora = true;
        assert_eq!(AdapterConfig::from_json(&c.to_json()).unwrap(), c);
        assert_eq!(c.rank_of("layers.3.self_attn.v_proj"), 4);
        assert_eq!(c.rank_of("layers.3.self_attn.xv_proj"), 8);
        assert_eq!(c.alpha_of("v_proj"), 1.0 / 3.0);

        // As PEFT 0.13 writes it (abridged): integer α, a list of short names.
        let peft = r#"{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
            "target_modules": ["q_proj", "v_proj"], "bias": "none", "use_rslora": false,
            "fan_in_fan_out": false, "rank_pattern": {}, "alpha_pattern": {},
            "task_type": "CAUSAL_LM", "use_dora": false}"#;
        let c = AdapterConfig::from_json(peft).unwrap();
        assert_eq!((c.r, c.lora_alpha, c.lora_dropout), (8, 16.0, 0.05));
        assert!(c
            .check(
                "model.layers.0.self_attn.v_proj",
                8,
                &LoraConfig::alpha(16.0)
            )
            .is_ok());

        for (text, says) in [
            (r#"{"r": 8}"#, "no `lora_alpha` field"),
            (
                r#"{"r": 8, "r": 4, "lora_alpha": 8}"#,
                "field `r` is declared twice",
            ),
            (
                r#"{"r": -1, "lora_alpha": 8}"#,
                "`r` must be a non-negative integer",
            ),
            (
                r#"{"r": 8, "lora_alpha": 8, "bias": "all"}"#,
                "`bias` is \"all\"",
            ),
            (
                r#"{"peft_type": "IA3", "r": 8, "lora_alpha": 8}"#,
                "not a LoRA adapter",
            ),
        ] {
            let err = AdapterConfig::from_json(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
