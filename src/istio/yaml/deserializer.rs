//! A serde `Deserializer` over the spanned tree, so the kinds can be derived structs while
//! every error keeps its field path, line and column.
//!
//! It knows the path and position as it descends and places any error raised below it,
//! including those of derived code (`missing_field`, `unknown_field`). Scalars are strict:
//! nothing is coerced (`name: 7` is refused, not read as `"7"`). In a struct's mapping, a
//! null value counts as absent (as in Kubernetes), a snake_case key names its camelCase
//! field (as in Istio's protobuf JSON), and a field given twice is refused. An unknown
//! field is refused once the known ones are read, since what is wrong with those (a
//! missing field) says more than a typo's name; a struct with a
//! [`Leftover`](super::leftover::Leftover) field refuses it itself, after its own checks.

use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::{BorrowedStrDeserializer, StrDeserializer, U64Deserializer};
use serde::de::{self, DeserializeSeed, Deserializer, Expected, MapAccess, SeqAccess, Visitor};

use super::ctx::Ctx;
use super::field_names::{canonical, join};
use super::leftover::LEFTOVER;
use super::located::LOCATED;
use super::read_error::{ReadError, unknown_field_message};
use super::site::Position;
use super::tree::{Node, Value};
use crate::istio::error::ConfigError;

/// Reads `node` at `path` as a `T`; `anchor` is where an error about the value as a whole
/// points (a missing field): the key of a field, or the value itself.
pub(crate) fn read<'n, T: Deserialize<'n>>(
    ctx: &Ctx<'_>,
    node: &'n Node,
    anchor: &Node,
    path: &str,
) -> Result<T, ConfigError> {
    NodeDeserializer {
        ctx,
        node,
        anchor: anchor.position(),
        path: path.to_owned(),
    }
    .read(PhantomData::<T>)
    .map_err(ReadError::into_config_error)
}

/// One node of the tree, at its path.
#[derive(Debug)]
struct NodeDeserializer<'c, 'n> {
    ctx: &'c Ctx<'c>,
    node: &'n Node,
    anchor: Position,
    path: String,
}

impl<'c, 'n> NodeDeserializer<'c, 'n> {
    fn path(&self) -> &str {
        &self.path
    }

    fn anchor(&self) -> Position {
        self.anchor
    }

    fn position(&self) -> Position {
        self.node.position()
    }

    /// Reads this node with `seed`, placing here what the value's own checks raise
    /// after reading (a [`Name`](super::checked::Name) found empty).
    fn read<T: DeserializeSeed<'n>>(self, seed: T) -> Result<T::Value, ReadError> {
        let placer = self.again();
        seed.deserialize(self).map_err(|e| placer.place(e))
    }

    /// The same node, to place what a visitor given this one raises after it.
    fn again(&self) -> Self {
        NodeDeserializer {
            ctx: self.ctx,
            node: self.node,
            anchor: self.anchor,
            path: self.path.clone(),
        }
    }

    /// Places an error raised at or below this node that no lower level placed.
    fn place(&self, err: ReadError) -> ReadError {
        let ctx = self.ctx;
        match err {
            ReadError::Located(_) => err,
            ReadError::Missing(name) => ctx
                .error_at(
                    self.anchor,
                    &join(&self.path, name),
                    format!("missing required field `{name}`"),
                )
                .into(),
            ReadError::Unknown { field, expected } => ctx
                .error(
                    self.node,
                    &join(&self.path, &field),
                    unknown_field_message(&field, expected),
                )
                .into(),
            ReadError::Message(message) => ctx.error(self.node, &self.path, message).into(),
        }
    }

    fn expected(&self, what: &dyn Expected) -> ReadError {
        self.ctx
            .error(
                self.node,
                &self.path,
                format!("expected {what}, got {}", self.node.value.describe()),
            )
            .into()
    }

    fn integer<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let Value::Int(i) = self.node.value else {
            return Err(self.expected(&"an integer"));
        };
        let result = if let Ok(v) = i64::try_from(i) {
            visitor.visit_i64(v)
        } else if let Ok(v) = u64::try_from(i) {
            visitor.visit_u64(v)
        } else {
            visitor.visit_i128(i)
        };
        result.map_err(|e| self.place(e))
    }

    /// Refuses what is not a mapping with string keys, each once: checked before any field
    /// is read, as a mapping's keys are the first thing wrong with it. With `fields` (a
    /// struct), two spellings of one field are refused too.
    fn check_keys(
        &self,
        entries: &[(Node, Node)],
        fields: Option<&[&'static str]>,
    ) -> Result<(), ReadError> {
        for (i, (key, _)) in entries.iter().enumerate() {
            let Value::Str(name) = &key.value else {
                return Err(self
                    .ctx
                    .error(
                        key,
                        &self.path,
                        format!("field names must be strings, got {}", key.value.describe()),
                    )
                    .into());
            };
            let earlier = entries[..i].iter().filter_map(|(k, _)| match &k.value {
                Value::Str(s) => Some(s.as_str()),
                _ => None,
            });
            for first in earlier {
                let message = if first == name {
                    format!("duplicate field `{name}`")
                } else if let Some(fields) = fields
                    && fields.contains(&canonical(name, fields))
                    && canonical(first, fields) == canonical(name, fields)
                {
                    format!("`{first}` and `{name}` are the same field; keep one")
                } else {
                    continue;
                };
                return Err(self.ctx.error(key, &join(&self.path, name), message).into());
            }
        }
        Ok(())
    }
}

