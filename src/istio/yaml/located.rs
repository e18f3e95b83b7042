//! [`Located`]: a value read by a derived struct, with its path and where it and its key
//! are, for the checks made after reading (a duplicate name, a weight out of range).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::ctx::Ctx;
use super::site::{Position, Site};
use crate::istio::error::ConfigError;

/// The struct name by which [`Located`] asks the tree deserializer for the place of a
/// value; no Istio type has it.
pub(super) const LOCATED: &str = "$tower_mirror::istio::Located";
const PARTS: &[&str] = &["path", "key_line", "key_column", "line", "column", "value"];

/// A value with its field path and positions.
#[derive(Debug)]
pub(crate) struct Located<T> {
    pub(crate) value: T,
    /// Its field path, such as `spec.http[0].route[1].weight`.
    pub(crate) path: String,
    /// Where an error about the field itself points: its key, or the value itself in a
    /// list (a block-style value starts on the line below its key).
    pub(crate) key: Position,
    /// Where the value starts.
    pub(crate) at: Position,
}

impl<T> Located<T> {
    /// An error about the value.
    pub(crate) fn error(&self, ctx: &Ctx<'_>, message: impl Into<String>) -> ConfigError {
        ctx.error_at(self.at, &self.path, message)
    }

    /// An error about the field: at its key.
    pub(crate) fn key_error(&self, ctx: &Ctx<'_>, message: impl Into<String>) -> ConfigError {
        ctx.error_at(self.key, &self.path, message)
    }

    /// A warning about the field, at its key.
    pub(crate) fn warn(&self, ctx: &mut Ctx<'_>, message: impl fmt::Display) {
        ctx.warn_at(self.key, &self.path, message);
    }

    /// The value's place, kept to report an error found later.
    pub(crate) fn site(&self, ctx: &Ctx<'_>) -> Site {
        ctx.site_at(self.at, &self.path)
    }

    /// The same place, holding `value`.
    pub(crate) fn with<U>(&self, value: U) -> Located<U> {
        Located {
            value,
            path: self.path.clone(),
            key: self.key,
            at: self.at,
        }
    }
}

impl<T> Deref for Located<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(LOCATED, PARTS, LocatedVisitor(PhantomData))
    }
}

struct LocatedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for LocatedVisitor<T> {
    type Value = Located<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value read from the Istio YAML tree")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut parts: A) -> Result<Located<T>, A::Error> {
        fn part<'de, A: SeqAccess<'de>, U: Deserialize<'de>>(
            parts: &mut A,
            index: usize,
        ) -> Result<U, A::Error> {
            parts
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(index, &"a located value"))
        }
        let path: String = part(&mut parts, 0)?;
        let key_line: u64 = part(&mut parts, 1)?;
        let key_column: u64 = part(&mut parts, 2)?;
        let line: u64 = part(&mut parts, 3)?;
        let column: u64 = part(&mut parts, 4)?;
        let value: T = part(&mut parts, 5)?;
        let position = |line: u64, column: u64| Position {
            line: usize::try_from(line).unwrap_or(0),
            column: usize::try_from(column).unwrap_or(0),
        };
        Ok(Located {
            value,
            path,
            key: position(key_line, key_column),
            at: position(line, column),
        })
    }
}
