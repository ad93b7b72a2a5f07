//! [`Checkpoint`]: the weights of a Hugging Face model directory, one `model.safetensors`
//! or shards `model-0000i-of-0000n.safetensors` listed by `model.safetensors.index.json`,
//! loaded by name as one file is ([`SafeTensors`]); and [`ShardIndex`], the index.
//!
//! The index is `{"metadata": {…}, "weight_map": {tensor name: shard file name}}`. Opening
//! checks that the index and the shards agree exactly, before any tensor is loaded: every
//! shard the index names is there and is a valid safetensors file, every tensor the index
//! names is in the shard it says, and no shard holds a tensor the index does not put there
//! (a tensor in two shards, or in none the index names, would leave the loaded value up to
//! the order of reading). A shard's name must be a plain file name in the directory: an
//! index cannot make the loader read `../elsewhere` or `/etc/…`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::strict_json::{self, StrictError};
use super::{LoadError, SafeTensors, TensorInfo};
use crate::element::Float;
use crate::shape::{Shape, StaticShape};
use crate::tensor::Tensor;

/// The file name of a checkpoint stored as one file.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The file name of a sharded checkpoint's index.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// The index of a sharded checkpoint (`model.safetensors.index.json`): which shard file
/// holds each tensor.
///
/// ```
/// use shapecheck::io::ShardIndex;
///
/// let index = ShardIndex::from_json(r#"{
///     "metadata": {"total_size": 1024},
///     "weight_map": {
///         "lm_head.weight": "model-00002-of-00002.safetensors",
///         "model.norm.weight": "model-00001-of-00002.safetensors"
///     }
/// }"#)?;
/// assert_eq!(index.shard_of("lm_head.weight"), Some("model-00002-of-00002.safetensors"));
/// assert_eq!(index.shards(), ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
///
/// // A shard name that leaves the checkpoint's directory is refused.
/// let err = ShardIndex::from_json(r#"{"weight_map": {"w": "../secrets.safetensors"}}"#)
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "checkpoint: weight_map puts tensor `w` in \"../secrets.safetensors\", which \
///      is not a plain file name (a shard must sit in the index's directory)"
/// );
/// # Ok::<(), shapecheck::io::LoadError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    /// Parses the text of an index. `Err` ([`LoadError::Checkpoint`], without a path) when
    /// it is not JSON, repeats a key, has no `weight_map` object of strings, names no
    /// tensor, or names a shard that is not a plain file name (empty, `.`, `..`, or with a
    /// path separator, a drive prefix or a NUL). Other keys (`metadata`) are not read.
    pub fn from_json(text: &str) -> Result<Self, LoadError> {
        parse_index(text).map_err(|detail| LoadError::Checkpoint { path: None, detail })
    }

    /// Reads and parses the index file at `path`; errors name the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let text = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(text).map_err(|e| LoadError::Checkpoint {
            path: Some(path.to_path_buf()),
            detail: format!(
                "the index is not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        })?;
        parse_index(&text).map_err(|detail| LoadError::Checkpoint {
            path: Some(path.to_path_buf()),
            detail,
        })
    }

    /// Every tensor name with the file name of its shard, sorted by tensor name.
    pub fn weight_map(&self) -> &BTreeMap<String, String> {
        &self.weight_map
    }

    /// The file name of the shard holding tensor `name`.
    pub fn shard_of(&self, name: &str) -> Option<&str> {
        self.weight_map.get(name).map(String::as_str)
    }

    /// The file names of the shards, sorted, each once.
    pub fn shards(&self) -> Vec<&str> {
        let mut shards: Vec<&str> = self.weight_map.values().map(String::as_str).collect();
        shards.sort_unstable();
        shards.dedup();
        shards
    }
}

