//! `headers` (request and response `set`, `add`, `remove`) and a `RouteRule`'s
//! `appendHeaders`.

use http::{HeaderName, HeaderValue};

use super::rewrite::authority_value;
use crate::istio::headers::{HeaderOperations, Headers};
use crate::istio::yaml::{Ctx, Field, Result};

/// `headers` of a route or a destination: `request` and `response`, each with `set`,
/// `add` and `remove`. An authority set through `host` or `:authority` is returned on
/// its own (Istio turns it into an authority rewrite).
pub(crate) fn headers<'n>(
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
pub(crate) fn append_headers(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Result<HeaderOperations> {
    let mut ops = HeaderOperations::default();
    for entry in ctx.entries(field.node, &field.path)? {
        let value = ctx.string(entry.value, &entry.path)?;
        let name = header_name(ctx, entry.key_node, &entry.path, entry.key)?;
        ops.add
            .push((name, header_value(ctx, entry.value, &entry.path, &value)?));
    }
    Ok(ops)
}
