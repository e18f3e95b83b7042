//! One Kubernetes object per YAML document: `apiVersion`, `kind`, `metadata`, then the
//! kind's `spec`, read by its kind's module.

use super::metadata::Metadata;
use super::{destination_rule, route_rule, virtual_service};
use crate::istio::resource::{Read, Resource, ResourceId};
use crate::istio::yaml::{Ctx, Fields, Node, Result, Value};

const ROUTE_RULE_API: &str = "config.istio.io/v1alpha2";
const NETWORKING_APIS: [&str; 3] = [
    "networking.istio.io/v1alpha3",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1",
];
/// What the reader takes, for messages.
pub(crate) const SUPPORTED: &str = "supported: RouteRule (config.istio.io/v1alpha2); VirtualService and \
                         DestinationRule (networking.istio.io/v1alpha3, v1beta1 or v1)";

/// Where short host names resolve when `metadata.namespace` is not set, as in Kubernetes.
const DEFAULT_NAMESPACE: &str = "default";

/// Kubernetes object metadata that cannot change routing.
const METADATA_SILENT: &[&str] = &[
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

/// Reads one document: a resource, the items of a `List` (what `kubectl get -o yaml`
/// prints), or nothing for a kind tower-mirror does not read (with a warning).
pub(crate) fn parse(node: &Node, ctx: &mut Ctx<'_>) -> Result<Vec<Read>> {
    let mut resources = Vec::new();
    parse_at(node, "", ctx, &mut resources)?;
    Ok(resources)
}

fn parse_at(node: &Node, path: &str, ctx: &mut Ctx<'_>, out: &mut Vec<Read>) -> Result<()> {
    // Each item of a list is its own resource.
    ctx.clear_resource();
    if !matches!(node.value, Value::Map(_)) {
        return Err(ctx.error(
            node,
            path,
            "a document must be a mapping with apiVersion, kind, metadata and spec",
        ));
    }
    let mut root = ctx.fields(node, path)?;
    let api = root.require(ctx, "apiVersion", node)?;
    let api_version = ctx.string(api.node, &api.path)?;
    let kind_field = root.require(ctx, "kind", node)?;
    let kind_name = ctx.string(kind_field.node, &kind_field.path)?;
    let kind = match kind_name.as_str() {
        "RouteRule" => Kind::RouteRule,
        "VirtualService" => Kind::VirtualService,
        "DestinationRule" => Kind::DestinationRule,
        list if list.ends_with("List") && root.has("items") => {
            let items = root.require(ctx, "items", node)?;
            for (i, item) in ctx.list(items.node, &items.path)?.iter().enumerate() {
                parse_at(item, &format!("{}[{i}]", items.path), ctx, out)?;
            }
            // A list's own metadata (`resourceVersion`) says nothing about routing.
            return root.finish(ctx, &[], &["metadata"]);
        }
        other => {
            let name = foreign_name(&mut root, ctx);
            ctx.warn(
                kind_field.node,
                &kind_field.path,
                format_args!(
                    "skipped: tower-mirror does not read kind `{other}` ({api_version}){name}; \
                     {SUPPORTED}"
                ),
            );
            out.push(Read {
                id: None,
                resource: Resource::Foreign {
                    kind: other.to_owned(),
                },
            });
            return Ok(());
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
    let name_field = metadata.require(ctx, "name", meta.key)?;
    let name = ctx.name(name_field.node, &name_field.path)?;
    let namespace = match metadata.take(ctx, "namespace")? {
        Some(field) => ctx.name(field.node, &field.path)?,
        None => DEFAULT_NAMESPACE.to_owned(),
    };
    metadata.finish(ctx, &[], METADATA_SILENT)?;
    ctx.set_resource(format!("{kind_name} {name:?}"));
    let meta = Metadata {
        name_site: ctx.site(name_field.node, &name_field.path),
        name,
        namespace,
    };
    let id = ResourceId {
        kind: kind_name,
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        site: meta.name_site.clone(),
    };

    let spec = root.require(ctx, "spec", node)?;
    let resource = match kind {
        Kind::RouteRule => Resource::RouteRule(Box::new(route_rule::parse(meta, &spec, ctx)?)),
        Kind::VirtualService => {
            Resource::VirtualService(virtual_service::parse(&meta, &spec, ctx)?)
        }
        Kind::DestinationRule => {
            Resource::DestinationRule(destination_rule::parse(&meta, &spec, ctx)?)
        }
    };
    root.finish(ctx, &[], &["status"])?;
    out.push(Read {
        id: Some(id),
        resource,
    });
    Ok(())
}

/// ` "name"` of a resource that is skipped, when its metadata names it plainly.
fn foreign_name(root: &mut Fields<'_>, ctx: &Ctx<'_>) -> String {
    let name = root
        .take(ctx, "metadata")
        .ok()
        .flatten()
        .and_then(|meta| ctx.fields(meta.node, &meta.path).ok())
        .and_then(|mut meta| meta.take(ctx, "name").ok().flatten())
        .and_then(|name| ctx.string(name.node, &name.path).ok());
    name.map(|name| format!(" {name:?}")).unwrap_or_default()
}