fn parse_index(text: &str) -> Result<ShardIndex, String> {
    let json = strict_json::parse(text, "key").map_err(|e| match e {
        StrictError::Syntax(e) => format!("the index is not valid JSON: {e}"),
        StrictError::Duplicate(e) => {
            format!("the index is ambiguous: {e}; a name must appear once")
        }
    })?;
    let Value::Object(mut top) = json else {
        return Err("the index must be a JSON object with a `weight_map`".into());
    };
    let Some(Value::Object(map)) = top.remove("weight_map") else {
        return Err("the index has no `weight_map` object (tensor name → shard file)".into());
    };
    if map.is_empty() {
        return Err("the index's `weight_map` names no tensor".into());
    }
    let mut weight_map = BTreeMap::new();
    for (name, shard) in map {
        let Value::String(shard) = shard else {
            return Err(format!(
                "weight_map puts tensor `{name}` in {}, which is not a file name (a string)",
                brief(&shard)
            ));
        };
        if !is_plain_file_name(&shard) {
            return Err(format!(
                "weight_map puts tensor `{name}` in {shard:?}, which is not a plain file name \
                 (a shard must sit in the index's directory)"
            ));
        }
        weight_map.insert(name, shard);
    }
    Ok(ShardIndex { weight_map })
}

/// One normal path component, on every platform: no separator of either kind, no drive
/// prefix, not `.` or `..`, no NUL.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(['/', '\\', ':', '\0'])
        && matches!(
            Path::new(name).components().collect::<Vec<_>>().as_slice(),
            [Component::Normal(_)]
        )
}

