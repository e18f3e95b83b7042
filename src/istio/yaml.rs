//! A span-carrying YAML tree and typed, path-aware accessors over it.
//!
//! Parsing into a generic tree first (rather than straight into typed structs) gives every
//! error a field path, a line and a column, and lets ignored Istio fields become warnings.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use serde_saphyr::budget::BudgetBreach;

use super::error::ConfigError;
use crate::route::Labels;

/// Configs are shallow (about ten levels); the cap keeps recursion far from the stack limit.
const MAX_DEPTH: usize = 64;

#[derive(Debug)]
pub(super) struct Node {
    pub(super) value: Value,
    /// 1-based, relative to the document's first line; 0 when unknown.
    line: usize,
    column: usize,
}

#[derive(Debug)]
pub(super) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    fn describe(&self) -> String {
        match self {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Int(i) => format!("the integer {i}"),
            Value::Float(x) => format!("the number {x}"),
            Value::Str(s) => format!("the string {s:?}"),
            Value::Seq(_) => "a list".to_owned(),
            Value::Map(_) => "a mapping".to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            line: spanned.referenced.line() as usize,
            column: spanned.referenced.column() as usize,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(Value::Str(s.to_owned())),
            Err(_) => Err(E::custom("binary values are not supported")),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Node, Node>()? {
            entries.push(entry);
        }
        Ok(Value::Map(entries))
    }
}

/// One YAML document of a multi-document file.
#[derive(Debug)]
pub(super) struct Document<'a> {
    /// 1-based position in the file, empty documents included.
    pub(super) index: usize,
    text: &'a str,
    /// Lines before this document in the file.
    line_offset: usize,
}

/// Splits a YAML stream at its document markers, so each document parses on its own and
/// errors can name their document.
///
/// YAML forbids a line starting with `---` or `...` (then a blank or the line's end) inside
/// any content, so such a line is always a marker.
pub(super) fn split_documents(input: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 0;
    // Whether the current piece holds a document (a `---` or content), not just comments.
    let mut has_doc = false;
    let mut offset = 0;
    for (line_no, line) in lines(input).enumerate() {
        let marker = marker(line);
        if marker == Some("---") && has_doc {
            push_doc(&mut docs, &input[start..offset], start_line);
            start = offset;
            start_line = line_no;
        }
        match marker {
            Some("---") => has_doc = true,
            Some(_) => {
                if has_doc {
                    push_doc(&mut docs, &input[start..offset + line.len()], start_line);
                }
                start = offset + line.len();
                start_line = line_no + 1;
                has_doc = false;
            }
            None => has_doc |= is_content(line),
        }
        offset += line.len();
    }
    if has_doc {
        push_doc(&mut docs, &input[start..], start_line);
    }
    docs
}

/// Lines with their breaks, where a break is `\n`, `\r\n` or a lone `\r`, as YAML counts.
fn lines(input: &str) -> impl Iterator<Item = &str> {
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = match rest.find(['\n', '\r']) {
            None => rest.len(),
            Some(i) if rest[i..].starts_with("\r\n") => i + 2,
            Some(i) => i + 1,
        };
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// The 1-based line and column just past the end of `text`.
fn end_of(text: &str) -> (usize, usize) {
    let mut end = (1, 1);
    for line in lines(text) {
        end = if line.ends_with(['\n', '\r']) {
            (end.0 + 1, 1)
        } else {
            (end.0, line.chars().count() + 1)
        };
    }
    end
}

fn push_doc<'a>(docs: &mut Vec<Document<'a>>, text: &'a str, line_offset: usize) {
    docs.push(Document {
        index: docs.len() + 1,
        text,
        line_offset,
    });
}

fn marker(line: &str) -> Option<&'static str> {
    let m = if line.starts_with("---") {
        "---"
    } else if line.starts_with("...") {
        "..."
    } else {
        return None;
    };
    match line.as_bytes().get(3) {
        None | Some(b' ' | b'\t' | b'\r' | b'\n') => Some(m),
        _ => None,
    }
}

fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !(t.is_empty() || t.starts_with('#') || line.starts_with('%'))
}

/// Parses one document; `None` when it is empty or null.
pub(super) fn parse_document(doc: &Document<'_>) -> Result<Option<Node>, ConfigError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: MAX_DEPTH },
        // YAML 1.2: only `true`/`false` are booleans, so `canary: yes` stays a string.
        strict_booleans: true,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Node>(doc.text, options) {
        Ok(Node {
            value: Value::Null, ..
        }) => Ok(None),
        Ok(node) => Ok(Some(node)),
        Err(err) => {
            let err = err.without_snippet();
            let location = err.location();
            let mut message = err.to_string();
            if let serde_saphyr::Error::Budget {
                breach: BudgetBreach::Depth { .. },
                ..
            } = err
            {
                message = format!("nested deeper than {MAX_DEPTH} levels");
            } else if let Some(loc) = location {
                // The location is reported separately, shifted to the file's lines.
                let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
                if let Some(stripped) = message.strip_suffix(&suffix) {
                    message = stripped.to_owned();
                }
            }
            let known = |n: u64| (n > 0).then_some(n as usize);
            let mut line = location.and_then(|l| known(l.line()));
            let mut column = location.and_then(|l| known(l.column()));
            // The parser may place an error at end of input one line past the text.
            let end = end_of(doc.text);
            if line.is_some_and(|l| l > end.0) {
                (line, column) = (Some(end.0), Some(end.1));
            }
            Err(ConfigError {
                document: Some(doc.index),
                resource: None,
                path: String::new(),
                line: line.map(|l| l + doc.line_offset),
                column,
                message: format!("invalid YAML: {message}"),
            })
        }
    }
}