/// Every integer width reads the same way: range checks are the reader's, with messages
/// about the field (`weight must not be negative`), not the type.
macro_rules! integers {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
            self.integer(visitor)
        })*
    };
}

impl<'n> Deserializer<'n> for NodeDeserializer<'_, 'n> {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let result = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(_) => return self.integer(visitor),
            Value::Float(x) => visitor.visit_f64(*x),
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Seq(_) => return self.deserialize_seq(visitor),
            Value::Map(_) => return self.deserialize_map(visitor),
        };
        result.map_err(|e| self.place(e))
    }

    fn deserialize_bool<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let Value::Bool(b) = self.node.value else {
            return Err(self.expected(&"`true` or `false`"));
        };
        visitor.visit_bool(b).map_err(|e| self.place(e))
    }

    integers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    fn deserialize_f32<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let result = match self.node.value {
            // Percentages: any i128 fits an f64 closely enough for a range check.
            Value::Int(i) => visitor.visit_f64(i as f64),
            Value::Float(x) => visitor.visit_f64(x),
            _ => return Err(self.expected(&"a number")),
        };
        result.map_err(|e| self.place(e))
    }

    fn deserialize_char<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match &self.node.value {
            Value::Str(s) => visitor.visit_borrowed_str(s).map_err(|e| self.place(e)),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => Err(self
                .ctx
                .error(
                    self.node,
                    &self.path,
                    format!(
                        "expected a string, got {}; quote it to make it a string",
                        self.node.value.describe()
                    ),
                )
                .into()),
            _ => Err(self.expected(&"a string")),
        }
    }

    fn deserialize_string<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        if let Value::Null = self.node.value {
            return visitor.visit_none().map_err(|e| self.place(e));
        }
        let placer = self.again();
        visitor.visit_some(self).map_err(|e| placer.place(e))
    }

    fn deserialize_unit<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let Value::Null = self.node.value else {
            return Err(self.expected(&"null"));
        };
        visitor.visit_unit().map_err(|e| self.place(e))
    }

    fn deserialize_unit_struct<V: Visitor<'n>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'n>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        let placer = self.again();
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| placer.place(e))
    }

    fn deserialize_seq<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let Value::Seq(items) = &self.node.value else {
            return Err(self.expected(&"a list"));
        };
        let result = visitor.visit_seq(ItemReader {
            ctx: self.ctx,
            path: &self.path,
            items: items.iter().enumerate(),
        });
        result.map_err(|e| self.place(e))
    }

    fn deserialize_tuple<V: Visitor<'n>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'n>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let Value::Map(entries) = &self.node.value else {
            return Err(self.expected(&visitor));
        };
        self.check_keys(entries, None)?;
        let result = visitor.visit_map(EntryReader {
            ctx: self.ctx,
            path: &self.path,
            entries: entries.iter(),
            fields: None,
            value: None,
            unknown: &mut None,
            leftover: false,
        });
        result.map_err(|e| self.place(e))
    }

    fn deserialize_struct<V: Visitor<'n>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        if name == LOCATED {
            return visitor.visit_seq(LocatedParts {
                node: Some(self),
                next: 0,
            });
        }
        let Value::Map(entries) = &self.node.value else {
            return Err(self.expected(&"a mapping"));
        };
        self.check_keys(entries, Some(fields))?;
        let mut unknown = None;
        let result = visitor.visit_map(EntryReader {
            ctx: self.ctx,
            path: &self.path,
            entries: entries.iter(),
            fields: Some(fields),
            value: None,
            unknown: &mut unknown,
            leftover: false,
        });
        match (result, unknown) {
            (Err(e), _) => Err(self.place(e)),
            (Ok(_), Some((key, path))) => {
                let name = match &key.value {
                    Value::Str(name) => name.as_str(),
                    _ => "",
                };
                let message = unknown_field_message(name, fields);
                Err(self.ctx.error(key, &path, message).into())
            }
            (Ok(value), None) => Ok(value),
        }
    }

    fn deserialize_enum<V: Visitor<'n>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        let Value::Str(s) = &self.node.value else {
            return Err(self.expected(&"a string"));
        };
        visitor
            .visit_enum(BorrowedStrDeserializer::new(s))
            .map_err(|e| self.place(e))
    }

    fn deserialize_identifier<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'n>>(self, visitor: V) -> Result<V::Value, ReadError> {
        // Nothing below an ignored value is read, so nothing there can be wrong.
        visitor.visit_unit().map_err(|e| self.place(e))
    }
}

