//! Why a configuration was refused, and where.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a configuration was refused, and where.
///
/// Every error names the file (when read from files), the document (numbered from 1 in
/// file order, empty documents included),
/// the resource when known (`RouteRule "name"`), the field path (`spec.route[1].weight`,
/// empty for YAML syntax errors), the line and column (1-based) and what to fix.
///
/// ```
/// use tower_mirror::istio::Config;
///
/// let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: 7\n";
/// let err = Config::from_yaml(yaml).unwrap_err();
/// assert_eq!(err.document(), Some(1));
/// assert_eq!(err.path(), "metadata.name");
/// assert_eq!((err.line(), err.column()), (Some(4), Some(9)));
/// assert!(err.to_string().starts_with(
///     "document 1 (VirtualService), metadata.name at line 4, column 9: expected a string"
/// ));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub(super) file: Option<Arc<PathBuf>>,
    pub(super) document: Option<usize>,
    pub(super) resource: Option<String>,
    pub(super) path: String,
    pub(super) line: Option<usize>,
    pub(super) column: Option<usize>,
    // Boxed: keeps the error (and every `Result` carrying it) small.
    pub(super) message: Box<str>,
}

impl ConfigError {
    /// An error about the input as a whole, not one place in it.
    pub(super) fn whole(message: String) -> ConfigError {
        ConfigError {
            file: None,
            document: None,
            resource: None,
            path: String::new(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// The same error, in `file`.
    pub(super) fn in_file(mut self, file: &Path) -> ConfigError {
        self.file = Some(Arc::new(file.to_path_buf()));
        self
    }

    /// The file the error is in, when the configuration was read from files
    /// ([`Config::from_files`](super::Config::from_files),
    /// [`Config::from_dir`](super::Config::from_dir)).
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref().map(PathBuf::as_path)
    }

    /// The document the error is in, numbered from 1 in file order.
    pub fn document(&self) -> Option<usize> {
        self.document
    }

    /// The resource the error is in, such as `RouteRule "reviews"`, once its kind is known.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The field path inside the document, such as `spec.route[1].weight`; empty when the
    /// error is not about one field (YAML syntax errors).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The 1-based line of the offending text, when known (always for syntax errors).
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The 1-based column of the offending text, when known (always for syntax errors).
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// What is wrong and how to fix it, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut head = String::new();
        if let Some(file) = &self.file {
            head = file.display().to_string();
        }
        if let Some(doc) = self.document {
            head = if head.is_empty() {
                format!("document {doc}")
            } else {
                format!("{head}, document {doc}")
            };
        }
        if let Some(resource) = &self.resource {
            head = if head.is_empty() {
                resource.clone()
            } else {
                format!("{head} ({resource})")
            };
        }
        if !self.path.is_empty() {
            head = if head.is_empty() {
                self.path.clone()
            } else {
                format!("{head}, {}", self.path)
            };
        }
        if let Some(line) = self.line {
            let at = match self.column {
                Some(column) => format!("line {line}, column {column}"),
                None => format!("line {line}"),
            };
            head = if head.is_empty() {
                at
            } else {
                format!("{head} at {at}")
            };
        }
        if head.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{head}: {}", self.message)
        }
    }
}

impl std::error::Error for ConfigError {}
