//! Host names as Istio reads them: a short name stands for a Kubernetes service in its
//! resource's namespace, `*.example.com` for every name under `example.com`, `*` for
//! all; and the host of a request, as the router compares it with them.

use http::request::Parts;

/// The cluster domain Kubernetes service names end in.
const CLUSTER_SUFFIX: &str = ".svc.cluster.local";

/// A host as a rule (or a `DestinationRule`) names it, normalised for comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// One service or domain: its full name and every name a request may use for it.
    Exact {
        /// `reviews.default.svc.cluster.local` for a short `reviews` in `default`.
        canonical: String,
        /// Names that select it, the canonical one included.
        aliases: Vec<String>,
    },
    /// `*.example.com`: names ending in `.example.com` (not `example.com` itself).
    Suffix(String),
    /// `*`: every host.
    Any,
}

impl HostPattern {
    /// Reads `host` as written in a resource of `namespace`.
    ///
    /// A short name (no dot) is the service of that name in `namespace`, and a request
    /// may name it `reviews`, `reviews.ns`, `reviews.ns.svc` or
    /// `reviews.ns.svc.cluster.local`. A name written as `reviews.ns.svc` or
    /// `reviews.ns.svc.cluster.local` is the same service, reached by all these but the
    /// bare `reviews` (which only a resource of that namespace can claim). Anything
    /// else is one name, compared exactly.
    pub(crate) fn new(host: &str, namespace: &str) -> HostPattern {
        let host = normalize(host);
        if host == "*" {
            return HostPattern::Any;
        }
        if let Some(suffix) = host.strip_prefix('*') {
            return HostPattern::Suffix(suffix.to_owned());
        }
        if !host.contains('.') {
            let namespace = normalize(namespace);
            let service = format!("{host}.{namespace}");
            let mut aliases = vec![host];
            aliases.extend(service_aliases(&service));
            return HostPattern::Exact {
                canonical: format!("{service}{CLUSTER_SUFFIX}"),
                aliases,
            };
        }
        let service = host
            .strip_suffix(CLUSTER_SUFFIX)
            .or_else(|| host.strip_suffix(".svc"))
            .filter(|service| service.matches('.').count() == 1);
        match service {
            Some(service) => HostPattern::Exact {
                canonical: format!("{service}{CLUSTER_SUFFIX}"),
                aliases: service_aliases(service).collect(),
            },
            None => HostPattern::Exact {
                canonical: host.clone(),
                aliases: vec![host],
            },
        }
    }

    /// One key per distinct host: two patterns with the same key name the same host.
    pub(crate) fn key(&self) -> String {
        match self {
            HostPattern::Exact { canonical, .. } => canonical.clone(),
            HostPattern::Suffix(suffix) => format!("*{suffix}"),
            HostPattern::Any => "*".to_owned(),
        }
    }
}

/// `name.ns` -> `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`.
fn service_aliases(service: &str) -> impl Iterator<Item = String> + '_ {
    ["", ".svc", CLUSTER_SUFFIX]
        .into_iter()
        .map(move |suffix| format!("{service}{suffix}"))
}

/// Lowercase, without the trailing dot of a fully qualified name.
fn normalize(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// The host a request is for: its `Host` header, else its URI's authority; without the
/// port or a trailing dot, lowercased. `None` when it names none.
pub(crate) fn request_host(parts: &Parts) -> Option<String> {
    let authority = match parts.headers.get(http::header::HOST) {
        Some(value) => value.to_str().ok()?,
        None => parts.uri.authority()?.as_str(),
    };
    // Credentials are not part of a Host header, but may be of an absolute URI.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if authority.starts_with('[') {
        // An IPv6 literal: the port, if any, follows the closing bracket.
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    let host = normalize(host);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aliases(host: &str, namespace: &str) -> Vec<String> {
        match HostPattern::new(host, namespace) {
            HostPattern::Exact { aliases, .. } => aliases,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn short_names_expand_in_their_namespace() {
        assert_eq!(
            aliases("Reviews", "prod"),
            [
                "reviews",
                "reviews.prod",
                "reviews.prod.svc",
                "reviews.prod.svc.cluster.local"
            ]
        );
        assert_eq!(
            HostPattern::new("reviews", "prod").key(),
            HostPattern::new("reviews.prod.svc.cluster.local.", "default").key()
        );
        assert_eq!(
            aliases("reviews.prod.svc", "default"),
            [
                "reviews.prod",
                "reviews.prod.svc",
                "reviews.prod.svc.cluster.local"
            ]
        );
        assert_eq!(aliases("example.com", "default"), ["example.com"]);
        assert_eq!(
            aliases("a.b.c.svc.cluster.local", "x"),
            ["a.b.c.svc.cluster.local"]
        );
    }

    #[test]
    fn wildcards() {
        assert_eq!(
            HostPattern::new("*.Example.com", "default"),
            HostPattern::Suffix(".example.com".into())
        );
        assert_eq!(HostPattern::new("*", "default"), HostPattern::Any);
    }

    #[test]
    fn request_host_drops_port_and_trailing_dot() {
        let parts = |host: Option<&str>, uri: &str| {
            let mut builder = http::Request::get(uri);
            if let Some(host) = host {
                builder = builder.header("host", host);
            }
            builder.body(()).unwrap().into_parts().0
        };
        let cases = [
            (Some("Reviews:9080"), "/", Some("reviews")),
            (Some("reviews.default."), "/", Some("reviews.default")),
            (Some("[::1]:8080"), "/", Some("[::1]")),
            (None, "http://user@Details:80/x", Some("details")),
            (Some("host.example"), "http://other/x", Some("host.example")),
            (None, "/x", None),
            (Some(""), "/x", None),
        ];
        for (host, uri, expected) in cases {
            assert_eq!(
                request_host(&parts(host, uri)).as_deref(),
                expected,
                "{host:?} {uri}"
            );
        }
    }
}
