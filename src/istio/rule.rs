//! What a configuration is made of: [`Rule`]s, each with its [`Split`]s and
//! [`MirrorTarget`]s.

use std::time::Duration;

use http::request::Parts;

use super::fault::Fault;
use super::headers::Headers;
use super::matching::RouteMatch;
use super::rewrite::Rewrite;
use crate::route::Labels;

/// One routing rule: which requests it takes, how it splits them across label subsets of
/// its destination, and where it mirrors them.
///
/// ```
/// use tower_mirror::istio::Config;
///
/// let config = Config::from_yaml(r#"
/// apiVersion: networking.istio.io/v1
/// kind: VirtualService
/// metadata: {name: reviews}
/// spec:
///   hosts: [reviews]
///   http:
///   - name: api
///     match: [{uri: {prefix: /api}}]
///     route: [{destination: {host: reviews}}]
/// "#)?;
/// let rule = &config.rules()[0];
/// assert_eq!(rule.name, "reviews/api");
///
/// let (parts, ()) = http::Request::get("/api/1").body(()).unwrap().into_parts();
/// assert!(rule.matches(&parts));
/// # Ok::<(), tower_mirror::istio::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Rule {
    /// `metadata.name` for a `RouteRule`; `<name>/<http[].name>` (or `<name>/<index>` for
    /// an unnamed route) for a `VirtualService`.
    pub name: String,
    /// `metadata.namespace` of the resource (`default` when not set): where the short
    /// names in `hosts` resolve, and the scope in which rule names are unique.
    pub namespace: String,
    /// The hosts whose requests the rule applies to, as written: `spec.hosts` of a
    /// `VirtualService`; the destination of a `RouteRule`.
    pub hosts: Vec<String>,
    /// The service requests go to, as written (`httpbin`, `httpbin.default.svc.cluster.local`).
    pub destination: String,
    /// `spec.precedence` of a `RouteRule`; 0 for `VirtualService` routes.
    pub precedence: i32,
    /// Any one entry must match (all its conditions); empty matches every request.
    pub matches: Vec<RouteMatch>,
    /// The weighted split over label subsets of `destination`; each split takes
    /// `weight / sum of weights` of the traffic (a `RouteRule`'s weights sum to 100).
    /// Empty labels select every backend of the destination.
    pub splits: Vec<Split>,
    /// Where copies of the matched requests go.
    pub mirrors: Vec<MirrorTarget>,
    /// How requests are rewritten before they are forwarded and mirrored (`rewrite`).
    pub rewrite: Option<Rewrite>,
    /// Header changes to requests (before they are forwarded and mirrored) and to
    /// responses (`headers`; a `RouteRule`'s `appendHeaders` adds request headers).
    pub headers: Headers,
    /// How long the destination may take to answer (its response head) before the
    /// client gets `504 Gateway Timeout` (`timeout`; `httpReqTimeout` of a `RouteRule`).
    /// An injected delay does not count.
    pub timeout: Option<Duration>,
    /// Delays and aborts injected before forwarding (`fault`; `httpFault`).
    pub fault: Option<Fault>,
}

impl Rule {
    /// Whether the rule takes this request: any of `matches` holds, or there are none.
    pub fn matches(&self, parts: &Parts) -> bool {
        self.matching_entry(parts).is_some()
    }

    /// The entry of `matches` that takes the request (`Some(None)` when the rule has no
    /// entries and takes everything), or `None` when the rule does not take it.
    pub(crate) fn matching_entry(&self, parts: &Parts) -> Option<Option<&RouteMatch>> {
        if self.matches.is_empty() {
            return Some(None);
        }
        self.matches.iter().find(|m| m.matches(parts)).map(Some)
    }
}

/// A share of a rule's traffic for the backends carrying `labels`: `weight` out of the
/// sum of the rule's weights.
///
/// ```
/// use tower_mirror::istio::Split;
/// use tower_mirror::route::Labels;
///
/// let split = Split::new(Labels::from([("version", "v1")]), 100);
/// assert_eq!(split.weight, 100);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Split {
    /// Selects the backends (a subset's labels); empty selects all.
    pub labels: Labels,
    /// Share of the rule's traffic, relative to the other splits' weights.
    pub weight: u32,
    /// Header changes for the requests this split serves (a destination's `headers`).
    /// For a rule with one destination they are applied after the rule's own; with
    /// several, before them, as Istio's Envoy configuration does.
    pub headers: Headers,
}

impl Split {
    /// A split sending `weight` (out of the sum of the rule's weights) to the backends with
    /// `labels`.
    pub fn new(labels: Labels, weight: u32) -> Self {
        Split {
            labels,
            weight,
            headers: Headers::default(),
        }
    }
}

/// Where a rule's requests are copied to, and how many of them.
///
/// ```
/// use tower_mirror::istio::MirrorTarget;
/// use tower_mirror::route::Labels;
///
/// let target = MirrorTarget::new("httpbin", Labels::from([("version", "v2")]), 100.0);
/// assert_eq!(target.destination, "httpbin");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MirrorTarget {
    /// The service the copies go to, as written.
    pub destination: String,
    /// Selects the backends of `destination` that get copies; empty selects all.
    pub labels: Labels,
    /// Share of matched requests copied, 0.0..=100.0.
    pub percent: f64,
}

impl MirrorTarget {
    /// Copies `percent` of requests to the backends of `destination` with `labels`.
    pub fn new(destination: impl Into<String>, labels: Labels, percent: f64) -> Self {
        MirrorTarget {
            destination: destination.into(),
            labels,
            percent,
        }
    }
}
