//! What reading one Istio resource yields, before the subsets it names are resolved.
//!
//! The kinds produce these and the assembler ([`Config`](super::Config)) consumes them, so
//! both import from here and neither from the other.

use std::time::Duration;

use super::fault::Fault;
use super::headers::Headers;
use super::matching::RouteMatch;
use super::rewrite::Rewrite;
use super::yaml::Site;
use crate::route::Labels;

/// A resource as read, with who it is.
#[derive(Debug)]
pub(crate) struct Read {
    /// `None` for a kind that is skipped.
    pub(crate) id: Option<ResourceId>,
    pub(crate) resource: Resource,
}

/// Who a resource is: as in Kubernetes, a later resource of the same kind, namespace and
/// name replaces an earlier one.
#[derive(Debug)]
pub(crate) struct ResourceId {
    pub(crate) kind: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
    /// Its `metadata.name`, where a replacement is reported.
    pub(crate) site: Site,
}

impl ResourceId {
    pub(crate) fn same(&self, other: &ResourceId) -> bool {
        (&self.kind, &self.namespace, &self.name) == (&other.kind, &other.namespace, &other.name)
    }
}

/// One resource's content.
#[derive(Debug)]
pub(crate) enum Resource {
    /// Boxed: a rule is much larger than the other variants.
    RouteRule(Box<PendingRule>),
    VirtualService(Vec<PendingRule>),
    DestinationRule(DestinationRuleDef),
    /// A kind tower-mirror does not read, skipped with a warning.
    Foreign {
        kind: String,
    },
}

/// Backends a split or mirror selects: labels, or a subset resolved once every
/// DestinationRule of the file is known.
#[derive(Debug)]
pub(crate) enum Target {
    Labels(Labels),
    Subset {
        /// The destination host, as written (short names resolve in the rule's namespace).
        host: String,
        name: String,
        site: Site,
    },
}

/// A rule before its subsets are resolved.
#[derive(Debug)]
pub(crate) struct PendingRule {
    pub(crate) name: String,
    /// Where a duplicate name is reported.
    pub(crate) name_site: Site,
    /// `metadata.namespace` (`default` when not set).
    pub(crate) namespace: String,
    pub(crate) hosts: Vec<String>,
    pub(crate) destination: String,
    pub(crate) precedence: i32,
    pub(crate) matches: Vec<RouteMatch>,
    pub(crate) splits: Vec<PendingSplit>,
    pub(crate) mirrors: Vec<PendingMirror>,
    pub(crate) actions: Actions,
}

/// What a rule does to the requests it takes besides routing and mirroring them.
#[derive(Debug, Default)]
pub(crate) struct Actions {
    pub(crate) rewrite: Option<Rewrite>,
    pub(crate) headers: Headers,
    pub(crate) timeout: Option<Duration>,
    pub(crate) fault: Option<Fault>,
}

/// A share of a rule's traffic, before its subset is resolved.
#[derive(Debug)]
pub(crate) struct PendingSplit {
    pub(crate) target: Target,
    /// Validated: relative, or summing to 100 for a `RouteRule`.
    pub(crate) weight: u32,
    /// The destination's own `headers`.
    pub(crate) headers: Headers,
}

/// Where a rule's copies go, before its subset is resolved.
#[derive(Debug)]
pub(crate) struct PendingMirror {
    /// The destination host, as written.
    pub(crate) destination: String,
    pub(crate) target: Target,
    /// 0.0..=100.0, validated.
    pub(crate) percent: f64,
}

/// A `DestinationRule`: the subsets it defines for one host.
#[derive(Debug)]
pub(crate) struct DestinationRuleDef {
    /// Named in errors that point back at this rule.
    pub(crate) document: usize,
    /// `metadata.namespace`, where a short `host` resolves.
    pub(crate) namespace: String,
    pub(crate) host: String,
    pub(crate) subsets: Vec<SubsetDef>,
}

/// A named label set of a `DestinationRule`.
#[derive(Debug)]
pub(crate) struct SubsetDef {
    pub(crate) name: String,
    /// Where a second subset of the same name is reported.
    pub(crate) name_site: Site,
    pub(crate) labels: Labels,
}
