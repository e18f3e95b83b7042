//! One Kubernetes object per YAML document: `apiVersion`, `kind`, `metadata`, then the
//! kind's `spec`, read by its kind's module.

use super::{destination_rule, route_rule, virtual_service};
use crate::istio::resource::Resource;
use crate::istio::yaml::{Ctx, Node, Result, Value};

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    RouteRule,
    VirtualService,
    DestinationRule,
}

pub(crate) fn parse(node: &Node, ctx: &mut Ctx<'_>) -> Result<Resource> {
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