/// Where a value sits, kept to report an error found later (an unknown subset).
#[derive(Clone, Debug)]
pub(super) struct Site {
    document: usize,
    resource: Option<String>,
    path: String,
    line: Option<usize>,
    column: Option<usize>,
}

impl Site {
    pub(super) fn document(&self) -> usize {
        self.document
    }

    pub(super) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            document: Some(self.document),
            resource: self.resource.clone(),
            path: self.path.clone(),
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

/// Per-document state: where we are, for errors, and where warnings go.
#[derive(Debug)]
pub(super) struct Ctx<'w> {
    document: usize,
    line_offset: usize,
    resource: Option<String>,
    warnings: &'w mut Vec<String>,
}

pub(super) type Result<T, E = ConfigError> = std::result::Result<T, E>;

impl<'w> Ctx<'w> {
    pub(super) fn new(doc: &Document<'_>, warnings: &'w mut Vec<String>) -> Self {
        Ctx {
            document: doc.index,
            line_offset: doc.line_offset,
            resource: None,
            warnings,
        }
    }

    pub(super) fn document(&self) -> usize {
        self.document
    }

    /// Names the resource in later errors, e.g. `RouteRule "reviews"`.
    pub(super) fn set_resource(&mut self, resource: String) {
        self.resource = Some(resource);
    }

    pub(super) fn site(&self, node: &Node, path: &str) -> Site {
        Site {
            document: self.document,
            resource: self.resource.clone(),
            path: path.to_owned(),
            line: (node.line > 0).then_some(node.line + self.line_offset),
            column: (node.column > 0).then_some(node.column),
        }
    }

    pub(super) fn error(&self, node: &Node, path: &str, message: impl Into<String>) -> ConfigError {
        self.site(node, path).error(message)
    }

    pub(super) fn warn(&mut self, node: &Node, path: &str, message: impl fmt::Display) {
        let warning = self.site(node, path).error(message.to_string()).to_string();
        self.warnings.push(warning);
    }

    fn expected(&self, node: &Node, path: &str, what: &str) -> ConfigError {
        self.error(
            node,
            path,
            format!("expected {what}, got {}", node.value.describe()),
        )
    }

    pub(super) fn string(&self, node: &Node, path: &str) -> Result<String> {
        match &node.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => Err(self.error(
                node,
                path,
                format!(
                    "expected a string, got {}; quote it to make it a string",
                    node.value.describe()
                ),
            )),
            _ => Err(self.expected(node, path, "a string")),
        }
    }

    /// A required, non-empty string.
    pub(super) fn name(&self, node: &Node, path: &str) -> Result<String> {
        let s = self.string(node, path)?;
        if s.trim().is_empty() {
            return Err(self.error(node, path, "must not be empty"));
        }
        Ok(s)
    }

    pub(super) fn boolean(&self, node: &Node, path: &str) -> Result<bool> {
        match node.value {
            Value::Bool(b) => Ok(b),
            _ => Err(self.expected(node, path, "`true` or `false`")),
        }
    }

    pub(super) fn int(&self, node: &Node, path: &str) -> Result<i128> {
        match node.value {
            Value::Int(i) => Ok(i),
            _ => Err(self.expected(node, path, "an integer")),
        }
    }

    pub(super) fn number(&self, node: &Node, path: &str) -> Result<f64> {
        match node.value {
            // Percentages: any i128 fits an f64 closely enough for the 0..=100 check.
            Value::Int(i) => Ok(i as f64),
            Value::Float(x) => Ok(x),
            _ => Err(self.expected(node, path, "a number")),
        }
    }

    pub(super) fn list<'n>(&self, node: &'n Node, path: &str) -> Result<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ => Err(self.expected(node, path, "a list")),
        }
    }

    /// A `key: value` map of strings, such as labels.
    pub(super) fn labels(&self, node: &Node, path: &str) -> Result<Labels> {
        if !matches!(node.value, Value::Map(_)) {
            return Err(self.expected(node, path, "a mapping of labels"));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for entry in self.entries(node, path)? {
            if entry.key.trim().is_empty() {
                return Err(self.error(
                    entry.key_node,
                    &entry.path,
                    "label names must not be empty",
                ));
            }
            let value = match &entry.value.value {
                Value::Null => {
                    return Err(self.error(
                        entry.value,
                        &entry.path,
                        "a label needs a value; write \"\" for an empty one",
                    ));
                }
                _ => self.string(entry.value, &entry.path)?,
            };
            pairs.push((entry.key.to_owned(), value));
        }
        Ok(pairs.into_iter().collect())
    }

    /// The entries of a mapping with string keys, in file order (headers, labels).
    pub(super) fn entries<'n>(&self, node: &'n Node, path: &str) -> Result<Vec<MapEntry<'n>>> {
        let fields = self.fields(node, path)?;
        Ok(fields
            .entries
            .into_iter()
            .map(|e| MapEntry {
                key: e.key,
                key_node: e.key_node,
                path: join(path, e.key),
                value: e.value,
            })
            .collect())
    }

    pub(super) fn fields<'n>(&self, node: &'n Node, path: &str) -> Result<Fields<'n>> {
        let Value::Map(map) = &node.value else {
            return Err(self.expected(node, path, "a mapping"));
        };
        let mut entries: Vec<Entry<'n>> = Vec::with_capacity(map.len());
        for (key, value) in map {
            let Value::Str(name) = &key.value else {
                return Err(self.error(
                    key,
                    path,
                    format!("field names must be strings, got {}", key.value.describe()),
                ));
            };
            if entries.iter().any(|e| e.key == name) {
                return Err(self.error(
                    key,
                    &join(path, name),
                    format!("duplicate field `{name}`"),
                ));
            }
            entries.push(Entry {
                key: name,
                key_node: key,
                value,
                taken: false,
            });
        }
        Ok(Fields {
            path: path.to_owned(),
            entries,
            asked: Vec::new(),
        })
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// `mirrorPercent` -> `mirror_percent`: Istio's protobuf JSON accepts both spellings.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn same_field(key: &str, name: &str) -> bool {
    key == name || key == snake_case(name)
}

