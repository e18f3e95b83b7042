//! What every kind reads from `metadata`, below the kinds and the object reader that
//! dispatches to them.

use crate::istio::yaml::Site;

/// What the kinds need of `metadata`.
#[derive(Debug)]
pub(super) struct Metadata {
    pub(super) name: String,
    /// Where a duplicate name is reported.
    pub(super) name_site: Site,
    /// `metadata.namespace`, `default` when not set.
    pub(super) namespace: String,
}
