//! What a route does to requests besides routing and mirroring them: `rewrite`,
//! `headers`, `timeout` and `fault` of a `VirtualService`; `rewrite`, `appendHeaders`,
//! `httpReqTimeout` and `httpFault` of a `RouteRule`. Validated as Istio validates them.

use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};

use super::spec;
use crate::istio::fault::{Fault, FaultAbort, FaultDelay};
use crate::istio::headers::{HeaderOperations, Headers};
use crate::istio::rewrite::{RegexRewrite, Rewrite, UriRewrite};
use crate::istio::yaml::{Ctx, Field, Result};

/// `rewrite` (`uri`, `uriRegexRewrite`, `authority`; a `RouteRule` has no regex).
pub(super) fn rewrite(ctx: &mut Ctx<'_>, field: &Field<'_>, regex: bool) -> Result<Rewrite> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let uri = fields.take(ctx, "uri")?;
    let regex_rewrite = if regex {
        fields.take(ctx, "uriRegexRewrite")?
    } else {
        None
    };
    let authority = fields.take(ctx, "authority")?;
    fields.finish(ctx, &[], &[])?;

    let mut rewrite = Rewrite::default();
    match (uri, regex_rewrite) {
        (Some(_), Some(second)) => {
            return Err(ctx.error(
                second.key,
                &second.path,
                "set only one of `uri` or `uriRegexRewrite`",
            ));
        }
        (Some(uri), None) => {
            let path = ctx.name(uri.node, &uri.path)?;
            if !path.starts_with('/') {
                return Err(ctx.error(uri.node, &uri.path, "must start with `/`"));
            }
            rewrite.uri = Some(UriRewrite::Prefix(path));
        }
        (None, Some(field)) => {
            let mut regex = ctx.fields(field.node, &field.path)?;
            let pattern = regex.require(ctx, "match", field.key)?;
            let substitution = regex.require(ctx, "rewrite", field.key)?;
            regex.finish(ctx, &[], &[])?;
            let text = ctx.name(pattern.node, &pattern.path)?;
            let with = ctx.name(substitution.node, &substitution.path)?;
            let compiled = RegexRewrite::new(&text, &with).map_err(|err| {
                ctx.error(
                    pattern.node,
                    &pattern.path,
                    format!("invalid regex: {}", spec::regex_message(&err)),
                )
            })?;
            rewrite.uri = Some(UriRewrite::Regex(compiled));
        }
        (None, None) => {}
    }
    if let Some(field) = authority {
        rewrite.authority = Some(authority_value(ctx, &field)?);
    }
    if rewrite == Rewrite::default() {
        return Err(ctx.error(
            field.key,
            &field.path,
            "needs `uri`, `uriRegexRewrite` or `authority`",
        ));
    }
    Ok(rewrite)
}

fn authority_value(ctx: &Ctx<'_>, field: &Field<'_>) -> Result<String> {
    let value = ctx.name(field.node, &field.path)?;
    if http::uri::Authority::try_from(value.as_str()).is_err() {
        return Err(ctx.error(
            field.node,
            &field.path,
            "not a valid authority (host[:port])",
        ));
    }
    Ok(value)
}

