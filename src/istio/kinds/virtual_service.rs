//! `VirtualService` (`networking.istio.io/v1alpha3`, `v1beta1`, `v1`): its `http` routes.

use super::actions::{self, FaultSpelling};
use super::metadata::Metadata;
use super::spec::{self, WeightEntry, Weights};
use crate::istio::headers::Headers;
use crate::istio::matching::RouteMatch;
use crate::istio::resource::{Actions, PendingMirror, PendingRule, PendingSplit, Target};
use crate::istio::yaml::{Ctx, Field, Fields, Node, Result};
use crate::route::Labels;

/// `http[]` fields Istio applies that tower-mirror does not; accepted with a warning.
const ROUTE_IGNORED: &[(&str, &str)] = &[
    (
        "retries",
        "retries only change what a client sees when a backend fails (Istio retries \
         connection failures even without this field); add tower::retry around your backends",
    ),
    (
        "corsPolicy",
        "CORS only changes answers to browsers' cross-origin requests; add tower-http's \
         CorsLayer",
    ),
    (
        "websocketUpgrade",
        "upgrades pass through the primary route and are never mirrored",
    ),
];

const NOT_ROUTING: &str = "tower-mirror routes and mirrors requests only";

pub(super) fn parse(
    meta: &Metadata,
    spec: &Field<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<Vec<PendingRule>> {
    let mut fields = ctx.fields(spec.node, &spec.path)?;
    const DELEGATE: &str = "a VirtualService without `hosts` is a delegate, whose routes \
                            another VirtualService includes with `delegate`; delegate \
                            VirtualServices are not supported: give it the hosts it serves";
    let Some(hosts_field) = fields.take(ctx, "hosts")? else {
        return Err(ctx.error(spec.key, &format!("{}.hosts", spec.path), DELEGATE));
    };
    let hosts_nodes = ctx.list(hosts_field.node, &hosts_field.path)?;
    if hosts_nodes.is_empty() {
        return Err(ctx.error(hosts_field.node, &hosts_field.path, DELEGATE));
    }
    let mut hosts = Vec::with_capacity(hosts_nodes.len());
    for (i, node) in hosts_nodes.iter().enumerate() {
        hosts.push(ctx.name(node, &format!("{}[{i}]", hosts_field.path))?);
    }

    for kind in ["tcp", "tls"] {
        if let Some(field) = fields.take(ctx, kind)?
            && !ctx.list(field.node, &field.path)?.is_empty()
        {
            return Err(ctx.error(
                field.key,
                &field.path,
                format!("`{kind}` routes are not supported; only `http` routes are"),
            ));
        }
    }

    let mut rules = Vec::new();
    match fields.take(ctx, "http")? {
        None => ctx.warn(
            spec.key,
            &spec.path,
            "no `http` routes: this VirtualService does nothing",
        ),
        Some(http) => {
            for (i, node) in ctx.list(http.node, &http.path)?.iter().enumerate() {
                let path = format!("{}[{i}]", http.path);
                rules.push(http_route(meta, &hosts, i, node, &path, ctx)?);
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
    meta: &Metadata,
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
                format!("{}/{name}", meta.name),
                ctx.site(field.node, &field.path),
            )
        }
        None => (format!("{}/{index}", meta.name), meta.name_site.clone()),
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
    let mut actions = Actions::default();
    let mut header_authority = None;
    if let Some(field) = fields.take(ctx, "headers")? {
        let (headers, authority) = actions::headers(ctx, &field)?;
        actions.headers = headers;
        header_authority = authority;
    }

    let mut destination: Option<String> = None;
    let mut entries = Vec::with_capacity(routes.len());
    let mut targets = Vec::with_capacity(routes.len());
    let mut split_headers = Vec::with_capacity(routes.len());
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
        let headers = match fields.take(ctx, "headers")? {
            None => Headers::default(),
            Some(field) => {
                let (headers, authority) = actions::headers(ctx, &field)?;
                if let Some((value, at)) = authority {
                    // Istio rewrites the authority per destination only through Envoy's
                    // weighted clusters; one destination's is the route's.
                    if routes.len() > 1 {
                        return Err(ctx.error(
                            at.key,
                            &at.path,
                            "setting the authority of one destination among several is not \
                             supported; set it for the route (`rewrite.authority`)",
                        ));
                    }
                    if header_authority.is_none() {
                        header_authority = Some((value, at));
                    }
                }
                headers
            }
        };
        fields.finish(ctx, &[], &[])?;
        entries.push(WeightEntry {
            weight,
            entry: node,
            path,
        });
        targets.push(target);
        split_headers.push(headers);
    }
    let weights = spec::weights(ctx, &entries, Weights::Relative)?;
    let splits = targets
        .into_iter()
        .zip(weights)
        .zip(split_headers)
        .map(|((target, weight), headers)| PendingSplit {
            target,
            weight,
            headers,
        })
        .collect();

    let mirrors = mirrors(ctx, &mut fields)?;

    if let Some(field) = fields.take(ctx, "rewrite")? {
        actions.rewrite = Some(actions::rewrite(ctx, &field, true)?);
    }
    if let Some((value, at)) = header_authority {
        let rewrite = actions.rewrite.get_or_insert_with(Default::default);
        if rewrite.authority.is_some() {
            return Err(ctx.error(
                at.key,
                &at.path,
                "the authority is already set by `rewrite.authority`; set it once",
            ));
        }
        rewrite.authority = Some(value);
    }
    if let Some(field) = fields.take(ctx, "timeout")? {
        actions.timeout = Some(actions::timeout(ctx, &field)?);
    }
    if let Some(field) = fields.take(ctx, "fault")? {
        actions.fault = Some(actions::fault(ctx, &field, FaultSpelling::VirtualService)?);
    }
    fields.finish(ctx, ROUTE_IGNORED, &[])?;

    Ok(PendingRule {
        name,
        name_site,
        namespace: meta.namespace.clone(),
        hosts: hosts.to_vec(),
        // Not empty: checked above.
        destination: destination.unwrap_or_default(),
        precedence: 0,
        matches,
        splits,
        mirrors,
        actions,
    })
}

/// `mirror` with `mirrorPercentage` (or the legacy integer `mirrorPercent`), or `mirrors[]`.
fn mirrors(ctx: &mut Ctx<'_>, fields: &mut Fields<'_>) -> Result<Vec<PendingMirror>> {
    let mirror = fields.take(ctx, "mirror")?;
    let percentage = fields.take(ctx, "mirrorPercentage")?;
    let legacy = fields.take(ctx, "mirrorPercent")?;
    let list = fields.take(ctx, "mirrors")?;

    // As Istio: the deprecated integer is still validated, and `mirrorPercentage` wins
    // when both are set.
    let legacy = match legacy {
        Some(field) => {
            let percent = spec::int_percent(ctx, field.node, &field.path)?;
            let message = if percentage.is_some() {
                "ignored: `mirrorPercentage` is set and takes precedence over the deprecated \
                 `mirrorPercent`; remove `mirrorPercent`"
            } else {
                "deprecated: use `mirrorPercentage: {value: ...}` instead of `mirrorPercent`"
            };
            ctx.warn(field.key, &field.path, message);
            Some((percent, field))
        }
        None => None,
    };
    let percent = match percentage {
        Some(p) => Some((percentage_value(ctx, &p)?, p)),
        None => legacy,
    };

    let mut out = Vec::new();
    match (mirror, list) {
        (Some(_), Some(list)) => {
            return Err(ctx.error(
                list.key,
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
                ctx.warn(field.key, &field.path, message);
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
    let value = fields.require(ctx, "value", field.key)?;
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
    let host_field = fields.require(ctx, "host", field.key)?;
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
