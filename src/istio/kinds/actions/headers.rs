//! `headers` (request and response `set`, `add`, `remove`) and a `RouteRule`'s
//! `appendHeaders`.

use http::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::rewrite::authority_value;
use crate::istio::headers::{HeaderOperations, Headers};
use crate::istio::yaml::{Ctx, Entries, Located, Name, Result};

/// `headers` of a route or a destination.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeadersSpec {
    request: Option<OperationsSpec>,
    response: Option<OperationsSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationsSpec {
    set: Option<Entries<Located<String>>>,
    add: Option<Entries<Located<String>>>,
    remove: Option<Vec<Located<Name>>>,
}

/// An authority set through a `host` or `:authority` header, and where.
pub(crate) type Authority = (String, Located<()>);

/// `headers` of a route or a destination: `request` and `response`, each with `set`,
/// `add` and `remove`. An authority set through `host` or `:authority` is returned on
/// its own (Istio turns it into an authority rewrite).
pub(crate) fn headers(ctx: &Ctx<'_>, spec: &HeadersSpec) -> Result<(Headers, Option<Authority>)> {
    let mut headers = Headers::default();
    let mut authority = None;
    if let Some(request) = &spec.request {
        headers.request = operations(ctx, request, Some(&mut authority))?;
    }
    if let Some(response) = &spec.response {
        headers.response = operations(ctx, response, None)?;
    }
    Ok((headers, authority))
}

/// One `request` or `response` block; `authority` collects a `host` or `:authority` set
/// on a request (`None` for a response, where they are refused).
fn operations(
    ctx: &Ctx<'_>,
    spec: &OperationsSpec,
    mut authority: Option<&mut Option<Authority>>,
) -> Result<HeaderOperations> {
    let mut ops = HeaderOperations::default();
    for (map, into) in [(&spec.set, &mut ops.set), (&spec.add, &mut ops.add)] {
        let Some(Entries(map)) = map else {
            continue;
        };
        // Istio writes these maps sorted by name.
        let mut entries = Vec::new();
        for (name, value) in map {
            let lower = name.to_ascii_lowercase();
            if let (Some(authority), "host" | ":authority") =
                (authority.as_deref_mut(), lower.as_str())
            {
                // Errors about the header point at its name.
                let at = value.with(());
                if let Some((_, first)) = authority {
                    return Err(at.key_error(
                        ctx,
                        format!(
                            "the authority is already set by `{}`; set it once",
                            first.path
                        ),
                    ));
                }
                let text = value.with(Name(value.value.clone()));
                if value.trim().is_empty() {
                    return Err(value.error(ctx, "must not be empty"));
                }
                *authority = Some((authority_value(ctx, &text)?, at));
                continue;
            }
            let header = header_name(ctx, name)?;
            entries.push((header, header_value(ctx, value)?));
        }
        entries.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        into.extend(entries);
    }
    if let Some(list) = &spec.remove {
        for name in list {
            ops.remove
                .push(header_name(ctx, &name.with(name.0.clone()))?);
        }
    }
    Ok(ops)
}

/// A header name Envoy may change: not the `Host` header, not a pseudo-header.
fn header_name(ctx: &Ctx<'_>, name: &Located<String>) -> Result<HeaderName> {
    if name.starts_with(':') {
        return Err(name.error(
            ctx,
            format!("`{}`: a pseudo-header cannot be changed", name.value),
        ));
    }
    if name.eq_ignore_ascii_case("host") {
        return Err(name.error(
            ctx,
            "the `Host` header can only be set on requests (`request.set` or `request.add`, \
             or `rewrite.authority`)",
        ));
    }
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map_err(|_| name.error(ctx, format!("`{}` is not a valid header name", name.value)))
}

/// A header value as Envoy would send it: `%%` is a literal `%`; `%NAME%` is one of
/// Envoy's variables, which tower-mirror does not expand, so it is refused.
fn header_value(ctx: &Ctx<'_>, value: &Located<String>) -> Result<HeaderValue> {
    let mut literal = String::with_capacity(value.len());
    let mut rest = value.as_str();
    while let Some(i) = rest.find('%') {
        literal.push_str(&rest[..i]);
        if rest[i + 1..].starts_with('%') {
            literal.push('%');
            rest = &rest[i + 2..];
        } else {
            return Err(value.error(
                ctx,
                "`%...%` is a variable Envoy expands (such as `%DOWNSTREAM_REMOTE_ADDRESS%`), \
                 which tower-mirror does not; write `%%` for a literal `%`",
            ));
        }
    }
    literal.push_str(rest);
    HeaderValue::from_str(&literal)
        .map_err(|_| value.error(ctx, "not a valid header value (control characters?)"))
}

/// `appendHeaders` of a `RouteRule`: request headers added.
pub(crate) fn append_headers(
    ctx: &Ctx<'_>,
    spec: &Entries<Located<String>>,
) -> Result<HeaderOperations> {
    let mut ops = HeaderOperations::default();
    for (name, value) in &spec.0 {
        let name = header_name(ctx, name)?;
        ops.add.push((name, header_value(ctx, value)?));
    }
    Ok(ops)
}