/// `headers` of a route or a destination: `request` and `response`, each with `set`,
/// `add` and `remove`. An authority set through `host` or `:authority` is returned on
/// its own (Istio turns it into an authority rewrite).
pub(super) fn headers<'n>(
    ctx: &mut Ctx<'_>,
    field: &Field<'n>,
) -> Result<(Headers, Option<(String, Field<'n>)>)> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let mut headers = Headers::default();
    let mut authority = None;
    if let Some(request) = fields.take(ctx, "request")? {
        headers.request = operations(ctx, &request, Some(&mut authority))?;
    }
    if let Some(response) = fields.take(ctx, "response")? {
        headers.response = operations(ctx, &response, None)?;
    }
    fields.finish(ctx, &[], &[])?;
    Ok((headers, authority))
}

/// One `request` or `response` block; `authority` collects a `host` or `:authority` set
/// on a request (`None` for a response, where they are refused).
fn operations<'n>(
    ctx: &mut Ctx<'_>,
    field: &Field<'n>,
    mut authority: Option<&mut Option<(String, Field<'n>)>>,
) -> Result<HeaderOperations> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let mut ops = HeaderOperations::default();
    for (name, into) in [("set", &mut ops.set), ("add", &mut ops.add)] {
        let Some(map) = fields.take(ctx, name)? else {
            continue;
        };
        // Istio writes these maps sorted by name.
        let mut entries = Vec::new();
        for entry in ctx.entries(map.node, &map.path)? {
            let value = ctx.string(entry.value, &entry.path)?;
            let lower = entry.key.to_ascii_lowercase();
            if let (Some(authority), "host" | ":authority") =
                (authority.as_deref_mut(), lower.as_str())
            {
                let at = Field {
                    key: entry.key_node,
                    node: entry.value,
                    path: entry.path.clone(),
                };
                if let Some((_, first)) = authority {
                    return Err(ctx.error(
                        entry.key_node,
                        &entry.path,
                        format!(
                            "the authority is already set by `{}`; set it once",
                            first.path
                        ),
                    ));
                }
                let value = authority_value(ctx, &at)?;
                *authority = Some((value, at));
                continue;
            }
            let header = header_name(ctx, entry.key_node, &entry.path, entry.key)?;
            entries.push((header, header_value(ctx, entry.value, &entry.path, &value)?));
        }
        entries.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        into.extend(entries);
    }
    if let Some(list) = fields.take(ctx, "remove")? {
        for (i, node) in ctx.list(list.node, &list.path)?.iter().enumerate() {
            let path = format!("{}[{i}]", list.path);
            let name = ctx.name(node, &path)?;
            ops.remove.push(header_name(ctx, node, &path, &name)?);
        }
    }
    fields.finish(ctx, &[], &[])?;
    Ok(ops)
}

/// A header name Envoy may change: not the `Host` header, not a pseudo-header.
fn header_name(
    ctx: &Ctx<'_>,
    at: &crate::istio::yaml::Node,
    path: &str,
    name: &str,
) -> Result<HeaderName> {
    if name.starts_with(':') {
        return Err(ctx.error(
            at,
            path,
            format!("`{name}`: a pseudo-header cannot be changed"),
        ));
    }
    if name.eq_ignore_ascii_case("host") {
        return Err(ctx.error(
            at,
            path,
            "the `Host` header can only be set on requests (`request.set` or `request.add`, \
             or `rewrite.authority`)",
        ));
    }
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map_err(|_| ctx.error(at, path, format!("`{name}` is not a valid header name")))
}

/// A header value as Envoy would send it: `%%` is a literal `%`; `%NAME%` is one of
/// Envoy's variables, which tower-mirror does not expand, so it is refused.
fn header_value(
    ctx: &Ctx<'_>,
    at: &crate::istio::yaml::Node,
    path: &str,
    value: &str,
) -> Result<HeaderValue> {
    let mut literal = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        literal.push_str(&rest[..i]);
        if rest[i + 1..].starts_with('%') {
            literal.push('%');
            rest = &rest[i + 2..];
        } else {
            return Err(ctx.error(
                at,
                path,
                "`%...%` is a variable Envoy expands (such as `%DOWNSTREAM_REMOTE_ADDRESS%`), \
                 which tower-mirror does not; write `%%` for a literal `%`",
            ));
        }
    }
    literal.push_str(rest);
    HeaderValue::from_str(&literal)
        .map_err(|_| ctx.error(at, path, "not a valid header value (control characters?)"))
}

