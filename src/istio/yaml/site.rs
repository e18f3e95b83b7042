//! A location kept to report an error found after reading (an unknown subset).

use crate::istio::error::ConfigError;

/// Where a value sits, kept to report an error found later (an unknown subset).
#[derive(Clone, Debug)]
pub(crate) struct Site {
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

    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigError {
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
