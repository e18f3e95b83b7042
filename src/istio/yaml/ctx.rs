//! [`Ctx`]: where a document's reading is (file, document, resource), so every error and
//! warning names its place, and where warnings go.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::documents::Document;
use super::site::{Position, Site, Warning};
use super::tree::Node;
use crate::istio::error::ConfigError;

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
}
