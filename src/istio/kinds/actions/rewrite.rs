//! `rewrite`: `uri`, `uriRegexRewrite` and `authority`.

use super::super::spec;
use crate::istio::rewrite::{RegexRewrite, Rewrite, UriRewrite};
use crate::istio::yaml::{Ctx, Field, Result};

/// `rewrite` (`uri`, `uriRegexRewrite`, `authority`; a `RouteRule` has no regex).
pub(crate) fn rewrite(ctx: &mut Ctx<'_>, field: &Field<'_>, regex: bool) -> Result<Rewrite> {
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

pub(super) fn authority_value(ctx: &Ctx<'_>, field: &Field<'_>) -> Result<String> {
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
