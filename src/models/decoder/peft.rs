//! A decoder's LoRA adapters as PEFT saves them: a directory holding
//! `adapter_model.safetensors` (the factors under PEFT's names,
//! `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`, …,
//! `….layers.{i}.mlp.gate_proj.lora_A.weight`, …) and
//! `adapter_config.json` (`r`, `lora_alpha`, `target_modules`, `lora_dropout`,
//! `use_rslora`, `bias` `none`, `task_type` `CAUSAL_LM`, `base_model_name_or_path`), which
//! `PeftModel.from_pretrained` loads onto the Hugging Face model, and which
//! [`Decoder::load_peft`] reads back — or reads from PEFT.
//!
//! Loading checks the configuration against the decoder before it replaces anything:
//! a target module the decoder cannot adapt (one that is none of q/k/v/o and
//! gate/up/down_proj, such as `lm_head`), a `bias`, DoRA,
//! `layers_to_transform` or `modules_to_save` is refused; a tensor missing, of another
//! shape (an `Err` naming the key and both shapes) or not an adapter of the decoder is
//! refused; and when the decoder already has adapters, their ranks, α and rsLoRA must be
//! the file's.
//!
//! ```
//! use shapecheck::models::decoder::{Decoder, RuntimeDims};
//! // A tiny LLaMA and a rank-4 adapter on q/k/v/o that PEFT saved (tests/fixtures/peft).
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/peft");
//! let mut model = Decoder::<RuntimeDims>::from_hf_dir(format!("{dir}/base"))?;
//! let config = model.load_peft(format!("{dir}/adapter"))?;
//! assert_eq!((config.r, config.lora_alpha), (4, 8.0));
//! // Per layer 4·(32 + 32) for q and o, 4·(32 + 16) for k and v; two layers.
//! assert_eq!(model.num_adapter_params(), 2 * (2 * 256 + 2 * 192));
//! let out = std::env::temp_dir().join(format!("shapecheck-peft-doc-{}", std::process::id()));
//! model.save_peft(&out, "tiny-llama")?;
//! let mut again = Decoder::<RuntimeDims>::from_hf_dir(format!("{dir}/base"))?;
//! again.load_peft(&out)?;
//! # std::fs::remove_dir_all(&out)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use serde_json::Value;

use super::{Decoder, DecoderDims};
use crate::autodiff::Params;
use crate::element::Float;
use crate::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};
use crate::nn::lora::{AdapterConfig, LoraConfig, MlpAdapters};
use crate::nn::self_attention::{AttnAdapters, LoraTargets};

/// The file of the factors in a PEFT adapter directory.
pub const PEFT_WEIGHTS: &str = "adapter_model.safetensors";
/// The file of the configuration in a PEFT adapter directory.
pub const PEFT_CONFIG: &str = "adapter_config.json";
/// What PEFT puts before a Hugging Face causal LM's module names
/// (`PeftModelForCausalLM.base_model.model`, then `LlamaForCausalLM.model`).
pub const PEFT_PREFIX: &str = "base_model.model.model.";

/// PEFT settings (0.21) that change what an adapted model computes, beyond those
/// [`AdapterConfig::from_json`] refuses: loading refuses any of them set.
const REFUSED: [&str; 8] = [
    "layers_to_transform",
    "layers_pattern",
    "modules_to_save",
    "exclude_modules",
    "lora_bias",
    "layer_replication",
    "trainable_token_indices",
    "target_parameters",
];

/// The projections an adapter can sit on, as Hugging Face names them.
const PROJ: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];

