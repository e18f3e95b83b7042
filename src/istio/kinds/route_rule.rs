//! `RouteRule` (`config.istio.io/v1alpha2`, Istio 0.5).

use serde::Deserialize;

use super::actions::{self, HttpReqTimeoutSpec, RuleFaultSpec, RuleRewriteSpec};
use super::metadata::{Metadata, SpecAt};
use super::spec::{self, StringMatchSpec, WeightEntry, Weights};
use super::unapplied::{self, Unapplied};
use crate::istio::headers::Headers;
use crate::istio::matching::RouteMatch;
use crate::istio::resource::{Actions, PendingMirror, PendingRule, PendingSplit, Target};
use crate::istio::yaml::{self, Ctx, Entries, LabelSet, Leftover, Located, Name, Result};
use crate::route::Labels;

/// A `RouteRule`'s `spec`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    destination: Located<Service>,
    precedence: Option<Located<i128>>,
    #[serde(rename = "match")]
    condition: Option<MatchCondition>,
    route: Option<Vec<Located<Route>>>,
    mirror: Option<Located<Service>>,
    rewrite: Option<Located<RuleRewriteSpec>>,
    append_headers: Option<Entries<Located<String>>>,
    http_req_timeout: Option<HttpReqTimeoutSpec>,
    http_fault: Option<Located<RuleFaultSpec>>,
    redirect: Unapplied,
    // Istio applies these; tower-mirror warns.
    websocket_upgrade: Unapplied,
    http_req_retries: Unapplied,
    l4_fault: Unapplied,
    cors_policy: Unapplied,
}

/// An `IstioService`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Service {
    name: Option<Located<Name>>,
    service: Option<Located<Name>>,
    labels: Option<Located<LabelSet>>,
    namespace: Option<Name>,
    domain: Unapplied,
    /// Refused after the name is checked.
    #[serde(rename = "$leftover", default)]
    leftover: Leftover,
}

/// One `route[]` entry: labels and a weight.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    labels: Option<LabelSet>,
    destination: Option<Located<Service>>,
    weight: Option<Located<i128>>,
}

/// `match`: only `request.headers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchCondition {
    source: Unapplied,
    tcp: Unapplied,
    udp: Unapplied,
    request: Option<MatchRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchRequest {
    headers: Option<Entries<Located<StringMatchSpec>>>,
}