/// The items of a list, each at `path[i]`; an error about an item points at it.
struct ItemReader<'c, 'p, 'n> {
    ctx: &'c Ctx<'c>,
    path: &'p str,
    items: std::iter::Enumerate<std::slice::Iter<'n, Node>>,
}

impl<'n> SeqAccess<'n> for ItemReader<'_, '_, 'n> {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'n>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        NodeDeserializer {
            ctx: self.ctx,
            node,
            anchor: node.position(),
            path: format!("{}[{i}]", self.path),
        }
        .read(seed)
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The entries of a mapping, in file order. For a struct (`fields` known), keys are
/// given as the field they name and null values are skipped; for a free-form mapping
/// (labels, headers), each key is read as a node of its own at the entry's path.
struct EntryReader<'c, 'p, 'n> {
    ctx: &'c Ctx<'c>,
    path: &'p str,
    entries: std::slice::Iter<'n, (Node, Node)>,
    fields: Option<&'static [&'static str]>,
    /// The entry whose key was just read: its key and value.
    value: Option<(&'n Node, &'n Node, String)>,
    /// The first unknown field (its key and path), refused only once the known ones are
    /// read: what is wrong with those (a missing field, a misspelt one's value) says more
    /// than a typo's name. A struct with a [`Leftover`](super::leftover::Leftover) field
    /// is handed it there, to refuse after its own checks.
    unknown: &'p mut Option<(&'n Node, String)>,
    /// The unknown field is being handed to the `Leftover` field.
    leftover: bool,
}

