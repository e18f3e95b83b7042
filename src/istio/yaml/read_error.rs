//! The error a derived reader passes up the tree: raised without a place by serde's
//! derived code (a missing or unknown field) or by a value's own check, and placed by the
//! first level of the tree deserializer that sees it, which knows the path and position.

use std::fmt;

use serde::de;

use crate::istio::error::ConfigError;

#[derive(Debug)]
pub(crate) enum ReadError {
    /// Placed: the field path, line and column are known.
    Located(Box<ConfigError>),
    /// A required field is absent from the mapping being read.
    Missing(&'static str),
    /// A key the mapping being read does not have; `expected` lists those it has.
    Unknown {
        field: String,
        expected: &'static [&'static str],
    },
    /// A message about the value being read.
    Message(String),
}

impl ReadError {
    /// The [`ConfigError`] once placed; a reader always places what it passes up, so the
    /// fallback (no place) only shows the message.
    pub(crate) fn into_config_error(self) -> ConfigError {
        match self {
            ReadError::Located(err) => *err,
            other => ConfigError::whole(other.to_string()),
        }
    }
}

impl From<ConfigError> for ReadError {
    fn from(err: ConfigError) -> Self {
        ReadError::Located(Box::new(err))
    }
}

/// `unknown field `x`; expected one of: a, b`, the known names sorted.
pub(crate) fn unknown_field_message(field: &str, expected: &[&str]) -> String {
    let mut known: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|name| !name.starts_with('$'))
        .collect();
    known.sort_unstable();
    known.dedup();
    format!(
        "unknown field `{field}`; expected one of: {}",
        known.join(", ")
    )
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Located(err) => err.fmt(f),
            ReadError::Missing(name) => write!(f, "missing required field `{name}`"),
            ReadError::Unknown { field, expected } => {
                f.write_str(&unknown_field_message(field, expected))
            }
            ReadError::Message(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ReadError {}

impl de::Error for ReadError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ReadError::Message(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        ReadError::Missing(field)
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        ReadError::Unknown {
            field: field.to_owned(),
            expected,
        }
    }
}
