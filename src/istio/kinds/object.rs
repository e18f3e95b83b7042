//! One YAML document: `apiVersion`, `kind`, `metadata`, then the kind's `spec`.

use super::matching::RouteMatch;
use super::yaml::{Ctx, Node, Result, Site, Value};
use super::{destination_rule, route_rule, virtual_service};
use crate::route::Labels;

const ROUTE_RULE_API: &str = "config.istio.io/v1alpha2";
const NETWORKING_APIS: [&str; 3] = [
    "networking.istio.io/v1alpha3",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1",
];
const SUPPORTED: &str = "supported: RouteRule (config.istio.io/v1alpha2); VirtualService and \
                         DestinationRule (networking.istio.io/v1alpha3, v1beta1 or v1)";

/// Kubernetes object metadata that cannot change routing.
const METADATA_SILENT: &[&str] = &[
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "generateName",
    "selfLink",
];

#[derive(Debug)]
pub(super) enum Resource {
    RouteRule(PendingRule),
    VirtualService(Vec<PendingRule>),
    DestinationRule(DestinationRuleDef),
}

/// Backends a split or mirror selects: labels, or a subset resolved once every
/// DestinationRule of the file is known.
#[derive(Debug)]
pub(super) enum Target {
    Labels(Labels),
    Subset {
        host: String,
        name: String,
        site: Site,
    },
}

/// A rule before its subsets are resolved.
#[derive(Debug)]
pub(super) struct PendingRule {
    pub(super) name: String,
    /// Where a duplicate name is reported.
    pub(super) name_site: Site,
    pub(super) hosts: Vec<String>,
    pub(super) destination: String,
    pub(super) precedence: i32,
    pub(super) matches: Vec<RouteMatch>,
    pub(super) splits: Vec<(Target, u32)>,
    /// Destination host, backends, percent.
    pub(super) mirrors: Vec<(String, Target, f64)>,
}

#[derive(Debug)]
pub(super) struct DestinationRuleDef {
    pub(super) document: usize,
    pub(super) host: String,
    pub(super) host_site: Site,
    pub(super) subsets: Vec<(String, Labels)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    RouteRule,
    VirtualService,
    DestinationRule,
}

pub(super) fn parse(node: &Node, ctx: &mut Ctx<'_>) -> Result<Resource> {
    if !matches!(node.value, Value::Map(_)) {
        return Err(ctx.error(
            node,
            "",
            "a document must be a mapping with apiVersion, kind, metadata and spec",
        ));
    }
    let mut root = ctx.fields(node, "")?;
    let api = root.require(ctx, "apiVersion", node)?;
    let api_version = ctx.string(api.node, &api.path)?;
    let kind_field = root.require(ctx, "kind", node)?;
    let kind_name = ctx.string(kind_field.node, &kind_field.path)?;
    let kind = match kind_name.as_str() {
        "RouteRule" => Kind::RouteRule,
        "VirtualService" => Kind::VirtualService,
        "DestinationRule" => Kind::DestinationRule,
        other => {
            return Err(ctx.error(
                kind_field.node,
                &kind_field.path,
                format!("kind `{other}` is not supported; {SUPPORTED}"),
            ));
        }
    };
    let api_ok = match kind {
        Kind::RouteRule => api_version == ROUTE_RULE_API,
        _ => NETWORKING_APIS.contains(&api_version.as_str()),
    };
    if !api_ok {
        let expected = match kind {
            Kind::RouteRule => ROUTE_RULE_API.to_owned(),
            _ => NETWORKING_APIS.join(", "),
        };
        return Err(ctx.error(
            api.node,
            &api.path,
            format!("apiVersion `{api_version}` has no kind `{kind_name}`; expected {expected}"),
        ));
    }
    ctx.set_resource(kind_name.clone());

    let meta = root.require(ctx, "metadata", node)?;
    let mut metadata = ctx.fields(meta.node, &meta.path)?;
    let name_field = metadata.require(ctx, "name", meta.node)?;
    let name = ctx.name(name_field.node, &name_field.path)?;
    metadata.finish(ctx, &[], METADATA_SILENT)?;
    ctx.set_resource(format!("{kind_name} {name:?}"));
    let name_site = ctx.site(name_field.node, &name_field.path);

    let spec = root.require(ctx, "spec", node)?;
    let resource = match kind {
        Kind::RouteRule => Resource::RouteRule(route_rule::parse(name, name_site, &spec, ctx)?),
        Kind::VirtualService => {
            Resource::VirtualService(virtual_service::parse(&name, name_site, &spec, ctx)?)
        }
        Kind::DestinationRule => Resource::DestinationRule(destination_rule::parse(&spec, ctx)?),
    };
    root.finish(ctx, &[], &["status"])?;
    Ok(resource)
}