/// `appendHeaders` of a `RouteRule`: request headers added.
pub(super) fn append_headers(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Result<HeaderOperations> {
    let mut ops = HeaderOperations::default();
    for entry in ctx.entries(field.node, &field.path)? {
        let value = ctx.string(entry.value, &entry.path)?;
        let name = header_name(ctx, entry.key_node, &entry.path, entry.key)?;
        ops.add
            .push((name, header_value(ctx, entry.value, &entry.path, &value)?));
    }
    Ok(ops)
}

/// A duration as Istio writes them (`7s`, `0.5s`, `100ms`, `1m30s`): at least 1ms, to
/// the millisecond, as Istio validates it.
pub(super) fn duration(ctx: &Ctx<'_>, field: &Field<'_>) -> Result<Duration> {
    let text = ctx.name(field.node, &field.path)?;
    let duration = parse_duration(&text).ok_or_else(|| {
        ctx.error(
            field.node,
            &field.path,
            format!("`{text}` is not a duration; write it as `7s`, `0.5s`, `100ms` or `1m30s`"),
        )
    })?;
    if duration < Duration::from_millis(1) {
        return Err(ctx.error(field.node, &field.path, "must be at least 1ms"));
    }
    if duration.subsec_nanos() % 1_000_000 != 0 {
        return Err(ctx.error(
            field.node,
            &field.path,
            "only durations to the millisecond are supported",
        ));
    }
    Ok(duration)
}

/// Go's duration syntax (what Kubernetes and Istio accept): numbers with units `h`, `m`,
/// `s`, `ms`, `us`/`µs`, `ns`, such as `1m30.5s`.
fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() || rest.starts_with('-') {
        return None;
    }
    rest = rest.strip_prefix('+').unwrap_or(rest);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "h" => 3_600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" | "μs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        let nanos = (number * nanos_per_unit).round();
        if !nanos.is_finite() || nanos > u64::MAX as f64 {
            return None;
        }
        total = total.checked_add(Duration::from_nanos(nanos as u64))?;
    }
    Some(total)
}

/// `timeout` of a route.
pub(super) fn timeout(ctx: &Ctx<'_>, field: &Field<'_>) -> Result<Duration> {
    duration(ctx, field)
}

/// `httpReqTimeout` of a `RouteRule`: `simpleTimeout.timeout`.
pub(super) fn http_req_timeout(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Result<Duration> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let simple = fields.require(ctx, "simpleTimeout", field.key)?;
    spec::reject(
        ctx,
        &mut fields,
        "custom",
        "only `simpleTimeout` is supported",
    )?;
    fields.finish(ctx, &[], &[])?;
    let mut simple_fields = ctx.fields(simple.node, &simple.path)?;
    let timeout = simple_fields.require(ctx, "timeout", simple.key)?;
    spec::reject(
        ctx,
        &mut simple_fields,
        "overrideHeaderName",
        "a timeout chosen by a request header is not supported",
    )?;
    simple_fields.finish(ctx, &[], &[])?;
    duration(ctx, &timeout)
}

/// Which spelling of fault injection is read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FaultSpelling {
    /// `VirtualService` `fault`: `percentage: {value}` (or the deprecated integer
    /// `percent` of a delay); unset means no request.
    VirtualService,
    /// `RouteRule` `httpFault` (Istio 0.5): a float `percent`; 0 or unset means none.
    RouteRule,
}

/// `fault` of a route (or `httpFault` of a `RouteRule`).
pub(super) fn fault(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    spelling: FaultSpelling,
) -> Result<Fault> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let delay = fields.take(ctx, "delay")?;
    let abort = fields.take(ctx, "abort")?;
    fields.finish(ctx, &[], &[])?;
    if delay.is_none() && abort.is_none() {
        return Err(ctx.error(
            field.key,
            &field.path,
            "needs a `delay`, an `abort` or both",
        ));
    }
    let mut fault = Fault::default();
    if let Some(delay) = delay {
        fault.delay = fault_delay(ctx, &delay, spelling)?;
    }
    if let Some(abort) = abort {
        fault.abort = fault_abort(ctx, &abort, spelling)?;
    }
    Ok(fault)
}

