//! Typed, path-aware access over the spanned tree: each read names the field path, line
//! and column on failure, and a mapping's leftover fields become warnings or errors.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::documents::Document;
use super::field_names::{join, same_field};
use super::site::{Position, Site, Warning};
use super::tree::{Node, Value};
use crate::istio::error::ConfigError;
use crate::route::Labels;

/// Per-document state: where we are, for errors, and where warnings go.
#[derive(Debug)]
pub(crate) struct Ctx<'w> {
    file: Option<Arc<PathBuf>>,
    input: usize,
    document: usize,
    line_offset: usize,
    resource: Option<String>,
    warnings: &'w mut Vec<Warning>,
}

pub(crate) type Result<T, E = ConfigError> = std::result::Result<T, E>;

impl<'w> Ctx<'w> {
    pub(crate) fn new(doc: &Document<'_>, warnings: &'w mut Vec<Warning>) -> Self {
        Ctx {
            file: doc.file.clone(),
            input: doc.input,
            document: doc.index,
            line_offset: doc.line_offset,
            resource: None,
            warnings,
        }
    }

    pub(crate) fn document(&self) -> usize {
        self.document
    }

    /// Names the resource in later errors, e.g. `RouteRule "reviews"`.
    pub(crate) fn set_resource(&mut self, resource: String) {
        self.resource = Some(resource);
    }

    /// Where warnings go, for those found after reading a resource.
    pub(crate) fn warnings(&mut self) -> &mut Vec<Warning> {
        self.warnings
    }

    /// Forgets the resource named by [`set_resource`](Self::set_resource).
    pub(crate) fn clear_resource(&mut self) {
        self.resource = None;
    }

    pub(crate) fn site(&self, node: &Node, path: &str) -> Site {
        self.site_at(node.position(), path)
    }

    pub(crate) fn site_at(&self, at: Position, path: &str) -> Site {
        Site {
            file: self.file.clone(),
            input: self.input,
            document: self.document,
            resource: self.resource.clone(),
            path: path.to_owned(),
            line: (at.line > 0).then_some(at.line + self.line_offset),
            column: (at.column > 0).then_some(at.column),
        }
    }

    pub(crate) fn error(&self, node: &Node, path: &str, message: impl Into<String>) -> ConfigError {
        self.site(node, path).error(message)
    }

    pub(crate) fn error_at(
        &self,
        at: Position,
        path: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        self.site_at(at, path).error(message)
    }

    pub(crate) fn warn_at(&mut self, at: Position, path: &str, message: impl fmt::Display) {
        let warning = self.site_at(at, path).warning(message.to_string());
        self.warnings.push(warning);
    }

    pub(crate) fn warn(&mut self, node: &Node, path: &str, message: impl fmt::Display) {
        let warning = self.site(node, path).warning(message.to_string());
        self.warnings.push(warning);
    }

    fn expected(&self, node: &Node, path: &str, what: &str) -> ConfigError {
        self.error(
            node,
            path,
            format!("expected {what}, got {}", node.value.describe()),
        )
    }

    pub(crate) fn string(&self, node: &Node, path: &str) -> Result<String> {
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
    pub(crate) fn name(&self, node: &Node, path: &str) -> Result<String> {
        let s = self.string(node, path)?;
        if s.trim().is_empty() {
            return Err(self.error(node, path, "must not be empty"));
        }
        Ok(s)
    }

    pub(crate) fn boolean(&self, node: &Node, path: &str) -> Result<bool> {
        match node.value {
            Value::Bool(b) => Ok(b),
            _ => Err(self.expected(node, path, "`true` or `false`")),
        }
    }

    pub(crate) fn int(&self, node: &Node, path: &str) -> Result<i128> {
        match node.value {
            Value::Int(i) => Ok(i),
            _ => Err(self.expected(node, path, "an integer")),
        }
    }

    pub(crate) fn number(&self, node: &Node, path: &str) -> Result<f64> {
        match node.value {
            // Percentages: any i128 fits an f64 closely enough for the 0..=100 check.
            Value::Int(i) => Ok(i as f64),
            Value::Float(x) => Ok(x),
            _ => Err(self.expected(node, path, "a number")),
        }
    }

    pub(crate) fn list<'n>(&self, node: &'n Node, path: &str) -> Result<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ => Err(self.expected(node, path, "a list")),
        }
    }

    /// A `key: value` map of strings, such as labels.
    pub(crate) fn labels(&self, node: &Node, path: &str) -> Result<Labels> {
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
    pub(crate) fn entries<'n>(&self, node: &'n Node, path: &str) -> Result<Vec<MapEntry<'n>>> {
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

    pub(crate) fn fields<'n>(&self, node: &'n Node, path: &str) -> Result<Fields<'n>> {
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

#[derive(Debug)]
struct Entry<'n> {
    key: &'n str,
    key_node: &'n Node,
    value: &'n Node,
    taken: bool,
}

/// A mapping read field by field; what is left at the end is unknown or ignored.
#[derive(Debug)]
pub(crate) struct Fields<'n> {
    path: String,
    entries: Vec<Entry<'n>>,
    asked: Vec<&'static str>,
}

/// One entry of a free-form mapping.
#[derive(Debug)]
pub(crate) struct MapEntry<'n> {
    pub(crate) key: &'n str,
    pub(crate) key_node: &'n Node,
    pub(crate) path: String,
    pub(crate) value: &'n Node,
}

/// A present, non-null field and its path.
#[derive(Debug)]
pub(crate) struct Field<'n> {
    /// Its key: where errors about the field itself point (a block-style value starts
    /// on the line below).
    pub(crate) key: &'n Node,
    /// Its value.
    pub(crate) node: &'n Node,
    pub(crate) path: String,
}

impl<'n> Fields<'n> {
    /// Takes field `name` (camelCase; its snake_case spelling is accepted too). A null
    /// value counts as absent, as in Kubernetes.
    pub(crate) fn take(&mut self, ctx: &Ctx<'_>, name: &'static str) -> Result<Option<Field<'n>>> {
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
                key: entry.key_node,
                node: entry.value,
                path,
            });
        }
        Ok(found.filter(|f| !matches!(f.node.value, Value::Null)))
    }

    /// Whether field `name` is there (null or not), without taking it.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|e| same_field(e.key, name))
    }

    /// Like [`take`](Self::take), but the field must be there.
    pub(crate) fn require(
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
    pub(crate) fn finish(
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
                ctx.warn(entry.key_node, &path, format_args!("ignored: {why}"));
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
