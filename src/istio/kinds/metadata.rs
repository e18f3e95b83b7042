//! What the object reader hands every kind: what it read from `metadata`, and where the
//! `spec` is. Below the kinds and the object reader that dispatches to them.

use crate::istio::yaml::{Node, Site};

/// What the kinds need of `metadata`.
#[derive(Debug)]
pub(super) struct Metadata {
    pub(super) name: String,
    /// Where a duplicate name is reported.
    pub(super) name_site: Site,
    /// `metadata.namespace`, `default` when not set.
    pub(super) namespace: String,
}

/// The `spec` of a resource, for its kind to read.
#[derive(Debug)]
pub(super) struct SpecAt<'n> {
    /// Its key: where an error about the spec as a whole points.
    pub(super) key: &'n Node,
    pub(super) node: &'n Node,
    pub(super) path: String,
}
