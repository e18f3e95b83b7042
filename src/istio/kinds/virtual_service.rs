//! `VirtualService` (`networking.istio.io/v1alpha3`, `v1beta1`, `v1`): its `http` routes.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::actions::{self, Authority, FaultSpec, HeadersSpec, RewriteSpec};
use super::metadata::{Metadata, SpecAt};
use super::spec::{self, PercentSpec, StringMatchSpec, WeightEntry, Weights};
use super::unapplied::{self, Unapplied};
use crate::istio::headers::Headers;
use crate::istio::matching::RouteMatch;
use crate::istio::resource::{Actions, PendingMirror, PendingRule, PendingSplit, Target};
use crate::istio::yaml::{self, Ctx, Entries, Leftover, Located, Name, Result};
use crate::route::Labels;

const NOT_ROUTING: &str = "tower-mirror routes and mirrors requests only";

/// A `VirtualService`'s `spec`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// Read first, by [`SpecHosts`].
    #[serde(rename = "hosts")]
    _hosts: Option<IgnoredAny>,
    tcp: Option<Located<Vec<IgnoredAny>>>,
    tls: Option<Located<Vec<IgnoredAny>>>,
    http: Option<Vec<Located<HttpRoute>>>,
    gateways: Unapplied,
    /// Cannot change routing.
    #[serde(rename = "exportTo")]
    _export_to: Option<IgnoredAny>,
}

/// `hosts`, read before the rest: without it, the rest is a delegate's routes.
#[derive(Debug, Deserialize)]
struct SpecHosts {
    hosts: Option<Located<Vec<Located<Name>>>>,
    #[serde(rename = "$leftover", default)]
    _rest: Leftover,
}

/// One `http[]` route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HttpRoute {
    name: Option<Located<Name>>,
    #[serde(rename = "match")]
    matches: Option<Vec<Located<MatchRequest>>>,
    redirect: Unapplied,
    direct_response: Unapplied,
    delegate: Unapplied,
    /// Required, but a refused `redirect` or `delegate` explains its absence better.
    route: Option<Located<Vec<Located<RouteDestination>>>>,
    headers: Option<HeadersSpec>,
    mirror: Option<Located<Destination>>,
    mirror_percentage: Option<Located<PercentSpec>>,
    mirror_percent: Option<Located<i128>>,
    mirrors: Option<Located<Vec<MirrorPolicy>>>,
    rewrite: Option<Located<RewriteSpec>>,
    timeout: Option<Located<Name>>,
    fault: Option<Located<FaultSpec>>,
    // Istio applies these; tower-mirror warns.
    retries: Unapplied,
    cors_policy: Unapplied,
    websocket_upgrade: Unapplied,
    /// Refused after the route's own checks (a missing `route` says more).
    #[serde(rename = "$leftover", default)]
    leftover: Leftover,
}

/// One `route[]` destination of a route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteDestination {
    destination: Destination,
    weight: Option<Located<i128>>,
    headers: Option<HeadersSpec>,
}

/// One `mirrors[]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MirrorPolicy {
    destination: Destination,
    percentage: Option<PercentSpec>,
}

/// A `Destination`: a host, and a subset of its backends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Destination {
    host: Located<Name>,
    subset: Option<Located<Name>>,
    port: Unapplied,
}

/// An `HTTPMatchRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MatchRequest {
    uri: Option<Located<StringMatchSpec>>,
    method: Option<Located<StringMatchSpec>>,
    authority: Option<Located<StringMatchSpec>>,
    ignore_uri_case: Option<bool>,
    headers: Option<Entries<Located<StringMatchSpec>>>,
    scheme: Unapplied,
    port: Unapplied,
    source_labels: Unapplied,
    source_namespace: Unapplied,
    gateways: Unapplied,
    query_params: Unapplied,
    without_headers: Unapplied,
    /// Cannot change routing.
    #[serde(rename = "name")]
    _name: Option<IgnoredAny>,
    #[serde(rename = "statPrefix")]
    _stat_prefix: Option<IgnoredAny>,
}

