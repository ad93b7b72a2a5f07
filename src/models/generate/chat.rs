//! Chat templates: the Jinja program an instruct model ships to turn a conversation into
//! its prompt (`tokenizer.chat_template` in a GGUF, `chat_template` in
//! `tokenizer_config.json`), rendered as transformers' `apply_chat_template` renders it.
//!
//! transformers runs a template in a Jinja2 sandbox with `trim_blocks` and
//! `lstrip_blocks`, the loop controls (`break`, `continue`), the globals
//! `raise_exception(message)` and `namespace`, a `tojson` filter, and passes `messages`,
//! `add_generation_prompt`, `tools`, `documents` (both `None` here) and the tokenizer's
//! special tokens (`bos_token`, `eos_token`). The same environment is built here on
//! minijinja, with its Python compatibility layer for the string methods templates call
//! (`.strip()`, `.startswith()`, `.split()`, …). tests/generate.rs compares the rendered
//! strings with transformers' for SmolLM2's, Llama 3's and Qwen3's templates and a
//! Mistral-style one that raises.
//!
//! Not provided: `strftime_now` (templates that call it unguarded fail with an unknown
//! function error; Llama 3.1's test `strftime_now is defined` and fall back to their date),
//! tools and documents (passed as none).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Serde, ValueKind};
use minijinja::{Environment, ErrorKind, Value};

use super::GenerateError;
use crate::io::Gguf;

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// `"system"`, `"user"`, `"assistant"` (or whatever roles the template knows).
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message of `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// A compiled chat template with the special tokens it may print.
///
/// ```
/// use shapecheck::models::generate::{ChatMessage, ChatTemplate};
/// let chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n{% endfor %}\
///               {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
/// let t = ChatTemplate::new(chatml, "string")?;
/// let prompt = t.render(&[ChatMessage::user("  Hi!  ")], true)?;
/// assert_eq!(prompt, "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n");
///
/// let strict = ChatTemplate::new(
///     "{% if messages[0].role != 'user' %}{{ raise_exception('the first message must be the user\\'s') }}{% endif %}",
///     "string",
/// )?;
/// let err = strict.render(&[ChatMessage::assistant("Hello")], false).unwrap_err();
/// assert!(err.to_string().contains("the first message must be the user's"), "{err}");
/// # Ok::<(), shapecheck::models::generate::GenerateError>(())
/// ```
pub struct ChatTemplate {
    env: Environment<'static>,
    source_name: String,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source_name", &self.source_name)
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

/// The name the template is stored under in its environment.
const NAME: &str = "chat_template";

impl ChatTemplate {
    /// Compiles `template`; `source_name` says where it came from in error messages.
    ///
    /// # Errors
    /// [`GenerateError::Template`] with the engine's message (and line) if it does not
    /// compile.
    pub fn new(template: &str, source_name: &str) -> Result<Self, GenerateError> {
        let mut env = Environment::new();
        // transformers: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| template_err(source_name, &e))?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<Value, _> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_filter("tojson", tojson);
        env.add_template_owned(NAME, template.to_string())
            .map_err(|e| template_err(source_name, &e))?;
        Ok(ChatTemplate {
            env,
            source_name: source_name.to_string(),
            bos_token: None,
            eos_token: None,
        })
    }

    /// The same template printing `bos_token` and `eos_token` as these strings (a
    /// template that prints a special token left unset prints nothing).
    pub fn with_special_tokens(mut self, bos: Option<&str>, eos: Option<&str>) -> Self {
        self.bos_token = bos.map(str::to_string);
        self.eos_token = eos.map(str::to_string);
        self
    }

    /// The template of a GGUF file (`tokenizer.chat_template`), its special tokens the
    /// strings of `tokenizer.ggml.bos_token_id` and `eos_token_id` in
    /// `tokenizer.ggml.tokens`.
    ///
    /// # Errors
    /// [`GenerateError::Template`] if the file has no template, a special id is not a
    /// token, or the template does not compile.
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, GenerateError> {
        let meta = gguf.metadata();
        let err = |message: String| GenerateError::Template {
            source_name: "GGUF".to_string(),
            message,
        };
        let template = meta
            .get_str("tokenizer.chat_template")
            .map_err(|e| err(e.to_string()))?;
        let token = |key: &str| -> Result<Option<String>, GenerateError> {
            if !meta.contains(key) {
                return Ok(None);
            }
            let id = meta.get_usize(key).map_err(|e| err(e.to_string()))?;
            let tokens = meta
                .get_str_array("tokenizer.ggml.tokens")
                .map_err(|e| err(e.to_string()))?;
            tokens.get(id).cloned().map(Some).ok_or_else(|| {
                err(format!(
                    "`{key}` = {id} but the vocabulary has {} tokens",
                    tokens.len()
                ))
            })
        };
        let bos = token("tokenizer.ggml.bos_token_id")?;
        let eos = token("tokenizer.ggml.eos_token_id")?;
        Ok(Self::new(template, "GGUF tokenizer.chat_template")?
            .with_special_tokens(bos.as_deref(), eos.as_deref()))
    }

