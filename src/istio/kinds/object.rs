//! One Kubernetes object per YAML document: `apiVersion`, `kind`, `metadata`, then the
//! kind's `spec`, read by its kind's module.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::metadata::{Metadata, SpecAt};
use super::{destination_rule, route_rule, virtual_service};
use crate::istio::resource::{Read, Resource, ResourceId};
use crate::istio::yaml::{self, Ctx, Leftover, Located, Name, Node, Result, Value};

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

/// `apiVersion` and `kind`: read first, to know how to read the rest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    api_version: Located<String>,
    kind: Located<String>,
    /// The other fields, read once the kind is known.
    #[serde(rename = "$leftover", default)]
    _rest: Leftover,
}

/// A `List` (what `kubectl get -o yaml` prints): its items are read one by one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[expect(dead_code, reason = "fields declared to be known, not read")]
struct ListObject {
    api_version: Option<IgnoredAny>,
    kind: Option<IgnoredAny>,
    items: Vec<IgnoredAny>,
    /// A list's own metadata (`resourceVersion`) says nothing about routing.
    metadata: Option<IgnoredAny>,
    /// Refused after the items are read.
    #[serde(rename = "$leftover", default)]
    leftover: Leftover,
}

/// A resource of a kind tower-mirror reads; its `spec` is read by the kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[expect(dead_code, reason = "fields declared to be known, not read")]
struct Object {
    api_version: Option<IgnoredAny>,
    kind: Option<IgnoredAny>,
    metadata: ObjectMeta,
    /// Required; its absence is refused once the resource is named.
    spec: Option<IgnoredAny>,
    status: Option<IgnoredAny>,
    /// Refused after the spec is read.
    #[serde(rename = "$leftover", default)]
    leftover: Leftover,
}

/// Kubernetes object metadata: a name and a namespace; the rest cannot change routing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[expect(dead_code, reason = "fields declared to be known, not read")]
struct ObjectMeta {
    name: Located<Name>,
    namespace: Option<Name>,
    labels: Option<IgnoredAny>,
    annotations: Option<IgnoredAny>,
    uid: Option<IgnoredAny>,
    resource_version: Option<IgnoredAny>,
    generation: Option<IgnoredAny>,
    creation_timestamp: Option<IgnoredAny>,
    deletion_timestamp: Option<IgnoredAny>,
    deletion_grace_period_seconds: Option<IgnoredAny>,
    managed_fields: Option<IgnoredAny>,
    owner_references: Option<IgnoredAny>,
    finalizers: Option<IgnoredAny>,
    generate_name: Option<IgnoredAny>,
    self_link: Option<IgnoredAny>,
}

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
    let Head {
        api_version: api,
        kind: kind_field,
        ..
    } = yaml::read(ctx, node, node, path)?;
    let (api_version, kind_name) = (api.value.clone(), kind_field.value.clone());
    let kind = match kind_name.as_str() {
        "RouteRule" => Kind::RouteRule,
        "VirtualService" => Kind::VirtualService,
        "DestinationRule" => Kind::DestinationRule,
        list if list.ends_with("List") && entry(node, "items").is_some() => {
            let list: ListObject = yaml::read(ctx, node, node, path)?;
            let items = match entry(node, "items") {
                Some((
                    _,
                    Node {
                        value: Value::Seq(items),
                        ..
                    },
                )) => &items[..],
                _ => &[],
            };
            let items_path = format!("{}{}items", path, if path.is_empty() { "" } else { "." });
            for (i, item) in items.iter().enumerate() {
                parse_at(item, &format!("{items_path}[{i}]"), ctx, out)?;
            }
            return list.leftover.refuse(ctx);
        }
        other => {
            let name = foreign_name(node);
            ctx.warn_at(
                kind_field.at,
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
        return Err(api.error(
            ctx,
            format!("apiVersion `{api_version}` has no kind `{kind_name}`; expected {expected}"),
        ));
    }
    ctx.set_resource(kind_name.clone());

    let object: Object = yaml::read(ctx, node, node, path)?;
    let ObjectMeta {
        name: name_field,
        namespace,
        ..
    } = object.metadata;
    let Name(name) = name_field.value.clone();
    let namespace = namespace.map_or_else(|| DEFAULT_NAMESPACE.to_owned(), |Name(n)| n);
    ctx.set_resource(format!("{kind_name} {name:?}"));
    let meta = Metadata {
        name_site: name_field.site(ctx),
        name,
        namespace,
    };
    let id = ResourceId {
        kind: kind_name,
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        site: meta.name_site.clone(),
    };

    let spec_path = format!("{}{}spec", path, if path.is_empty() { "" } else { "." });
    let spec = match (object.spec, entry(node, "spec")) {
        (Some(_), Some((key, node))) => SpecAt {
            key,
            node,
            path: spec_path,
        },
        _ => {
            return Err(ctx.error(node, &spec_path, "missing required field `spec`"));
        }
    };
    let resource = match kind {
        Kind::RouteRule => Resource::RouteRule(Box::new(route_rule::parse(meta, &spec, ctx)?)),
        Kind::VirtualService => {
            Resource::VirtualService(virtual_service::parse(&meta, &spec, ctx)?)
        }
        Kind::DestinationRule => {
            Resource::DestinationRule(destination_rule::parse(&meta, &spec, ctx)?)
        }
    };
    object.leftover.refuse(ctx)?;
    out.push(Read {
        id: Some(id),
        resource,
    });
    Ok(())
}

/// The entry of mapping `node` with key `name`, if any: for what the kind decides (the
/// items of a `List`, the `spec` handed to the kind).
fn entry<'n>(node: &'n Node, name: &str) -> Option<(&'n Node, &'n Node)> {
    let Value::Map(entries) = &node.value else {
        return None;
    };
    entries
        .iter()
        .find(|(key, _)| matches!(&key.value, Value::Str(key) if key == name))
        .map(|(key, value)| (key, value))
}

/// ` "name"` of a resource that is skipped, when its metadata names it plainly.
fn foreign_name(node: &Node) -> String {
    let name = entry(node, "metadata").and_then(|(_, meta)| entry(meta, "name"));
    match name {
        Some((
            _,
            Node {
                value: Value::Str(name),
                ..
            },
        )) => format!(" {name:?}"),
        _ => String::new(),
    }
}