pub(super) fn parse(meta: Metadata, spec: &SpecAt<'_>, ctx: &mut Ctx<'_>) -> Result<PendingRule> {
    let read: Spec = yaml::read(ctx, spec.node, spec.key, &spec.path)?;

    let Named {
        name: destination,
        namespace: host_namespace,
        labels,
    } = service(ctx, &read.destination)?;
    // The rule serves requests for its destination; a `namespace` there names the
    // service's own namespace, else short names resolve in the rule's.
    let host = match host_namespace {
        Some(namespace) if !destination.contains('.') => {
            format!("{destination}.{namespace}.svc.cluster.local")
        }
        _ => destination.clone(),
    };
    if let Some(labels) = labels {
        return Err(labels.key_error(
            ctx,
            "destination labels are not supported; select versions with `route[].labels`",
        ));
    }

    let precedence = match &read.precedence {
        None => 0,
        Some(field) => i32::try_from(field.value).map_err(|_| {
            field.error(
                ctx,
                format!("precedence must fit in 32 bits, got {}", field.value),
            )
        })?,
    };

    let matches = match &read.condition {
        None => Vec::new(),
        Some(condition) => vec![match_condition(ctx, condition)?],
    };

    let splits = match &read.route {
        Some(routes) => self::routes(ctx, routes, &destination)?,
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
    if let Some(mirror) = &read.mirror {
        let Named {
            name: host, labels, ..
        } = service(ctx, mirror)?;
        mirrors.push(PendingMirror {
            destination: host,
            target: Target::Labels(labels.map(|l| l.value.0.clone()).unwrap_or_default()),
            percent: 100.0,
        });
    }

    let mut actions = Actions::default();
    if let Some(rewrite) = read.rewrite {
        let place = rewrite.with(());
        let rewrite = place.with(rewrite.value.into());
        actions.rewrite = Some(actions::rewrite(ctx, &rewrite)?);
    }
    if let Some(headers) = &read.append_headers {
        actions.headers.request = actions::append_headers(ctx, headers)?;
    }
    if let Some(timeout) = &read.http_req_timeout {
        actions.timeout = Some(actions::http_req_timeout(ctx, timeout)?);
    }
    if let Some(fault) = &read.http_fault {
        actions.fault = Some(actions::rule_fault(ctx, fault)?);
    }

    unapplied::refuse(
        ctx,
        &read.redirect,
        "redirect",
        "tower-mirror routes and mirrors, it does not redirect",
    )?;
    unapplied::warn(
        ctx,
        &read.websocket_upgrade,
        "upgrades pass through the primary route and are never mirrored",
    );
    unapplied::warn(
        ctx,
        &read.http_req_retries,
        "retries only change what a client sees when a backend fails; add tower::retry \
         around your backends",
    );
    unapplied::warn(
        ctx,
        &read.l4_fault,
        "Istio 0.5 applied it to TCP traffic only, which tower-mirror does not route",
    );
    unapplied::warn(
        ctx,
        &read.cors_policy,
        "CORS only changes answers to browsers' cross-origin requests; add tower-http's \
         CorsLayer",
    );

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
fn routes(
    ctx: &mut Ctx<'_>,
    routes: &[Located<Route>],
    destination: &str,
) -> Result<Vec<PendingSplit>> {
    let mut entries = Vec::with_capacity(routes.len());
    let mut selectors = Vec::with_capacity(routes.len());
    for route in routes {
        if let Some(field) = &route.destination {
            let Named {
                name: other,
                labels: other_labels,
                ..
            } = service(ctx, field)?;
            if other != destination {
                return Err(field.key_error(
                    ctx,
                    format!(
                        "routing to another service (`{other}`) is not supported; \
                         routes split `{destination}` by labels"
                    ),
                ));
            }
            if let Some(l) = other_labels {
                return Err(l.key_error(ctx, "set the labels in `labels` of the route"));
            }
        }
        entries.push(WeightEntry {
            weight: route.weight.as_ref(),
            entry: route.with(()),
        });
        let labels = route.labels.as_ref().map(|l| l.0.clone());
        selectors.push(Target::Labels(labels.unwrap_or_default()));
    }
    if routes.is_empty() {
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

/// An `IstioService` as checked.
#[derive(Debug)]
struct Named<'a> {
    /// Its `name` or `service`.
    name: String,
    /// Its `namespace`, if set.
    namespace: Option<String>,
    /// Its `labels`, if set.
    labels: Option<&'a Located<LabelSet>>,
}

fn service<'a>(ctx: &mut Ctx<'_>, field: &'a Located<Service>) -> Result<Named<'a>> {
    let service = &field.value;
    let name = match (&service.name, &service.service) {
        (Some(name), None) => name.0.clone(),
        (None, Some(fqdn)) => fqdn.0.clone(),
        (Some(_), Some(fqdn)) => {
            return Err(fqdn.key_error(ctx, "set only one of `name` or `service`"));
        }
        (None, None) => {
            return Err(ctx.error_at(
                field.key,
                &format!("{}.name", field.path),
                "missing required field `name`",
            ));
        }
    };
    service.leftover.refuse(ctx)?;
    unapplied::warn(
        ctx,
        &service.domain,
        "backends are looked up by the service name as written",
    );
    let namespace = service.namespace.as_ref().map(|n| n.0.clone());
    Ok(Named {
        name,
        namespace,
        labels: service.labels.as_ref(),
    })
}

/// `match`: only `request.headers`, where `uri`, `method` and `authority` are the request's
/// own attributes and other names are headers.
fn match_condition(ctx: &Ctx<'_>, condition: &MatchCondition) -> Result<RouteMatch> {
    let source = "tower-mirror runs inside one service and does not know the caller; \
                  remove it or route on a header the caller sets";
    unapplied::refuse(ctx, &condition.source, "source", source)?;
    unapplied::refuse(ctx, &condition.tcp, "tcp", "only HTTP routes are supported")?;
    unapplied::refuse(ctx, &condition.udp, "udp", "only HTTP routes are supported")?;
    let mut m = RouteMatch::default();
    let headers = condition.request.as_ref().and_then(|r| r.headers.as_ref());
    for (name, value) in headers.map_or(&[][..], |h| &h.0) {
        let value = spec::string_match(ctx, value, false)?;
        match name.to_ascii_lowercase().as_str() {
            "uri" => m.uri = Some(value),
            "method" => m.method = Some(value),
            "authority" => m.authority = Some(value),
            "scheme" => {
                return Err(name.error(ctx, "matching on the scheme is not supported"));
            }
            _ => {
                let header = spec::header_name(ctx, name)?;
                m.headers.push((header, value));
            }
        }
    }
    Ok(m)
}
