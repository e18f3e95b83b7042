//! [`Leftover`]: a mapping's first unknown field, handed to the struct read from it so
//! the reader refuses it after its own checks, as the last thing wrong with the mapping.
//!
//! Without such a field, the tree deserializer refuses an unknown field as soon as the
//! struct's known fields are read.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::ctx::Ctx;
use super::located::Located;
use super::read_error::unknown_field_message;
use crate::istio::error::ConfigError;

/// The field name by which a struct asks for its [`Leftover`]; no YAML key can give it.
pub(crate) const LEFTOVER: &str = "$leftover";

/// The first unknown field of a mapping, if any: declare it as
/// `#[serde(rename = "$leftover", default)] leftover: Leftover`.
#[derive(Debug, Default)]
pub(crate) struct Leftover(Option<(Located<String>, Vec<String>)>);

impl Leftover {
    /// Refuses the unknown field, naming the known ones.
    pub(crate) fn refuse(&self, ctx: &Ctx<'_>) -> Result<(), ConfigError> {
        let Some((key, expected)) = &self.0 else {
            return Ok(());
        };
        let known: Vec<&str> = expected
            .iter()
            .map(String::as_str)
            .filter(|name| *name != LEFTOVER)
            .collect();
        Err(key.error(ctx, unknown_field_message(key, &known)))
    }
}

impl<'de> Deserialize<'de> for Leftover {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(LeftoverVisitor)
    }
}

struct LeftoverVisitor;

impl<'de> Visitor<'de> for LeftoverVisitor {
    type Value = Leftover;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an unknown field and the known ones")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut parts: A) -> Result<Leftover, A::Error> {
        let key: Located<String> = parts
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let mut expected = Vec::new();
        while let Some(name) = parts.next_element::<String>()? {
            expected.push(name);
        }
        Ok(Leftover(Some((key, expected))))
    }
}