/// The projection's own name, the last part of its path (`q_proj` of `self_attn.q_proj`).
fn short(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// The flags of `t` in [`PROJ`]'s order.
fn flags(t: LoraTargets) -> [bool; 7] {
    [t.q, t.k, t.v, t.o, t.gate, t.up, t.down]
}

/// The targets of which only `PROJ[index]` is on.
fn only(index: usize) -> LoraTargets {
    let mut f = [false; 7];
    f[index] = true;
    let [q, k, v, o, gate, up, down] = f;
    LoraTargets {
        q,
        k,
        v,
        o,
        gate,
        up,
        down,
    }
}

/// Which projections a PEFT `target_modules` list names, each entry read as PEFT matches
/// it (a module name or a `.`-separated suffix of one): `Err` naming an entry that is
/// no attention projection of a decoder layer.
fn targets_of(modules: &[String]) -> Result<LoraTargets, String> {
    let mut t = LoraTargets::NONE;
    for m in modules {
        let last = m.rsplit('.').next().unwrap_or(m);
        match last {
            "q_proj" => t.q = true,
            "k_proj" => t.k = true,
            "v_proj" => t.v = true,
            "o_proj" => t.o = true,
            "gate_proj" => t.gate = true,
            "up_proj" => t.up = true,
            "down_proj" => t.down = true,
            _ => {
                return Err(format!(
                    "target module `{m}` is not one this decoder adapts (q_proj, k_proj, \
                     v_proj, o_proj, gate_proj, up_proj, down_proj)"
                ))
            }
        }
    }
    if t == LoraTargets::NONE {
        return Err("`target_modules` names no module".into());
    }
    Ok(t)
}

fn malformed(path: &Path, detail: String) -> LoadError {
    LoadError::Malformed {
        path: Some(path.to_owned()),
        detail: format!("adapter configuration: {detail}"),
    }
}

impl<D: DecoderDims, T: Float> Decoder<D, T> {
    /// The projections that have an adapter in every block, or `Err` when blocks differ.
    fn adapted_targets(&self) -> Result<LoraTargets, String> {
        let of = |l: &AttnAdapters<_, _, _, _, T>, m: &MlpAdapters<_, _, T>| LoraTargets {
            q: l.q.is_some(),
            k: l.k.is_some(),
            v: l.v.is_some(),
            o: l.o.is_some(),
            gate: m.gate.is_some(),
            up: m.up.is_some(),
            down: m.down.is_some(),
        };
        let mut blocks = self.blocks.iter().map(|b| of(&b.attn.lora, &b.mlp_lora));
        let first = blocks.next().unwrap_or(LoraTargets::NONE);
        if blocks.any(|t| t != first) {
            return Err("the blocks have adapters on different projections; PEFT's \
                        `target_modules` gives one list for all layers"
                .into());
        }
        Ok(first)
    }

    /// The adapters as PEFT's `adapter_model.safetensors` in memory (PEFT's key names,
    /// the configuration also recorded in the metadata) and the text of its
    /// `adapter_config.json`, `base_model_name_or_path` set to `base_model`.
    ///
    /// `Err` when there is no adapter, when blocks are adapted on different projections,
    /// or when the adapters disagree on rsLoRA.
    pub fn adapters_to_peft(
        &self,
        base_model: &str,
    ) -> Result<(SafetensorsWriter, String), SaveError> {
        let bad = |detail: String| SaveError::Metadata {
            key: AdapterConfig::METADATA_KEY.to_owned(),
            detail,
        };
        let targets = self.adapted_targets().map_err(bad)?;
        if targets == LoraTargets::NONE {
            return Err(bad("the decoder has no adapter to save".into()));
        }
        let mut file = self.adapters_under(PEFT_PREFIX)?;
        let recorded = file
            .metadata_value(AdapterConfig::METADATA_KEY)
            .map(AdapterConfig::from_json)
            .transpose()
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| bad("no adapter was recorded".into()))?;
        // PEFT's form: the short names in `target_modules`, `r` and `lora_alpha` the most
        // common values, the others in the patterns, keyed by projection (`v_proj`) when
        // every layer agrees, else by the Hugging Face module name.
        let modules: Vec<(usize, &str)> = (0..self.blocks.len())
            .flat_map(|i| names(targets).into_iter().map(move |n| (i, n)))
            .collect();
        let full = |(i, n): (usize, &str)| format!("{PEFT_PREFIX}layers.{i}.{n}");
        let ranks: Vec<_> = modules
            .iter()
            .map(|&m| (m, recorded.rank_of(&full(m))))
            .collect();
        let alphas: Vec<_> = modules
            .iter()
            .map(|&m| (m, recorded.alpha_of(&full(m))))
            .collect();
        let (r, rank_pattern) = pattern(&ranks, recorded.r);
        let (lora_alpha, alpha_pattern) = pattern(&alphas, recorded.lora_alpha);
        let config = AdapterConfig {
            r,
            lora_alpha,
            target_modules: names(targets)
                .into_iter()
                .map(|n| short(n).to_owned())
                .collect(),
            rank_pattern,
            alpha_pattern,
            ..recorded
        };
        let Ok(Value::Object(mut json)) = serde_json::from_str::<Value>(&config.to_json()) else {
            return Err(bad(
                "the configuration did not serialise to an object".into()
            ));
        };
        json.insert("task_type".into(), "CAUSAL_LM".into());
        json.insert("base_model_name_or_path".into(), base_model.into());
        json.insert("inference_mode".into(), true.into());
        json.insert("init_lora_weights".into(), true.into());
        json.insert("layers_to_transform".into(), Value::Null);
        json.insert("modules_to_save".into(), Value::Null);
        json.insert("use_dora".into(), false.into());
        let text =
            serde_json::to_string_pretty(&Value::Object(json)).map_err(|e| bad(e.to_string()))?;
        file.metadata(AdapterConfig::METADATA_KEY, &config.to_json())
            .metadata("format", "pt");
        Ok((file, text))
    }

    /// Writes the adapters to directory `dir` (created if missing) as PEFT does:
    /// [`PEFT_WEIGHTS`] and [`PEFT_CONFIG`] ([`adapters_to_peft`](Self::adapters_to_peft)),
    /// for `PeftModel.from_pretrained(base, dir)` and [`load_peft`](Self::load_peft).
    pub fn save_peft(&self, dir: impl AsRef<Path>, base_model: &str) -> Result<(), SaveError> {
        let dir = dir.as_ref();
        let (file, config) = self.adapters_to_peft(base_model)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SaveError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        file.write(dir.join(PEFT_WEIGHTS))?;
        let path = dir.join(PEFT_CONFIG);
        std::fs::write(&path, config).map_err(io(&path))
    }

    /// Loads the PEFT adapter directory `dir` ([`PEFT_CONFIG`] and [`PEFT_WEIGHTS`], as
    /// PEFT's `save_pretrained` or [`save_peft`](Self::save_peft) writes them) and returns
    /// its configuration.
    ///
    /// A decoder without adapters gets them first, as the configuration says (every
    /// layer's `target_modules`, each of its rank and α, rsLoRA), and is frozen
    /// ([`add_adapters`](Self::add_adapters)); a decoder with adapters must have them on
    /// the same projections with the same ranks, α and rsLoRA.
    ///
    /// `Err`, leaving the decoder's adapters as they were, when a file cannot be read or
    /// parsed, the configuration asks for what the decoder does not compute (a target
    /// module that is not an attention projection, `bias`, DoRA, `fan_in_fan_out`,
    /// `layers_to_transform`, `modules_to_save`), a rank exceeds a projection's smaller
    /// side, a tensor is missing or has another shape ([`LoadError::Shape`], naming the
    /// key and both shapes), a tensor is not one of the adapters, or the adapters already
    /// there differ from the file's ([`LoadError::Mismatch`]).
    pub fn load_peft(&mut self, dir: impl AsRef<Path>) -> Result<AdapterConfig, LoadError> {
        let dir = dir.as_ref();
        let config_path = dir.join(PEFT_CONFIG);
        let text = std::fs::read_to_string(&config_path).map_err(|source| LoadError::Io {
            path: config_path.clone(),
            source,
        })?;
        let config = AdapterConfig::from_json(&text).map_err(|e| match e {
            LoadError::Malformed { path: None, detail } => LoadError::Malformed {
                path: Some(config_path.clone()),
                detail,
            },
            e => e,
        })?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| malformed(&config_path, e.to_string()))?;
        // Settings that would make PEFT compute something else than these adapters: each
        // must be absent, null, false or empty.
        for key in REFUSED {
            match json.get(key) {
                None | Some(Value::Null) | Some(Value::Bool(false)) => {}
                Some(Value::Array(a)) if a.is_empty() => {}
                Some(Value::Object(o)) if o.is_empty() => {}
                Some(v) => {
                    return Err(malformed(
                        &config_path,
                        format!("`{key}` is {v}: these adapters do not compute it"),
                    ))
                }
            }
        }
        let targets = targets_of(&config.target_modules).map_err(|d| malformed(&config_path, d))?;
        let weights = dir.join(PEFT_WEIGHTS);
        let file = SafeTensors::open(&weights)?;
        let with_path = |e: LoadError| match e {
            LoadError::Malformed { path: None, detail } => LoadError::Malformed {
                path: Some(weights.clone()),
                detail,
            },
            e => e,
        };
        if self.has_adapters() {
            let have = self
                .adapted_targets()
                .map_err(|d| malformed(&config_path, d))?;
            if have != targets {
                return Err(LoadError::Mismatch {
                    item: "the decoder's adapters".into(),
                    field: "target_modules".into(),
                    expected: format!(
                        "{:?}",
                        names(have).into_iter().map(short).collect::<Vec<_>>()
                    ),
                    found: format!("{:?}", config.target_modules),
                });
            }
            return self
                .load_adapters_under(&file, PEFT_PREFIX, &config)
                .map(|()| config)
                .map_err(with_path);
        }
        if let Err(e) = self.add_from_config(targets, &config) {
            self.drop_adapters();
            return Err(malformed(&config_path, e.to_string()));
        }
        match self.load_adapters_under(&file, PEFT_PREFIX, &config) {
            Ok(()) => Ok(config),
            Err(e) => {
                self.drop_adapters();
                Err(with_path(e))
            }
        }
    }

    /// Freezes the decoder and adds the adapters `config` describes, each of its own rank
    /// and α (PEFT's `rank_pattern` and `alpha_pattern`).
    fn add_from_config(
        &mut self,
        targets: LoraTargets,
        config: &AdapterConfig,
    ) -> Result<(), crate::Error> {
        Params::freeze(self);
        for (i, b) in self.blocks.iter_mut().enumerate() {
            for (j, (n, on)) in PROJ.iter().zip(flags(targets)).enumerate() {
                if !on {
                    continue;
                }
                let module = format!("model.layers.{i}.{n}");
                let lora = LoraConfig {
                    alpha: config.alpha_of(&module),
                    dropout: config.lora_dropout,
                    rslora: config.use_rslora,
                };
                b.add_adapters(only(j), config.rank_of(&module), lora, 7 * i as u64)?;
            }
        }
        Ok(())
    }

    /// Removes every adapter (a refused load leaves the decoder without any, as it was).
    fn drop_adapters(&mut self) {
        for b in &mut self.blocks {
            b.attn.lora = AttnAdapters::none();
            b.mlp_lora = MlpAdapters::none();
        }
    }
}