    /// The template of a Hugging Face `tokenizer_config.json` (`chat_template`: a string,
    /// or a list of `{name, template}` of which the one named `default` is taken), with its
    /// `bos_token` and `eos_token` (strings or `{"content": …}` objects).
    ///
    /// # Errors
    /// [`GenerateError::Template`] naming the file if it cannot be read, is not JSON, has
    /// no chat template, or the template does not compile.
    pub fn from_tokenizer_config(path: impl AsRef<Path>) -> Result<Self, GenerateError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let err = |message: String| GenerateError::Template {
            source_name: name.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
        let template = match &json["chat_template"] {
            serde_json::Value::String(s) => s.as_str(),
            serde_json::Value::Array(list) => list
                .iter()
                .find(|t| t["name"] == "default")
                .and_then(|t| t["template"].as_str())
                .ok_or_else(|| err("`chat_template` lists no template named `default`".into()))?,
            _ => return Err(err("no `chat_template` string".into())),
        };
        let special = |key: &str| match &json[key] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o
                .get("content")
                .and_then(|c| c.as_str())
                .map(str::to_string),
            _ => None,
        };
        let (bos, eos) = (special("bos_token"), special("eos_token"));
        Ok(Self::new(template, &name)?.with_special_tokens(bos.as_deref(), eos.as_deref()))
    }

    /// The `bos_token` the template sees.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    /// The `eos_token` the template sees.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// The prompt of `messages`, ending with the header of the assistant's turn when
    /// `add_generation_prompt` (what a model is to continue).
    ///
    /// # Errors
    /// [`GenerateError::Template`] if the template fails or raises (its message kept).
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, GenerateError> {
        self.render_with(messages, add_generation_prompt, &[])
    }

    /// [`render`](Self::render) with more variables for the template (`enable_thinking`
    /// for Qwen3's, say); they override the built-in ones of the same name, as keyword
    /// arguments of `apply_chat_template` do.
    ///
    /// # Errors
    /// As [`render`](Self::render).
    pub fn render_with(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        vars: &[(&str, serde_json::Value)],
    ) -> Result<String, GenerateError> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                Value::from_object(MessageObject {
                    role: Value::from(m.role.as_str()),
                    content: Value::from(m.content.as_str()),
                })
            })
            .collect();
        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        ctx.insert("messages".into(), Value::from(messages));
        ctx.insert(
            "add_generation_prompt".into(),
            Value::from(add_generation_prompt),
        );
        ctx.insert("tools".into(), Value::from(()));
        ctx.insert("documents".into(), Value::from(()));
        if let Some(b) = &self.bos_token {
            ctx.insert("bos_token".into(), Value::from(b.as_str()));
        }
        if let Some(e) = &self.eos_token {
            ctx.insert("eos_token".into(), Value::from(e.as_str()));
        }
        for (k, v) in vars {
            ctx.insert((*k).to_string(), Value::from(Serde(v)));
        }
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| template_err(&self.source_name, &e))?;
        template
            .render(Value::from(ctx))
            .map_err(|e| template_err(&self.source_name, &e))
    }
}

/// The engine's message names the line (`… (in chat_template:3)`).
fn template_err(source_name: &str, e: &minijinja::Error) -> GenerateError {
    GenerateError::Template {
        source_name: source_name.to_string(),
        message: e.to_string(),
    }
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False)`, Python's separators
/// (`", "` and `": "`), or `indent` spaces per level; maps in their own order (a message:
/// `role`, then `content`, as the Python dict).
fn tojson(value: Value, kwargs: minijinja::value::Kwargs) -> Result<Value, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&value, indent, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    v: &Value,
    indent: Option<usize>,
    level: usize,
    out: &mut String,
) -> Result<(), minijinja::Error> {
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => match v.as_i64() {
            Some(i) if v.is_integer() => out.push_str(&i.to_string()),
            _ => out.push_str(&python_float(f64::try_from(v.clone())?)),
        },
        ValueKind::String => {
            out.push_str(&serde_json::Value::from(v.as_str().unwrap_or("")).to_string())
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                write_json(item, indent, level + 1, out)?;
            }
            if !items.is_empty() {
                newline(out, level);
            }
            out.push(']');
        }
        ValueKind::Map => {
            let keys: Vec<Value> = v.try_iter()?.collect();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                out.push_str(&serde_json::Value::from(k.to_string()).to_string());
                out.push_str(": ");
                write_json(&v.get_item(k)?, indent, level + 1, out)?;
            }
            if !keys.is_empty() {
                newline(out, level);
            }
            out.push('}');
        }
        other => {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: a {other} has no JSON form"),
            ))
        }
    }
    Ok(())
}

/// A float as Python's `repr` writes it (`1.0`, `0.1`, `1e+20`, `NaN`).
fn python_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if x == x.trunc() && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        let s = format!("{x:?}");
        match s.find('e') {
            Some(i) if !s[i + 1..].starts_with('-') => format!("{}e+{}", &s[..i], &s[i + 1..]),
            _ => s,
        }
    }
}

/// A message as the template sees it: a map of `role` then `content` (a Python dict's
/// order, which `tojson` keeps).
#[derive(Debug)]
struct MessageObject {
    role: Value,
    content: Value,
}

impl Object for MessageObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "role" => Some(self.role.clone()),
            "content" => Some(self.content.clone()),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["role", "content"])
    }
}