pub(super) fn parse(
    meta: &Metadata,
    spec: &SpecAt<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<Vec<PendingRule>> {
    const DELEGATE: &str = "a VirtualService without `hosts` is a delegate, whose routes \
                            another VirtualService includes with `delegate`; delegate \
                            VirtualServices are not supported: give it the hosts it serves";
    let SpecHosts { hosts, .. } = yaml::read(ctx, spec.node, spec.key, &spec.path)?;
    let Some(hosts_field) = &hosts else {
        return Err(ctx.error(spec.key, &format!("{}.hosts", spec.path), DELEGATE));
    };
    if hosts_field.is_empty() {
        return Err(hosts_field.error(ctx, DELEGATE));
    }
    let hosts: Vec<String> = hosts_field.iter().map(|h| h.0.clone()).collect();
    let read: Spec = yaml::read(ctx, spec.node, spec.key, &spec.path)?;

    for (kind, field) in [("tcp", &read.tcp), ("tls", &read.tls)] {
        if let Some(field) = field
            && !field.is_empty()
        {
            return Err(field.key_error(
                ctx,
                format!("`{kind}` routes are not supported; only `http` routes are"),
            ));
        }
    }

    let mut rules = Vec::new();
    match &read.http {
        None => ctx.warn(
            spec.key,
            &spec.path,
            "no `http` routes: this VirtualService does nothing",
        ),
        Some(http) => {
            for (i, route) in http.iter().enumerate() {
                rules.push(http_route(meta, &hosts, i, route, ctx)?);
            }
        }
    }

    unapplied::warn(
        ctx,
        &read.gateways,
        "tower-mirror applies the routes where it runs, not per gateway",
    );
    Ok(rules)
}

fn http_route(
    meta: &Metadata,
    hosts: &[String],
    index: usize,
    route: &Located<HttpRoute>,
    ctx: &mut Ctx<'_>,
) -> Result<PendingRule> {
    let (name, name_site) = match &route.name {
        Some(field) => (format!("{}/{}", meta.name, field.0), field.site(ctx)),
        None => (format!("{}/{index}", meta.name), meta.name_site.clone()),
    };

    let mut matches = Vec::new();
    for m in route.matches.iter().flatten() {
        matches.push(match_request(ctx, m)?);
    }

    for (field, name, why) in [
        (&route.redirect, "redirect", "redirects"),
        (&route.direct_response, "directResponse", "direct responses"),
        (&route.delegate, "delegate", "delegation"),
    ] {
        unapplied::refuse(ctx, field, name, &format!("{NOT_ROUTING}, no {why}"))?;
    }

    let Some(routes) = &route.route else {
        return Err(ctx.error_at(
            route.at,
            &format!("{}.route", route.path),
            "missing required field `route`",
        ));
    };
    if routes.is_empty() {
        return Err(routes.error(ctx, "needs at least one destination"));
    }
    let mut actions = Actions::default();
    let mut header_authority: Option<Authority> = None;
    if let Some(spec) = &route.headers {
        let (headers, authority) = actions::headers(ctx, spec)?;
        actions.headers = headers;
        header_authority = authority;
    }

    let mut destination: Option<String> = None;
    let mut entries = Vec::with_capacity(routes.len());
    let mut targets = Vec::with_capacity(routes.len());
    let mut split_headers = Vec::with_capacity(routes.len());
    for item in routes.iter() {
        let dest = &item.destination;
        let host = dest.host.0.clone();
        match &destination {
            None => destination = Some(host.clone()),
            Some(first) if *first == host => {}
            Some(first) => {
                return Err(dest.host.error(
                    ctx,
                    format!(
                        "all destinations of one route must be the same host, got `{first}` \
                         and `{host}`; tower-mirror splits one host by subsets"
                    ),
                ));
            }
        }
        let target = target(ctx, dest);
        let headers = match &item.headers {
            None => Headers::default(),
            Some(spec) => {
                let (headers, authority) = actions::headers(ctx, spec)?;
                if let Some((value, at)) = authority {
                    // Istio rewrites the authority per destination only through Envoy's
                    // weighted clusters; one destination's is the route's.
                    if routes.len() > 1 {
                        return Err(at.key_error(
                            ctx,
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
        entries.push(WeightEntry {
            weight: item.weight.as_ref(),
            entry: item.with(()),
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

    let mirrors = mirrors(ctx, &route.value)?;

    if let Some(rewrite) = &route.rewrite {
        actions.rewrite = Some(actions::rewrite(ctx, rewrite)?);
    }
    if let Some((value, at)) = header_authority {
        let rewrite = actions.rewrite.get_or_insert_with(Default::default);
        if rewrite.authority.is_some() {
            return Err(at.key_error(
                ctx,
                "the authority is already set by `rewrite.authority`; set it once",
            ));
        }
        rewrite.authority = Some(value);
    }
    if let Some(timeout) = &route.timeout {
        actions.timeout = Some(actions::timeout(ctx, timeout)?);
    }
    if let Some(fault) = &route.fault {
        actions.fault = Some(actions::fault(ctx, fault)?);
    }
    unapplied::warn(
        ctx,
        &route.retries,
        "retries only change what a client sees when a backend fails (Istio retries \
         connection failures even without this field); add tower::retry around your backends",
    );
    unapplied::warn(
        ctx,
        &route.cors_policy,
        "CORS only changes answers to browsers' cross-origin requests; add tower-http's \
         CorsLayer",
    );
    unapplied::warn(
        ctx,
        &route.websocket_upgrade,
        "upgrades pass through the primary route and are never mirrored",
    );
    route.leftover.refuse(ctx)?;

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
fn mirrors(ctx: &mut Ctx<'_>, route: &HttpRoute) -> Result<Vec<PendingMirror>> {
    // As Istio: the deprecated integer is still validated, and `mirrorPercentage` wins
    // when both are set.
    let legacy = match &route.mirror_percent {
        Some(field) => {
            let percent = spec::int_percent(ctx, field)?;
            let message = if route.mirror_percentage.is_some() {
                "ignored: `mirrorPercentage` is set and takes precedence over the deprecated \
                 `mirrorPercent`; remove `mirrorPercent`"
            } else {
                "deprecated: use `mirrorPercentage: {value: ...}` instead of `mirrorPercent`"
            };
            field.warn(ctx, message);
            Some((percent, field.with(())))
        }
        None => None,
    };
    let percent = match &route.mirror_percentage {
        Some(p) => Some((p.percent(ctx)?, p.with(()))),
        None => legacy,
    };

    let mut out = Vec::new();
    match (&route.mirror, &route.mirrors) {
        (Some(_), Some(list)) => {
            return Err(list.key_error(ctx, "set only one of `mirror` or `mirrors`"));
        }
        (Some(mirror), None) => {
            out.push(PendingMirror {
                destination: mirror.host.0.clone(),
                target: target(ctx, mirror),
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
                field.warn(ctx, message);
            }
            for item in list.iter().flat_map(|list| list.iter()) {
                let percent = match &item.percentage {
                    Some(p) => p.percent(ctx)?,
                    None => 100.0,
                };
                out.push(PendingMirror {
                    destination: item.destination.host.0.clone(),
                    target: target(ctx, &item.destination),
                    percent,
                });
            }
        }
    }
    Ok(out)
}

/// The backends a destination selects; warns about its `port`.
fn target(ctx: &mut Ctx<'_>, destination: &Destination) -> Target {
    unapplied::warn(
        ctx,
        &destination.port,
        "backends are chosen by host and subset labels",
    );
    match &destination.subset {
        None => Target::Labels(Labels::default()),
        Some(subset) => Target::Subset {
            host: destination.host.0.clone(),
            name: subset.0.clone(),
            site: subset.site(ctx),
        },
    }
}

/// An `HTTPMatchRequest`. Conditions tower-mirror cannot evaluate are errors: ignoring
/// them would match more requests than Istio does.
fn match_request(ctx: &Ctx<'_>, spec: &MatchRequest) -> Result<RouteMatch> {
    let mut m = RouteMatch::default();
    if let Some(f) = &spec.uri {
        m.uri = Some(spec::string_match(ctx, f, false)?);
    }
    if let Some(f) = &spec.method {
        m.method = Some(spec::string_match(ctx, f, false)?);
    }
    if let Some(f) = &spec.authority {
        m.authority = Some(spec::string_match(ctx, f, false)?);
    }
    m.ignore_uri_case = spec.ignore_uri_case.unwrap_or(false);
    for (name, value) in spec.headers.iter().flat_map(|h| h.0.iter()) {
        if let "uri" | "scheme" | "method" | "authority" = name.as_str() {
            return Err(name.error(
                ctx,
                format!(
                    "Istio ignores `{}` in headers; match on it with `{}` instead",
                    name.value, name.value
                ),
            ));
        }
        let header = spec::header_name(ctx, name)?;
        let value = spec::string_match(ctx, value, true)?;
        m.headers.push((header, value));
    }
    for (field, name, why) in [
        (
            &spec.scheme,
            "scheme",
            "the scheme is not known inside a service",
        ),
        (
            &spec.port,
            "port",
            "the listening port is not known inside a service",
        ),
        (
            &spec.source_labels,
            "sourceLabels",
            "the caller is not known inside a service",
        ),
        (
            &spec.source_namespace,
            "sourceNamespace",
            "the caller is not known inside a service",
        ),
        (
            &spec.gateways,
            "gateways",
            "tower-mirror does not run per gateway",
        ),
        (
            &spec.query_params,
            "queryParams",
            "match on the path or headers instead",
        ),
        (
            &spec.without_headers,
            "withoutHeaders",
            "match on headers that are present instead",
        ),
    ] {
        unapplied::refuse(ctx, field, name, why)?;
    }
    Ok(m)
}