/// The most common value of `values` (`fallback` when there is none) and the pattern of
/// the modules whose value differs (ties go to the first module's value): keyed by the projection's name when all its layers
/// agree, else by `model.layers.{i}.self_attn.{name}` or `model.layers.{i}.mlp.{name}`.
fn pattern<V: PartialEq + Copy>(
    values: &[((usize, &str), V)],
    fallback: V,
) -> (V, std::collections::BTreeMap<String, V>) {
    let count = |v: V| values.iter().filter(|(_, w)| *w == v).count();
    // Ties go to the first in the modules' order (q, k, v, o of layer 0 first).
    let (mut common, mut best) = (fallback, 0);
    for (_, v) in values {
        if count(*v) > best {
            (common, best) = (*v, count(*v));
        }
    }
    let mut out = std::collections::BTreeMap::new();
    for proj in PROJ {
        let of: Vec<_> = values.iter().filter(|((_, n), _)| *n == proj).collect();
        let Some((_, first)) = of.first() else {
            continue;
        };
        if of.iter().all(|(_, v)| v == first) {
            if *first != common {
                out.insert(short(proj).to_owned(), *first);
            }
        } else {
            for ((i, n), v) in of.iter().filter(|(_, v)| *v != common) {
                out.insert(format!("model.layers.{i}.{n}"), *v);
            }
        }
    }
    (common, out)
}

/// The names of the projections `t` selects.
fn names(t: LoraTargets) -> Vec<&'static str> {
    PROJ.iter()
        .zip(flags(t))
        .filter_map(|(n, on)| on.then_some(*n))
        .collect()
}
