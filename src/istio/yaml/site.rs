//! A location kept to report an error found after reading (an unknown subset), and a
//! located warning.

use std::path::PathBuf;
use std::sync::Arc;

use crate::istio::error::ConfigError;

/// Where a value sits, kept to report an error found later (an unknown subset).
#[derive(Clone, Debug)]
pub(crate) struct Site {
    /// The file the text came from, when it came from one.
    pub(crate) file: Option<Arc<PathBuf>>,
    /// Position of that text among the inputs read together, from 0.
    pub(crate) input: usize,
    /// 1-based position of the document in the file.
    pub(crate) document: usize,
    /// The resource being read, e.g. `RouteRule "reviews"`, once known.
    pub(crate) resource: Option<String>,
    pub(crate) path: String,
    /// 1-based line in the file and column; `None` when unknown.
    pub(crate) line: Option<usize>,
    pub(crate) column: Option<usize>,
}

impl Site {
    pub(crate) fn document(&self) -> usize {
        self.document
    }

    /// A warning at this place, as [`Config::warnings`](crate::istio::Config::warnings)
    /// prints it.
    pub(crate) fn warning(&self, message: impl Into<String>) -> Warning {
        Warning {
            input: self.input,
            line: self.line,
            column: self.column,
            text: self.error(message).to_string(),
        }
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            document: Some(self.document),
            resource: self.resource.clone(),
            path: self.path.clone(),
            line: self.line,
            column: self.column,
            message: message.into().into(),
        }
    }
}

/// Where a value starts in its document, as the parser gave it: the line is relative to
/// the document's first line, and 0 means unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// A warning and where it is, so warnings can be listed in file order whatever order they
/// were found in.
#[derive(Clone, Debug)]
pub(crate) struct Warning {
    /// Position of its text among the inputs read together.
    pub(crate) input: usize,
    /// 1-based line in the file and column; `None` when unknown.
    pub(crate) line: Option<usize>,
    pub(crate) column: Option<usize>,
    /// The full text: document, resource, path, location and message.
    pub(crate) text: String,
}