/// A JSON value for a message, cut short.
fn brief(value: &Value) -> String {
    const MAX: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// One file of a checkpoint.
#[derive(Debug)]
struct Shard {
    /// Where it was read from (`None` for bytes given in memory).
    path: Option<PathBuf>,
    file: SafeTensors,
}

/// The weights of a Hugging Face model directory: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` lists, read and checked against each other up front,
/// with the same [`load`](Self::load) / [`load_with`](Self::load_with) / [`names`](Self::names)
/// / [`info`](Self::info) as one [`SafeTensors`] file.
///
/// ```
/// use shapecheck::io::{Checkpoint, SafeTensors, ShardIndex};
/// use shapecheck::prelude::*;
///
/// // Two shards, built in memory (Checkpoint::open reads them from a directory): each
/// // tensor is 2 floats, the first tensor of a shard [1, 2], the next [3, 4].
/// fn shard(names: &[&str]) -> SafeTensors {
///     let entries: Vec<String> = names
///         .iter()
///         .enumerate()
///         .map(|(i, n)| {
///             let (b, e) = (8 * i, 8 * i + 8);
///             format!(r#""{n}":{{"dtype":"F32","shape":[2],"data_offsets":[{b},{e}]}}"#)
///         })
///         .collect();
///     let header = format!("{{{}}}", entries.join(","));
///     let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
///     bytes.extend_from_slice(header.as_bytes());
///     for x in 0..2 * names.len() {
///         bytes.extend_from_slice(&(x as f32 + 1.0).to_le_bytes());
///     }
///     SafeTensors::from_bytes(bytes).unwrap()
/// }
/// let index = ShardIndex::from_json(
///     r#"{"weight_map": {"a": "model-00001-of-00002.safetensors",
///                        "b": "model-00002-of-00002.safetensors"}}"#,
/// )?;
/// let ckpt = Checkpoint::from_shards(&index, [
///     ("model-00001-of-00002.safetensors".to_string(), shard(&["a"])),
///     ("model-00002-of-00002.safetensors".to_string(), shard(&["b"])),
/// ])?;
/// assert_eq!(ckpt.names(), ["a", "b"]);
/// let b: Tensor<(D<2>,)> = ckpt.load("b")?;
/// assert_eq!(b.as_slice(), &[1.0, 2.0]);
///
/// // A shard that also holds a tensor the index puts elsewhere: an error naming both.
/// let err = Checkpoint::from_shards(&index, [
///     ("model-00001-of-00002.safetensors".to_string(), shard(&["a"])),
///     ("model-00002-of-00002.safetensors".to_string(), shard(&["b", "a"])),
/// ]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "checkpoint: shard `model-00002-of-00002.safetensors` holds tensor `a`, which the \
///      index puts in `model-00001-of-00002.safetensors` (a tensor must be in one shard)"
/// );
/// # Ok::<(), shapecheck::io::LoadError>(())
/// ```
#[derive(Debug)]
pub struct Checkpoint {
    shards: Vec<Shard>,
    /// Each tensor's shard, by name.
    index: BTreeMap<String, usize>,
}

impl From<SafeTensors> for Checkpoint {
    /// A checkpoint of one file, so that a loader written for [`Checkpoint`] takes a
    /// single [`SafeTensors`] too.
    fn from(file: SafeTensors) -> Self {
        let index = file.names().iter().map(|&n| (n.to_owned(), 0)).collect();
        Checkpoint {
            shards: vec![Shard { path: None, file }],
            index,
        }
    }
}

impl Checkpoint {
    /// Opens a checkpoint: a directory holding `model.safetensors` (read first, as
    /// transformers does, when both are present) or `model.safetensors.index.json` and its
    /// shards; or the path of either file itself.
    ///
    /// `Err` naming the file at fault: [`LoadError::Io`] for a file that cannot be read,
    /// [`LoadError::Malformed`] for a shard that is not valid safetensors, and
    /// [`LoadError::Checkpoint`] for a directory with neither file, an index that does not
    /// parse (see [`ShardIndex::from_json`]), a shard the index names that is missing, a
    /// tensor the index names that its shard lacks, or a tensor in a shard other than the
    /// index says (in two shards, or not named by the index).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        if path.is_dir() {
            let single = path.join(SINGLE_FILE);
            if single.is_file() {
                return Self::open_single(&single);
            }
            let index = path.join(INDEX_FILE);
            if index.is_file() {
                return Self::open_sharded(&index);
            }
            return Err(LoadError::Checkpoint {
                path: Some(path.to_path_buf()),
                detail: format!("the directory holds neither `{SINGLE_FILE}` nor `{INDEX_FILE}`"),
            });
        }
        let is_index = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".index.json"));
        if is_index {
            Self::open_sharded(path)
        } else {
            Self::open_single(path)
        }
    }

    fn open_single(path: &Path) -> Result<Self, LoadError> {
        let mut ckpt = Checkpoint::from(SafeTensors::open(path)?);
        ckpt.shards[0].path = Some(path.to_path_buf());
        Ok(ckpt)
    }

    fn open_sharded(index_path: &Path) -> Result<Self, LoadError> {
        let index = ShardIndex::open(index_path)?;
        let dir = index_path.parent().unwrap_or(Path::new(""));
        // Every shard is looked for before any is read: a missing one is reported at once,
        // not after gigabytes of the others.
        for shard in index.shards() {
            let path = dir.join(shard);
            if !path.is_file() {
                let tensors = index.weight_map.values().filter(|s| *s == shard).count();
                let first = index
                    .weight_map
                    .iter()
                    .find(|(_, s)| *s == shard)
                    .map(|(n, _)| n.as_str())
                    .unwrap_or("?");
                let others = match tensors {
                    1 => String::new(),
                    n => format!(" and {} other{}", n - 1, if n == 2 { "" } else { "s" }),
                };
                return Err(LoadError::Checkpoint {
                    path: Some(index_path.to_path_buf()),
                    detail: format!(
                        "the index puts tensor `{first}`{others} in shard `{shard}`, but \
                         `{}` is not a file",
                        path.display()
                    ),
                });
            }
        }
        let mut shards = Vec::new();
        for shard in index.shards() {
            let path = dir.join(shard);
            let file = SafeTensors::open(&path)?;
            shards.push((shard.to_owned(), file, Some(path)));
        }
        Self::assemble(&index, shards)
    }

    /// A checkpoint from an index and its shards given in memory, each with the file name
    /// the index uses for it; checked as [`open`](Self::open) checks a directory (a shard
    /// the index names but that is not given, a tensor in another shard than the index
    /// says, a shard given twice or that the index does not name).
    pub fn from_shards(
        index: &ShardIndex,
        shards: impl IntoIterator<Item = (String, SafeTensors)>,
    ) -> Result<Self, LoadError> {
        Self::assemble(
            index,
            shards.into_iter().map(|(n, f)| (n, f, None)).collect(),
        )
    }

    fn assemble(
        index: &ShardIndex,
        given: Vec<(String, SafeTensors, Option<PathBuf>)>,
    ) -> Result<Self, LoadError> {
        let error = |path: &Option<PathBuf>, detail: String| LoadError::Checkpoint {
            path: path.clone(),
            detail,
        };
        let wanted = index.shards();
        let mut position: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, (name, _, path)) in given.iter().enumerate() {
            if wanted.binary_search(&name.as_str()).is_err() {
                return Err(error(
                    path,
                    format!("shard `{name}` is not named by the index"),
                ));
            }
            if position.insert(name.as_str(), i).is_some() {
                return Err(error(path, format!("shard `{name}` is given twice")));
            }
        }
        let mut shard_of = BTreeMap::new();
        for (tensor, shard) in &index.weight_map {
            let Some(&i) = position.get(shard.as_str()) else {
                return Err(LoadError::Checkpoint {
                    path: None,
                    detail: format!(
                        "shard `{shard}`, where the index puts tensor `{tensor}`, is not given"
                    ),
                });
            };
            shard_of.insert(tensor.clone(), i);
        }
        // The index's side: each tensor is in the shard it names.
        for (tensor, shard) in &index.weight_map {
            let (_, file, path) = &given[shard_of[tensor]];
            if file.info(tensor).is_none() {
                return Err(error(
                    path,
                    format!("shard `{shard}` has no tensor `{tensor}`, which the index puts in it"),
                ));
            }
        }
        // The shards' side: each tensor of a shard is one the index puts there.
        for (name, file, path) in &given {
            for tensor in file.names() {
                match index.shard_of(tensor) {
                    Some(s) if s == name => {}
                    Some(s) => {
                        return Err(error(
                            path,
                            format!(
                                "shard `{name}` holds tensor `{tensor}`, which the index puts \
                                 in `{s}` (a tensor must be in one shard)"
                            ),
                        ))
                    }
                    None => {
                        return Err(error(
                            path,
                            format!(
                                "shard `{name}` holds tensor `{tensor}`, which the index does \
                                 not name"
                            ),
                        ))
                    }
                }
            }
        }
        Ok(Checkpoint {
            shards: given
                .into_iter()
                .map(|(_, file, path)| Shard { path, file })
                .collect(),
            index: shard_of,
        })
    }

    fn file_of(&self, name: &str) -> Option<&SafeTensors> {
        self.index.get(name).map(|&i| &self.shards[i].file)
    }

    /// The names of the tensors of all shards, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.index.keys().map(String::as_str).collect()
    }

    /// The dtype and shape of tensor `name` as stored, or `None` if no shard has it.
    pub fn info(&self, name: &str) -> Option<TensorInfo> {
        self.file_of(name)?.info(name)
    }

    /// The stored little-endian bytes of tensor `name`.
    pub fn data(&self, name: &str) -> Option<&[u8]> {
        self.file_of(name)?.data(name)
    }

    /// The file tensor `name` was read from (`None` for a shard given in memory, or a name
    /// no shard has).
    pub fn path_of(&self, name: &str) -> Option<&Path> {
        self.index
            .get(name)
            .and_then(|&i| self.shards[i].path.as_deref())
    }

    /// The number of files the checkpoint was read from (1 for `model.safetensors`).
    pub fn num_shards(&self) -> usize {
        self.shards.len()
    }

    /// Loads tensor `name` as a tensor of static shape `S`, as
    /// [`SafeTensors::load`] does.
    pub fn load<S: StaticShape, T: Float>(&self, name: &str) -> Result<Tensor<S, T>, LoadError> {
        self.load_with(name, S::default())
    }

    /// Loads tensor `name` as a tensor of shape `shape`, as [`SafeTensors::load_with`]
    /// does: `F32`, `F16`, `BF16` and `F64` convert to `T`; a missing name, another dtype
    /// or another shape is an error naming the tensor.
    pub fn load_with<S: Shape, T: Float>(
        &self,
        name: &str,
        shape: S,
    ) -> Result<Tensor<S, T>, LoadError> {
        match self.file_of(name) {
            Some(file) => file.load_with(name, shape),
            None => Err(LoadError::Missing {
                name: name.to_owned(),
            }),
        }
    }
}
