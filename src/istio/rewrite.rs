//! How a rule rewrites the requests it forwards: Istio's `HTTPRewrite` (`uri`,
//! `uriRegexRewrite`, `authority`), as Envoy applies it.

use std::fmt;

use http::header::HOST;
use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Uri, request::Parts};

use super::matching::{RouteMatch, StringMatch};

/// How a rule rewrites a request before forwarding (and mirroring) it, as Istio's
/// `rewrite` does.
///
/// ```
/// use tower_mirror::istio::{Config, UriRewrite};
///
/// let config = Config::from_yaml(r#"
/// apiVersion: networking.istio.io/v1
/// kind: VirtualService
/// metadata: {name: ratings}
/// spec:
///   hosts: [ratings]
///   http:
///   - match: [{uri: {prefix: /ratings}}]
///     rewrite: {uri: /v1/bookRatings, authority: ratings.internal}
///     route: [{destination: {host: ratings}}]
/// "#)?;
/// let rewrite = config.rules()[0].rewrite.as_ref().unwrap();
/// assert_eq!(rewrite.uri, Some(UriRewrite::Prefix("/v1/bookRatings".into())));
/// assert_eq!(rewrite.authority.as_deref(), Some("ratings.internal"));
/// # Ok::<(), tower_mirror::istio::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rewrite {
    /// The new path, if any.
    pub uri: Option<UriRewrite>,
    /// The new authority: the `Host` header (and the URI's authority, when it has one).
    /// `headers.request.set` of `host` or `:authority` lands here too, as in Istio.
    pub authority: Option<String>,
}

/// How the path is rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriRewrite {
    /// `rewrite.uri`: replaces the part of the path the rule's `uri` match took: the
    /// matched prefix for a prefix match, the whole path for an exact or regex match,
    /// and the leading `/` when the match has no `uri` condition (Envoy's
    /// `prefix_rewrite`, so `/v2` turns `/a` into `/v2a`). The query is kept.
    Prefix(String),
    /// `rewrite.uriRegexRewrite`: every match of a regex in the path replaced.
    Regex(RegexRewrite),
}

/// `uriRegexRewrite`: every match of `pattern` in the path (not the query) replaced by
/// `substitution`, where `\1`, `\2`, ... are the pattern's groups (RE2 syntax, as Envoy).
///
/// ```
/// use tower_mirror::istio::RegexRewrite;
///
/// let rewrite = RegexRewrite::new("^/service/([^/]+)/(.*)$", r"/customprefix/\2/\1").unwrap();
/// assert_eq!(rewrite.apply("/service/update/v1/api"), "/customprefix/v1/api/update");
/// ```
#[derive(Clone)]
pub struct RegexRewrite {
    regex: regex::Regex,
    substitution: String,
    /// `substitution` in the regex crate's syntax.
    replacement: String,
}

impl RegexRewrite {
    /// Compiles `pattern`; `substitution` refers to groups as `\1` .. `\9`.
    pub fn new(pattern: &str, substitution: &str) -> Result<Self, regex::Error> {
        Ok(RegexRewrite {
            regex: regex::Regex::new(pattern)?,
            substitution: substitution.to_owned(),
            replacement: replacement(substitution),
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    /// The substitution as written.
    pub fn substitution(&self) -> &str {
        &self.substitution
    }

    /// `path` with every match replaced.
    pub fn apply(&self, path: &str) -> String {
        self.regex
            .replace_all(path, self.replacement.as_str())
            .into_owned()
    }
}

/// RE2's `\1` becomes the regex crate's `${1}`; a literal `$` must be doubled there.
fn replacement(substitution: &str) -> String {
    let mut out = String::with_capacity(substitution.len() + 4);
    let mut chars = substitution.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str(&format!("${{{d}}}"));
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

impl fmt::Debug for RegexRewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegexRewrite")
            .field("pattern", &self.pattern())
            .field("substitution", &self.substitution)
            .finish()
    }
}

impl PartialEq for RegexRewrite {
    fn eq(&self, other: &Self) -> bool {
        (self.pattern(), &self.substitution) == (other.pattern(), &other.substitution)
    }
}

impl Eq for RegexRewrite {}

/// Why a rewritten request could not be built.
#[derive(Debug)]
pub(crate) struct InvalidRewrite(pub(crate) String);

impl Rewrite {
    /// Rewrites `parts`, which `matched` (the rule's match entry that took the request,
    /// `None` for a rule without one) selected.
    pub(crate) fn apply(
        &self,
        matched: Option<&RouteMatch>,
        parts: &mut Parts,
    ) -> Result<(), InvalidRewrite> {
        let path_and_query = match &self.uri {
            None => None,
            Some(rewrite) => Some(rewritten_path(rewrite, matched, &parts.uri)?),
        };
        let authority = match &self.authority {
            None => None,
            Some(authority) => {
                let value = HeaderValue::from_str(authority)
                    .map_err(|_| InvalidRewrite(format!("authority {authority:?}")))?;
                parts.headers.insert(HOST, value);
                Some(authority)
            }
        };
        if path_and_query.is_none() && (authority.is_none() || parts.uri.authority().is_none()) {
            return Ok(());
        }
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        if let Some(pq) = path_and_query {
            uri.path_and_query = Some(pq);
        }
        if let (Some(authority), Some(_)) = (authority, &uri.authority) {
            uri.authority = Some(
                Authority::try_from(authority.as_str())
                    .map_err(|_| InvalidRewrite(format!("authority {authority:?}")))?,
            );
        }
        parts.uri = Uri::from_parts(uri).map_err(|e| InvalidRewrite(e.to_string()))?;
        Ok(())
    }
}

fn rewritten_path(
    rewrite: &UriRewrite,
    matched: Option<&RouteMatch>,
    uri: &Uri,
) -> Result<PathAndQuery, InvalidRewrite> {
    let path = uri.path();
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let text = match rewrite {
        UriRewrite::Regex(regex) => format!("{}{query}", regex.apply(path)),
        UriRewrite::Prefix(new) => match matched.and_then(|m| m.uri.as_ref()) {
            // The prefix was matched against the path with its query, as Envoy does; it
            // matched byte for byte (or ASCII case-insensitively), so its length is a
            // character boundary.
            Some(StringMatch::Prefix(prefix)) => {
                let full = uri.path_and_query().map_or(path, PathAndQuery::as_str);
                format!("{new}{}", full.get(prefix.len()..).unwrap_or_default())
            }
            Some(_) => format!("{new}{query}"),
            // No `uri` condition: Envoy's route matches the prefix `/`.
            None => format!("{new}{}{query}", path.strip_prefix('/').unwrap_or(path)),
        },
    };
    PathAndQuery::try_from(text.as_str()).map_err(|_| InvalidRewrite(format!("path {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re2_substitutions_become_regex_crate_ones() {
        assert_eq!(replacement(r"/a/\2/\1"), "/a/${2}/${1}");
        assert_eq!(replacement(r"/$1/\\x"), r"/$$1/\x");
    }
}