/// The share of requests a fault applies to.
fn fault_percent(
    ctx: &mut Ctx<'_>,
    fields: &mut crate::istio::yaml::Fields<'_>,
    spelling: FaultSpelling,
    legacy_integer: bool,
) -> Result<f64> {
    match spelling {
        FaultSpelling::RouteRule => match fields.take(ctx, "percent")? {
            Some(field) => spec::percent(ctx, field.node, &field.path),
            None => Ok(0.0),
        },
        FaultSpelling::VirtualService => {
            let legacy = if legacy_integer {
                fields.take(ctx, "percent")?
            } else {
                None
            };
            match fields.take(ctx, "percentage")? {
                Some(field) => {
                    let mut value = ctx.fields(field.node, &field.path)?;
                    let v = value.require(ctx, "value", field.key)?;
                    value.finish(ctx, &[], &[])?;
                    spec::percent(ctx, v.node, &v.path)
                }
                None => match legacy {
                    Some(field) => spec::int_percent(ctx, field.node, &field.path),
                    None => Ok(0.0),
                },
            }
        }
    }
}

fn fault_delay(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    spelling: FaultSpelling,
) -> Result<Option<FaultDelay>> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let percent = fault_percent(ctx, &mut fields, spelling, true)?;
    let fixed = fields.take(ctx, "fixedDelay")?;
    spec::reject(
        ctx,
        &mut fields,
        "exponentialDelay",
        "Istio does not support it either; use `fixedDelay`",
    )?;
    spec::reject(
        ctx,
        &mut fields,
        "overrideHeaderName",
        "a delay chosen by a request header is not supported",
    )?;
    fields.finish(ctx, &[], &[])?;
    let Some(fixed) = fixed else {
        ctx.warn(
            field.key,
            &field.path,
            "ignored: a delay without `fixedDelay` delays nothing (as in Istio)",
        );
        return Ok(None);
    };
    Ok(Some(FaultDelay {
        duration: duration(ctx, &fixed)?,
        percent,
    }))
}

fn fault_abort(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    spelling: FaultSpelling,
) -> Result<Option<FaultAbort>> {
    let mut fields = ctx.fields(field.node, &field.path)?;
    let percent = fault_percent(ctx, &mut fields, spelling, false)?;
    let status = fields.take(ctx, "httpStatus")?;
    spec::reject(
        ctx,
        &mut fields,
        "grpcStatus",
        "tower-mirror aborts with HTTP statuses only; use `httpStatus`",
    )?;
    spec::reject(
        ctx,
        &mut fields,
        "http2Error",
        "Istio does not support it either; use `httpStatus`",
    )?;
    spec::reject(
        ctx,
        &mut fields,
        "overrideHeaderName",
        "an abort chosen by a request header is not supported",
    )?;
    fields.finish(ctx, &[], &[])?;
    let Some(status) = status else {
        ctx.warn(
            field.key,
            &field.path,
            "ignored: an abort without `httpStatus` aborts nothing (as in Istio)",
        );
        return Ok(None);
    };
    let code = ctx.int(status.node, &status.path)?;
    let status_code = u16::try_from(code)
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| {
            ctx.error(
                status.node,
                &status.path,
                format!("HTTP status {code} is not in range 200-599"),
            )
        })?;
    Ok(Some(FaultAbort {
        status: status_code,
        percent,
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("7s"), Some(ms(7000)));
        assert_eq!(parse_duration("0.5s"), Some(ms(500)));
        assert_eq!(parse_duration("100ms"), Some(ms(100)));
        assert_eq!(parse_duration("1m30s"), Some(ms(90_000)));
        assert_eq!(parse_duration("1h"), Some(ms(3_600_000)));
        assert_eq!(parse_duration("1500us"), Some(Duration::from_micros(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "7", "s", "-1s", "1x", "1.2.3s", "1e3s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
