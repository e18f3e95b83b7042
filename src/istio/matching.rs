//! Which requests a rule takes: Istio's `HTTPMatchRequest` and `StringMatch`, held
//! and evaluated against a request's parts.

use std::fmt;

use http::request::Parts;

/// How one request attribute (path, method, authority, a header) is compared, as Istio's
/// `StringMatch`.
///
/// ```
/// use tower_mirror::istio::{AnchoredRegex, StringMatch};
///
/// assert!(StringMatch::Prefix("/api".into()).matches("/api/v1"));
/// let re = StringMatch::Regex(AnchoredRegex::new("/users/[0-9]+").unwrap());
/// assert!(re.matches("/users/42"));
/// assert!(!re.matches("/users/42/edit")); // the whole value must match
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StringMatch {
    /// The value equals this string.
    Exact(String),
    /// The value starts with this string.
    Prefix(String),
    /// The whole value matches this regular expression (RE2 syntax, as Istio).
    Regex(AnchoredRegex),
    /// The attribute is present, whatever its value (Istio's empty match `{}` on a header).
    Present,
}

impl StringMatch {
    /// Whether `value` satisfies this match.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            StringMatch::Exact(s) => value == s,
            StringMatch::Prefix(p) => value.starts_with(p.as_str()),
            StringMatch::Regex(re) => re.is_match(value),
            StringMatch::Present => true,
        }
    }

    fn matches_ignore_case(&self, value: &str) -> bool {
        match self {
            StringMatch::Exact(s) => value.eq_ignore_ascii_case(s),
            StringMatch::Prefix(p) => value
                .as_bytes()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes())),
            // As Envoy: `ignoreUriCase` does not apply to regexes.
            other => other.matches(value),
        }
    }
}

impl fmt::Display for StringMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StringMatch::Exact(s) => write!(f, "exact {s:?}"),
            StringMatch::Prefix(s) => write!(f, "prefix {s:?}"),
            StringMatch::Regex(re) => write!(f, "regex {:?}", re.as_str()),
            StringMatch::Present => f.write_str("present"),
        }
    }
}

/// A regular expression that must match a whole value, as Istio's (RE2) regex matches.
///
/// Compared by its pattern, so configs can be compared with `==`.
///
/// ```
/// use tower_mirror::istio::AnchoredRegex;
///
/// let re = AnchoredRegex::new("v[12]").unwrap();
/// assert!(re.is_match("v1"));
/// assert!(!re.is_match("xv1"));
/// assert_eq!(re.as_str(), "v[12]");
/// ```
#[derive(Clone)]
pub struct AnchoredRegex {
    pattern: String,
    regex: regex::Regex,
}

impl AnchoredRegex {
    /// Compiles `pattern`, anchored at both ends.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        let regex = regex::Regex::new(&format!(r"\A(?:{pattern})\z"))?;
        Ok(AnchoredRegex {
            pattern: pattern.to_owned(),
            regex,
        })
    }

    /// The pattern as written in the config, without the anchors.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the whole of `value` matches.
    pub fn is_match(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

impl fmt::Debug for AnchoredRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AnchoredRegex").field(&self.pattern).finish()
    }
}

impl PartialEq for AnchoredRegex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for AnchoredRegex {}

/// One match entry of a rule (Istio's `HTTPMatchRequest`): every condition set here must
/// hold. A rule matches when any of its entries does; a rule without entries matches all.
///
/// ```
/// use tower_mirror::istio::{RouteMatch, StringMatch};
///
/// let mut m = RouteMatch::default();
/// m.uri = Some(StringMatch::Prefix("/api".into()));
/// m.headers.push(("x-canary".into(), StringMatch::Exact("1".into())));
///
/// let (parts, ()) = http::Request::get("/api/items")
///     .header("x-canary", "1")
///     .body(())
///     .unwrap()
///     .into_parts();
/// assert!(m.matches(&parts));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteMatch {
    /// The request path, without the query string (a prefix also sees the query, as Envoy).
    pub uri: Option<StringMatch>,
    /// The method, such as `GET`.
    pub method: Option<StringMatch>,
    /// The authority: the URI's, else the `Host` header.
    pub authority: Option<StringMatch>,
    /// Header conditions, by lowercase name. Several values of one header are joined
    /// with `,` before matching; a header that is not valid UTF-8 only matches `Present`.
    pub headers: Vec<(String, StringMatch)>,
    /// Compare `uri` exact and prefix matches ignoring ASCII case (Istio's `ignoreUriCase`).
    pub ignore_uri_case: bool,
}

impl RouteMatch {
    /// Whether a request with these parts satisfies every condition of this entry.
    pub fn matches(&self, parts: &Parts) -> bool {
        if let Some(uri) = &self.uri {
            let value = match uri {
                StringMatch::Prefix(_) => parts
                    .uri
                    .path_and_query()
                    .map_or(parts.uri.path(), |pq| pq.as_str()),
                _ => parts.uri.path(),
            };
            let ok = if self.ignore_uri_case {
                uri.matches_ignore_case(value)
            } else {
                uri.matches(value)
            };
            if !ok {
                return false;
            }
        }
        if let Some(method) = &self.method
            && !method.matches(parts.method.as_str())
        {
            return false;
        }
        if let Some(authority) = &self.authority {
            let value = match parts.uri.authority() {
                Some(a) => Some(a.as_str()),
                None => parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|v| v.to_str().ok()),
            };
            if !value.is_some_and(|v| authority.matches(v)) {
                return false;
            }
        }
        self.headers
            .iter()
            .all(|(name, m)| header_matches(parts, name, m))
    }
}

fn header_matches(parts: &Parts, name: &str, m: &StringMatch) -> bool {
    let mut values = parts.headers.get_all(name).iter().peekable();
    if values.peek().is_none() {
        return false;
    }
    if *m == StringMatch::Present {
        return true;
    }
    let mut joined = String::new();
    for (i, value) in values.enumerate() {
        let Ok(value) = value.to_str() else {
            return false;
        };
        if i > 0 {
            joined.push(',');
        }
        joined.push_str(value);
    }
    m.matches(&joined)
}