#[derive(Debug)]
struct Entry<'n> {
    key: &'n str,
    key_node: &'n Node,
    value: &'n Node,
    taken: bool,
}

/// A mapping read field by field; what is left at the end is unknown or ignored.
#[derive(Debug)]
pub(super) struct Fields<'n> {
    path: String,
    entries: Vec<Entry<'n>>,
    asked: Vec<&'static str>,
}

/// One entry of a free-form mapping.
#[derive(Debug)]
pub(super) struct MapEntry<'n> {
    pub(super) key: &'n str,
    pub(super) key_node: &'n Node,
    pub(super) path: String,
    pub(super) value: &'n Node,
}

/// A present, non-null field and its path.
#[derive(Debug)]
pub(super) struct Field<'n> {
    pub(super) node: &'n Node,
    pub(super) path: String,
}

impl<'n> Fields<'n> {
    /// Takes field `name` (camelCase; its snake_case spelling is accepted too). A null
    /// value counts as absent, as in Kubernetes.
    pub(super) fn take(&mut self, ctx: &Ctx<'_>, name: &'static str) -> Result<Option<Field<'n>>> {
        self.asked.push(name);
        let mut found: Option<Field<'n>> = None;
        for entry in &mut self.entries {
            if !same_field(entry.key, name) {
                continue;
            }
            entry.taken = true;
            let path = join(&self.path, entry.key);
            if let Some(first) = &found {
                return Err(ctx.error(
                    entry.key_node,
                    &path,
                    format!(
                        "`{}` and `{}` are the same field; keep one",
                        first.path.rsplit('.').next().unwrap_or_default(),
                        entry.key
                    ),
                ));
            }
            found = Some(Field {
                node: entry.value,
                path,
            });
        }
        Ok(found.filter(|f| !matches!(f.node.value, Value::Null)))
    }

    /// Like [`take`](Self::take), but the field must be there.
    pub(super) fn require(
        &mut self,
        ctx: &Ctx<'_>,
        name: &'static str,
        at: &Node,
    ) -> Result<Field<'n>> {
        match self.take(ctx, name)? {
            Some(field) => Ok(field),
            None => Err(ctx.error(
                at,
                &join(&self.path, name),
                format!("missing required field `{name}`"),
            )),
        }
    }

    /// Checks the fields nobody took: `warn` lists fields Istio has but tower-mirror
    /// ignores (with why), `silent` fields that cannot change routing; anything else is an
    /// error, so a typo never passes unnoticed.
    pub(super) fn finish(
        self,
        ctx: &mut Ctx<'_>,
        warn: &[(&str, &str)],
        silent: &[&str],
    ) -> Result<()> {
        for entry in self.entries.iter().filter(|e| !e.taken) {
            let path = join(&self.path, entry.key);
            if silent.iter().any(|name| same_field(entry.key, name)) {
                continue;
            }
            if let Some((_, why)) = warn.iter().find(|(name, _)| same_field(entry.key, name)) {
                ctx.warn(entry.value, &path, format_args!("ignored: {why}"));
                continue;
            }
            let mut known: Vec<&str> = self.asked.clone();
            known.extend(warn.iter().map(|(name, _)| *name));
            known.extend(silent.iter().copied());
            known.sort_unstable();
            known.dedup();
            return Err(ctx.error(
                entry.key_node,
                &path,
                format!(
                    "unknown field `{}`; expected one of: {}",
                    entry.key,
                    known.join(", ")
                ),
            ));
        }
        Ok(())
    }
}
