//! `rewrite`: `uri`, `uriRegexRewrite` and `authority`.

use serde::Deserialize;

use super::super::spec;
use crate::istio::rewrite::{RegexRewrite, Rewrite, UriRewrite};
use crate::istio::yaml::{Ctx, Located, Name, Result};

/// `rewrite` of a `VirtualService` route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RewriteSpec {
    uri: Option<Located<Name>>,
    uri_regex_rewrite: Option<Located<RegexRewriteSpec>>,
    authority: Option<Located<Name>>,
}

/// `rewrite` of a `RouteRule`: no regex.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleRewriteSpec {
    uri: Option<Located<Name>>,
    authority: Option<Located<Name>>,
}

impl From<RuleRewriteSpec> for RewriteSpec {
    fn from(spec: RuleRewriteSpec) -> Self {
        RewriteSpec {
            uri: spec.uri,
            uri_regex_rewrite: None,
            authority: spec.authority,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegexRewriteSpec {
    #[serde(rename = "match")]
    pattern: Located<Name>,
    rewrite: Located<Name>,
}

/// `rewrite` (`uri`, `uriRegexRewrite`, `authority`).
pub(crate) fn rewrite(ctx: &Ctx<'_>, spec: &Located<RewriteSpec>) -> Result<Rewrite> {
    let RewriteSpec {
        uri,
        uri_regex_rewrite,
        authority,
    } = &spec.value;
    let mut rewrite = Rewrite::default();
    match (uri, uri_regex_rewrite) {
        (Some(_), Some(second)) => {
            return Err(second.key_error(ctx, "set only one of `uri` or `uriRegexRewrite`"));
        }
        (Some(uri), None) => {
            let Name(path) = &uri.value;
            if !path.starts_with('/') {
                return Err(uri.error(ctx, "must start with `/`"));
            }
            rewrite.uri = Some(UriRewrite::Prefix(path.clone()));
        }
        (None, Some(regex)) => {
            let RegexRewriteSpec {
                pattern,
                rewrite: with,
            } = &regex.value;
            let compiled = RegexRewrite::new(&pattern.0, &with.0).map_err(|err| {
                pattern.error(ctx, format!("invalid regex: {}", spec::regex_message(&err)))
            })?;
            rewrite.uri = Some(UriRewrite::Regex(compiled));
        }
        (None, None) => {}
    }
    if let Some(authority) = authority {
        rewrite.authority = Some(authority_value(ctx, authority)?);
    }
    if rewrite == Rewrite::default() {
        return Err(spec.key_error(ctx, "needs `uri`, `uriRegexRewrite` or `authority`"));
    }
    Ok(rewrite)
}

pub(super) fn authority_value(ctx: &Ctx<'_>, value: &Located<Name>) -> Result<String> {
    let Name(text) = &value.value;
    if http::uri::Authority::try_from(text.as_str()).is_err() {
        return Err(value.error(ctx, "not a valid authority (host[:port])"));
    }
    Ok(text.clone())
}
