//! `VirtualService` (`networking.istio.io/v1alpha3`, `v1beta1`, `v1`): its `http` routes.

use super::spec::{self, Lone, WeightEntry};
use crate::istio::matching::RouteMatch;
use crate::istio::resource::{PendingMirror, PendingRule, PendingSplit, Target};
use crate::istio::yaml::{Ctx, Field, Fields, Node, Result, Site};
use crate::route::Labels;

/// `http[]` fields Istio applies that tower-mirror does not; accepted with a warning.
const ROUTE_IGNORED: &[(&str, &str)] = &[
    ("rewrite", "tower-mirror does not rewrite requests"),
    ("timeout", "set timeouts on your services (tower::timeout)"),
    ("retries", "set retries on your services (tower::retry)"),
    ("fault", "tower-mirror does not inject faults"),
    ("corsPolicy", "use tower-http's CORS layer"),
    (
        "headers",
        "tower-mirror does not change headers of routed requests",
    ),
    (
        "websocketUpgrade",
        "upgrades pass through the primary route and are never mirrored",
    ),
];

const NOT_ROUTING: &str = "tower-mirror routes and mirrors requests only";

pub(super) fn parse(
    vs_name: &str,
    name_site: Site,
    spec: &Field<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<Vec<PendingRule>> {
    let mut fields = ctx.fields(spec.node, &spec.path)?;
    let hosts_field = fields.require(ctx, "hosts", spec.node)?;
    let hosts_nodes = ctx.list(hosts_field.node, &hosts_field.path)?;
    if hosts_nodes.is_empty() {
        return Err(ctx.error(
            hosts_field.node,
            &hosts_field.path,
            "needs at least one host",
        ));
    }
    let mut hosts = Vec::with_capacity(hosts_nodes.len());
    for (i, node) in hosts_nodes.iter().enumerate() {
        hosts.push(ctx.name(node, &format!("{}[{i}]", hosts_field.path))?);
    }

    for kind in ["tcp", "tls"] {
        if let Some(field) = fields.take(ctx, kind)? {
            if !ctx.list(field.node, &field.path)?.is_empty() {
                return Err(ctx.error(
                    field.node,
                    &field.path,
                    format!("`{kind}` routes are not supported; only `http` routes are"),
                ));
            }
        }
    }

    let mut rules = Vec::new();
    match fields.take(ctx, "http")? {
        None => ctx.warn(
            spec.node,
            &spec.path,
            "no `http` routes: this VirtualService does nothing",
        ),
        Some(http) => {
            for (i, node) in ctx.list(http.node, &http.path)?.iter().enumerate() {
                let path = format!("{}[{i}]", http.path);
                rules.push(http_route(
                    vs_name, &name_site, &hosts, i, node, &path, ctx,
                )?);
            }
        }
    }

    fields.finish(
        ctx,
        &[(
            "gateways",
            "tower-mirror applies the routes where it runs, not per gateway",
        )],
        &["exportTo"],
    )?;
    Ok(rules)
}

fn http_route(
    vs_name: &str,
    vs_name_site: &Site,
    hosts: &[String],
    index: usize,
    node: &Node,
    path: &str,
    ctx: &mut Ctx<'_>,
) -> Result<PendingRule> {
    let mut fields = ctx.fields(node, path)?;
    let (name, name_site) = match fields.take(ctx, "name")? {
        Some(field) => {
            let name = ctx.name(field.node, &field.path)?;
            (
                format!("{vs_name}/{name}"),
                ctx.site(field.node, &field.path),
            )
        }
        None => (format!("{vs_name}/{index}"), vs_name_site.clone()),
    };

    let mut matches = Vec::new();
    if let Some(field) = fields.take(ctx, "match")? {
        for (i, m) in ctx.list(field.node, &field.path)?.iter().enumerate() {
            matches.push(match_request(ctx, m, &format!("{}[{i}]", field.path))?);
        }
    }

    for (name, why) in [
        ("redirect", "redirects"),
        ("directResponse", "direct responses"),
        ("delegate", "delegation"),
    ] {
        spec::reject(ctx, &mut fields, name, &format!("{NOT_ROUTING}, no {why}"))?;
    }

    let route = fields.require(ctx, "route", node)?;
    let routes = ctx.list(route.node, &route.path)?;
    if routes.is_empty() {
        return Err(ctx.error(route.node, &route.path, "needs at least one destination"));
    }
    let mut destination: Option<String> = None;
    let mut entries = Vec::with_capacity(routes.len());
    let mut targets = Vec::with_capacity(routes.len());
    for (i, node) in routes.iter().enumerate() {
        let path = format!("{}[{i}]", route.path);
        let mut fields = ctx.fields(node, &path)?;
        let dest = fields.require(ctx, "destination", node)?;
        let Destination {
            host,
            host_field,
            target,
        } = destination_of(ctx, &dest)?;
        match &destination {
            None => destination = Some(host),
            Some(first) if *first == host => {}
            Some(first) => {
                return Err(ctx.error(
                    host_field.node,
                    &host_field.path,
                    format!(
                        "all destinations of one route must be the same host, got `{first}` \
                         and `{host}`; tower-mirror splits one host by subsets"
                    ),
                ));
            }
        }
        let weight = fields.take(ctx, "weight")?;
        fields.finish(
            ctx,
            &[(
                "headers",
                "tower-mirror does not change headers of routed requests",
            )],
            &[],
        )?;
        entries.push(WeightEntry {
            weight,
            entry: node,
            path,
        });
        targets.push(target);
    }
    let weights = spec::weights(ctx, &entries, Lone::TakesAll)?;
    let splits = targets
        .into_iter()
        .zip(weights)
        .map(|(target, weight)| PendingSplit { target, weight })
        .collect();

    let mirrors = mirrors(ctx, &mut fields)?;
    fields.finish(ctx, ROUTE_IGNORED, &[])?;

    Ok(PendingRule {
        name,
        name_site,
        hosts: hosts.to_vec(),
        // Not empty: checked above.
        destination: destination.unwrap_or_default(),
        precedence: 0,
        matches,
        splits,
        mirrors,
    })
}

/// `mirror` with `mirrorPercentage` (or the legacy integer `mirrorPercent`), or `mirrors[]`.
fn mirrors(ctx: &mut Ctx<'_>, fields: &mut Fields<'_>) -> Result<Vec<PendingMirror>> {
    let mirror = fields.take(ctx, "mirror")?;
    let percentage = fields.take(ctx, "mirrorPercentage")?;
    let legacy = fields.take(ctx, "mirrorPercent")?;
    let list = fields.take(ctx, "mirrors")?;

    let percent = match (percentage, legacy) {
        (Some(_), Some(legacy)) => {
            return Err(ctx.error(
                legacy.node,
                &legacy.path,
                "set only one of `mirrorPercentage` or the deprecated `mirrorPercent`",
            ));
        }
        (Some(p), None) => Some((percentage_value(ctx, &p)?, p)),
        (None, Some(l)) => Some((spec::int_percent(ctx, l.node, &l.path)?, l)),
        (None, None) => None,
    };

    let mut out = Vec::new();
    match (mirror, list) {
        (Some(_), Some(list)) => {
            return Err(ctx.error(
                list.node,
                &list.path,
                "set only one of `mirror` or `mirrors`",
            ));
        }
        (Some(mirror), None) => {
            let destination = destination_of(ctx, &mirror)?;
            out.push(PendingMirror {
                destination: destination.host,
                target: destination.target,
                percent: percent.map_or(100.0, |(p, _)| p),
            });
        }
        (None, list) => {
            if let Some((_, field)) = percent {
                let message = if list.is_some() {
                    "ignored: set each mirror's `percentage` in `mirrors`"
                } else {
                    "ignored: there is no `mirror`"
                };
                ctx.warn(field.node, &field.path, message);
            }
            if let Some(list) = list {
                for (i, item) in ctx.list(list.node, &list.path)?.iter().enumerate() {
                    let item_path = format!("{}[{i}]", list.path);
                    let mut item_fields = ctx.fields(item, &item_path)?;
                    let dest = item_fields.require(ctx, "destination", item)?;
                    let destination = destination_of(ctx, &dest)?;
                    let percent = match item_fields.take(ctx, "percentage")? {
                        Some(p) => percentage_value(ctx, &p)?,
                        None => 100.0,
                    };
                    item_fields.finish(ctx, &[], &[])?;
                    out.push(PendingMirror {
                        destination: destination.host,
                        target: destination.target,
                        percent,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Istio's `Percent`: `{value: <0.0..=100.0>}`.
fn percentage_value(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Result<f64> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let value = fields.require(ctx, "value", field.node)?;
    let percent = spec::percent(ctx, value.node, &value.path)?;
    fields.finish(ctx, &[], &[])?;
    Ok(percent)
}

/// A `Destination` as read.
#[derive(Debug)]
struct Destination<'n> {
    host: String,
    /// Where a second, different host in the same route is reported.
    host_field: Field<'n>,
    /// The backends it selects.
    target: Target,
}

fn destination_of<'n>(ctx: &mut Ctx<'_>, field: &Field<'n>) -> Result<Destination<'n>> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let host_field = fields.require(ctx, "host", field.node)?;
    let host = ctx.name(host_field.node, &host_field.path)?;
    let target = match fields.take(ctx, "subset")? {
        None => Target::Labels(Labels::default()),
        Some(subset) => Target::Subset {
            host: host.clone(),
            name: ctx.name(subset.node, &subset.path)?,
            site: ctx.site(subset.node, &subset.path),
        },
    };
    fields.finish(
        ctx,
        &[("port", "backends are chosen by host and subset labels")],
        &[],
    )?;
    Ok(Destination {
        host,
        host_field,
        target,
    })
}

/// An `HTTPMatchRequest`. Conditions tower-mirror cannot evaluate are errors: ignoring
/// them would match more requests than Istio does.
fn match_request(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Result<RouteMatch> {
    let mut fields = ctx.fields(node, path)?;
    let mut m = RouteMatch::default();
    if let Some(f) = fields.take(ctx, "uri")? {
        m.uri = Some(spec::string_match(ctx, f.node, &f.path, false)?);
    }
    if let Some(f) = fields.take(ctx, "method")? {
        m.method = Some(spec::string_match(ctx, f.node, &f.path, false)?);
    }
    if let Some(f) = fields.take(ctx, "authority")? {
        m.authority = Some(spec::string_match(ctx, f.node, &f.path, false)?);
    }
    if let Some(f) = fields.take(ctx, "ignoreUriCase")? {
        m.ignore_uri_case = ctx.boolean(f.node, &f.path)?;
    }
    if let Some(f) = fields.take(ctx, "headers")? {
        for entry in ctx.entries(f.node, &f.path)? {
            if let "uri" | "scheme" | "method" | "authority" = entry.key {
                return Err(ctx.error(
                    entry.key_node,
                    &entry.path,
                    format!(
                        "Istio ignores `{}` in headers; match on it with `{}` instead",
                        entry.key, entry.key
                    ),
                ));
            }
            let name = spec::header_name(ctx, entry.key_node, &entry.path, entry.key)?;
            let value = spec::string_match(ctx, entry.value, &entry.path, true)?;
            m.headers.push((name, value));
        }
    }
    for (name, why) in [
        ("scheme", "the scheme is not known inside a service"),
        ("port", "the listening port is not known inside a service"),
        ("sourceLabels", "the caller is not known inside a service"),
        (
            "sourceNamespace",
            "the caller is not known inside a service",
        ),
        ("gateways", "tower-mirror does not run per gateway"),
        ("queryParams", "match on the path or headers instead"),
        (
            "withoutHeaders",
            "match on headers that are present instead",
        ),
    ] {
        spec::reject(ctx, &mut fields, name, why)?;
    }
    fields.finish(ctx, &[], &["name", "statPrefix"])?;
    Ok(m)
}