impl<'n> MapAccess<'n> for EntryReader<'_, '_, 'n> {
    type Error = ReadError;

    fn next_key_seed<K: DeserializeSeed<'n>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        for (key, value) in self.entries.by_ref() {
            // Keys are strings: checked before reading.
            let Value::Str(name) = &key.value else {
                continue;
            };
            let path = join(self.path, name);
            let Some(fields) = self.fields else {
                let key_reader = NodeDeserializer {
                    ctx: self.ctx,
                    node: key,
                    anchor: key.position(),
                    path: path.clone(),
                };
                self.value = Some((key, value, path));
                return key_reader.read(seed).map(Some);
            };
            let field = canonical(name, fields);
            if matches!(value.value, Value::Null) && fields.contains(&field) {
                continue;
            }
            if !fields.contains(&field) || field == LEFTOVER {
                if self.unknown.is_none() {
                    *self.unknown = Some((key, path));
                }
                continue;
            }
            let read = seed
                .deserialize(BorrowedStrDeserializer::<ReadError>::new(field))
                .map_err(|err| match err {
                    ReadError::Located(_) => err,
                    other => self.ctx.error(key, &path, other.to_string()).into(),
                })?;
            self.value = Some((key, value, path));
            return Ok(Some(read));
        }
        if let Some(fields) = self.fields
            && fields.contains(&LEFTOVER)
            && self.unknown.is_some()
            && !self.leftover
        {
            self.leftover = true;
            return seed
                .deserialize(BorrowedStrDeserializer::<ReadError>::new(LEFTOVER))
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'n>>(&mut self, seed: V) -> Result<V::Value, ReadError> {
        if self.leftover
            && let Some((key, path)) = self.unknown.take()
        {
            let expected = self.fields.unwrap_or_default();
            return seed.deserialize(LeftoverParts {
                key: NodeDeserializer {
                    ctx: self.ctx,
                    node: key,
                    anchor: key.position(),
                    path,
                },
                expected,
            });
        }
        let Some((key, node, path)) = self.value.take() else {
            return Err(de::Error::custom("a value was read before its key"));
        };
        NodeDeserializer {
            ctx: self.ctx,
            node,
            anchor: key.position(),
            path,
        }
        .read(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// What a [`Leftover`](super::leftover::Leftover) field is given: the unknown key, then
/// the fields the mapping has.
struct LeftoverParts<'c, 'n> {
    key: NodeDeserializer<'c, 'n>,
    expected: &'static [&'static str],
}

impl<'de> Deserializer<'de> for LeftoverParts<'_, 'de> {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        visitor.visit_seq(LeftoverSeq {
            key: Some(self.key),
            expected: self.expected.iter(),
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

struct LeftoverSeq<'c, 'n> {
    key: Option<NodeDeserializer<'c, 'n>>,
    expected: std::slice::Iter<'static, &'static str>,
}

impl<'n> SeqAccess<'n> for LeftoverSeq<'_, 'n> {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'n>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        if let Some(key) = self.key.take() {
            return key.read(seed).map(Some);
        }
        match self.expected.next() {
            Some(name) => seed
                .deserialize(BorrowedStrDeserializer::new(name))
                .map(Some),
            None => Ok(None),
        }
    }
}

/// What a [`Located`](super::located::Located) asks for, in order: path, anchor line and
/// column, value line and column, then the value itself.
struct LocatedParts<'c, 'n> {
    node: Option<NodeDeserializer<'c, 'n>>,
    next: usize,
}

impl<'n> SeqAccess<'n> for LocatedParts<'_, 'n> {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'n>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        let index = self.next;
        self.next += 1;
        if index == 5 {
            return match self.node.take() {
                Some(node) => seed.deserialize(node).map(Some),
                None => Ok(None),
            };
        }
        let Some(node) = &self.node else {
            return Ok(None);
        };
        let number = match index {
            0 => {
                return seed
                    .deserialize(StrDeserializer::new(node.path()))
                    .map(Some);
            }
            1 => node.anchor().line,
            2 => node.anchor().column,
            3 => node.position().line,
            _ => node.position().column,
        };
        seed.deserialize(U64Deserializer::new(number as u64))
            .map(Some)
    }
}

#[cfg(test)]
mod tests;
