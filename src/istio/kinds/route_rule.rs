//! `RouteRule` (`config.istio.io/v1alpha2`, Istio 0.5).

use super::actions::{self, FaultSpelling};
use super::metadata::Metadata;
use super::spec::{self, WeightEntry, Weights};
use crate::istio::headers::Headers;
use crate::istio::matching::RouteMatch;
use crate::istio::resource::{Actions, PendingMirror, PendingRule, PendingSplit, Target};
use crate::istio::yaml::{Ctx, Field, Result};
use crate::route::Labels;

/// Fields Istio applies that tower-mirror does not; accepted with a warning.
const IGNORED: &[(&str, &str)] = &[
    (
        "websocketUpgrade",
        "upgrades pass through the primary route and are never mirrored",
    ),
    (
        "httpReqRetries",
        "retries only change what a client sees when a backend fails; add tower::retry \
         around your backends",
    ),
    (
        "l4Fault",
        "Istio 0.5 applied it to TCP traffic only, which tower-mirror does not route",
    ),
    (
        "corsPolicy",
        "CORS only changes answers to browsers' cross-origin requests; add tower-http's \
         CorsLayer",
    ),
];

pub(super) fn parse(meta: Metadata, spec: &Field<'_>, ctx: &mut Ctx<'_>) -> Result<PendingRule> {
    let mut fields = ctx.fields(spec.node, &spec.path)?;

    let destination = fields.require(ctx, "destination", spec.key)?;
    let Service {
        name: destination,
        namespace: host_namespace,
        labels,
    } = service(ctx, &destination)?;
    // The rule serves requests for its destination; a `namespace` there names the
    // service's own namespace, else short names resolve in the rule's.
    let host = match host_namespace {
        Some(namespace) if !destination.contains('.') => {
            format!("{destination}.{namespace}.svc.cluster.local")
        }
        _ => destination.clone(),
    };
    if let Some(labels) = labels {
        return Err(ctx.error(
            labels.key,
            &labels.path,
            "destination labels are not supported; select versions with `route[].labels`",
        ));
    }

    let precedence = match fields.take(ctx, "precedence")? {
        None => 0,
        Some(field) => {
            let value = ctx.int(field.node, &field.path)?;
            i32::try_from(value).map_err(|_| {
                ctx.error(
                    field.node,
                    &field.path,
                    format!("precedence must fit in 32 bits, got {value}"),
                )
            })?
        }
    };

    let matches = match fields.take(ctx, "match")? {
        None => Vec::new(),
        Some(field) => vec![match_condition(ctx, &field)?],
    };

    let splits = match fields.take(ctx, "route")? {
        Some(field) => routes(ctx, &field, &destination)?,
        None => Vec::new(),
    };
    let splits = if splits.is_empty() {
        // Istio 0.5: without routes, all traffic goes to the destination's backends.
        vec![PendingSplit {
            target: Target::Labels(Labels::default()),
            weight: 100,
            headers: Headers::default(),
        }]
    } else {
        splits
    };

    let mut mirrors = Vec::new();
    if let Some(field) = fields.take(ctx, "mirror")? {
        let Service {
            name: host, labels, ..
        } = service(ctx, &field)?;
        let labels = match labels {
            Some(field) => ctx.labels(field.node, &field.path)?,
            None => Labels::default(),
        };
        mirrors.push(PendingMirror {
            destination: host,
            target: Target::Labels(labels),
            percent: 100.0,
        });
    }

    let mut actions = Actions::default();
    if let Some(field) = fields.take(ctx, "rewrite")? {
        actions.rewrite = Some(actions::rewrite(ctx, &field, false)?);
    }
    if let Some(field) = fields.take(ctx, "appendHeaders")? {
        actions.headers.request = actions::append_headers(ctx, &field)?;
    }
    if let Some(field) = fields.take(ctx, "httpReqTimeout")? {
        actions.timeout = Some(actions::http_req_timeout(ctx, &field)?);
    }
    if let Some(field) = fields.take(ctx, "httpFault")? {
        actions.fault = Some(actions::fault(ctx, &field, FaultSpelling::RouteRule)?);
    }

    spec::reject(
        ctx,
        &mut fields,
        "redirect",
        "tower-mirror routes and mirrors, it does not redirect",
    )?;
    fields.finish(ctx, IGNORED, &[])?;

    Ok(PendingRule {
        name: meta.name,
        name_site: meta.name_site,
        namespace: meta.namespace,
        hosts: vec![host],
        destination,
        precedence,
        matches,
        splits,
        mirrors,
        actions,
    })
}

