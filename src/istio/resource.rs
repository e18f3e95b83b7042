//! What reading one Istio resource yields, before the subsets it names are resolved.
//!
//! The kinds produce these and the assembler ([`Config`](super::Config)) consumes them, so
//! both import from here and neither from the other.

use super::matching::RouteMatch;
use super::yaml::Site;
use crate::route::Labels;

/// One document's resource.
#[derive(Debug)]
pub(crate) enum Resource {
    RouteRule(PendingRule),
    VirtualService(Vec<PendingRule>),
    DestinationRule(DestinationRuleDef),
}

/// Backends a split or mirror selects: labels, or a subset resolved once every
/// DestinationRule of the file is known.
#[derive(Debug)]
pub(crate) enum Target {
    Labels(Labels),
    Subset {
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
    pub(crate) hosts: Vec<String>,
    pub(crate) destination: String,
    pub(crate) precedence: i32,
    pub(crate) matches: Vec<RouteMatch>,
    pub(crate) splits: Vec<PendingSplit>,
    pub(crate) mirrors: Vec<PendingMirror>,
}

/// A share of a rule's traffic, before its subset is resolved.
#[derive(Debug)]
pub(crate) struct PendingSplit {
    pub(crate) target: Target,
    /// 0..=100, validated.
    pub(crate) weight: u32,
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
    pub(crate) host: String,
    pub(crate) host_site: Site,
    pub(crate) subsets: Vec<SubsetDef>,
}

/// A named label set of a `DestinationRule`.
#[derive(Debug)]
pub(crate) struct SubsetDef {
    pub(crate) name: String,
    pub(crate) labels: Labels,
}