/// `route[]`: label selectors and weights, all for the rule's destination.
fn routes(ctx: &mut Ctx<'_>, field: &Field<'_>, destination: &str) -> Result<Vec<PendingSplit>> {
    let nodes = ctx.list(field.node, &field.path)?;
    let mut entries = Vec::with_capacity(nodes.len());
    let mut selectors = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let path = format!("{}[{i}]", field.path);
        let mut route = ctx.fields(node, &path)?;
        let labels = match route.take(ctx, "labels")? {
            Some(field) => ctx.labels(field.node, &field.path)?,
            None => Labels::default(),
        };
        if let Some(field) = route.take(ctx, "destination")? {
            let Service {
                name: other,
                labels: other_labels,
                ..
            } = service(ctx, &field)?;
            if other != destination {
                return Err(ctx.error(
                    field.key,
                    &field.path,
                    format!(
                        "routing to another service (`{other}`) is not supported; \
                         routes split `{destination}` by labels"
                    ),
                ));
            }
            if let Some(l) = other_labels {
                return Err(ctx.error(l.key, &l.path, "set the labels in `labels` of the route"));
            }
        }
        let weight = route.take(ctx, "weight")?;
        route.finish(ctx, &[], &[])?;
        entries.push(WeightEntry {
            weight,
            entry: node,
            path,
        });
        selectors.push(Target::Labels(labels));
    }
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    let weights = spec::weights(ctx, &entries, Weights::Percent)?;
    Ok(selectors
        .into_iter()
        .zip(weights)
        .map(|(target, weight)| PendingSplit {
            target,
            weight,
            headers: Headers::default(),
        })
        .collect())
}

/// An `IstioService` as read.
#[derive(Debug)]
struct Service<'n> {
    name: String,
    /// Its `namespace`, if set.
    namespace: Option<String>,
    /// Its `labels` field, if set.
    labels: Option<Field<'n>>,
}

fn service<'n>(ctx: &mut Ctx<'_>, field: &Field<'n>) -> Result<Service<'n>> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let name = fields.take(ctx, "name")?;
    let fqdn = fields.take(ctx, "service")?;
    let name = match (name, fqdn) {
        (Some(name), None) => ctx.name(name.node, &name.path)?,
        (None, Some(fqdn)) => ctx.name(fqdn.node, &fqdn.path)?,
        (Some(_), Some(fqdn)) => {
            return Err(ctx.error(fqdn.key, &fqdn.path, "set only one of `name` or `service`"));
        }
        (None, None) => {
            return Err(ctx.error(
                field.key,
                &format!("{}.name", field.path),
                "missing required field `name`",
            ));
        }
    };
    let labels = fields.take(ctx, "labels")?;
    let namespace = match fields.take(ctx, "namespace")? {
        Some(field) => Some(ctx.name(field.node, &field.path)?),
        None => None,
    };
    fields.finish(
        ctx,
        &[(
            "domain",
            "backends are looked up by the service name as written",
        )],
        &[],
    )?;
    Ok(Service {
        name,
        namespace,
        labels,
    })
}

/// `match`: only `request.headers`, where `uri`, `method` and `authority` are the request's
/// own attributes and other names are headers.
fn match_condition(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Result<RouteMatch> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let source = "tower-mirror runs inside one service and does not know the caller; \
                  remove it or route on a header the caller sets";
    spec::reject(ctx, &mut fields, "source", source)?;
    spec::reject(ctx, &mut fields, "tcp", "only HTTP routes are supported")?;
    spec::reject(ctx, &mut fields, "udp", "only HTTP routes are supported")?;
    let mut m = RouteMatch::default();
    if let Some(request) = fields.take(ctx, "request")? {
        let mut request_fields = ctx.fields(request.node, &request.path)?;
        if let Some(headers) = request_fields.take(ctx, "headers")? {
            for entry in ctx.entries(headers.node, &headers.path)? {
                let value = spec::string_match(ctx, entry.value, &entry.path, false)?;
                match entry.key.to_ascii_lowercase().as_str() {
                    "uri" => m.uri = Some(value),
                    "method" => m.method = Some(value),
                    "authority" => m.authority = Some(value),
                    "scheme" => {
                        return Err(ctx.error(
                            entry.key_node,
                            &entry.path,
                            "matching on the scheme is not supported",
                        ));
                    }
                    _ => {
                        let name = spec::header_name(ctx, entry.key_node, &entry.path, entry.key)?;
                        m.headers.push((name, value));
                    }
                }
            }
        }
        request_fields.finish(ctx, &[], &[])?;
    }
    fields.finish(ctx, &[], &[])?;
    Ok(m)
}
