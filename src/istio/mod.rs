//! Read routing and mirroring rules from Istio YAML (feature `istio`).
//!
//! [`Config::from_yaml`] (or [`Config::from_files`], [`Config::from_dir`] for a
//! mounted ConfigMap) reads the Istio 0.5 `RouteRule` that introduced mirroring, and
//! the later `VirtualService` (with the `DestinationRule`s naming its subsets), into
//! [`Rule`]s in match order: which requests each takes ([`RouteMatch`]), how it splits
//! them across label subsets of its destination ([`Split`]), and where copies go
//! ([`MirrorTarget`]).
//!
//! ```
//! use tower_mirror::istio::Config;
//! use tower_mirror::route::Labels;
//!
//! let config = Config::from_yaml(r#"
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata:
//!   name: httpbin
//! spec:
//!   hosts: [httpbin]
//!   http:
//!   - route:
//!     - destination: {host: httpbin, subset: v1}
//!     mirror: {host: httpbin, subset: v2}
//!     mirrorPercentage: {value: 10.0}
//! ---
//! apiVersion: networking.istio.io/v1
//! kind: DestinationRule
//! metadata:
//!   name: httpbin
//! spec:
//!   host: httpbin
//!   subsets:
//!   - {name: v1, labels: {version: v1}}
//!   - {name: v2, labels: {version: v2}}
//! "#)?;
//!
//! let rule = &config.rules()[0];
//! assert_eq!(rule.name, "httpbin/0");
//! assert_eq!(rule.splits[0].labels, Labels::from([("version", "v1")]));
//! assert_eq!(rule.mirrors[0].labels, Labels::from([("version", "v2")]));
//! assert_eq!(rule.mirrors[0].percent, 10.0);
//! # Ok::<(), tower_mirror::istio::ConfigError>(())
//! ```
//!
//! # From YAML to a running stack
//!
//! The rules name destinations and label sets; an [`Endpoints`] file says where the
//! labeled instances of each destination listen. [`Router`] puts the two together into one
//! Tower service: each request goes to the rules of its host (exact names, short names in
//! their namespace, wildcards; the most specific wins; see [`Router`]), and the first of
//! them that matches it splits it by weight across label subsets and copies it to each of
//! its mirrors (`404` when none matches). A config naming one host serves every request
//! with it, whatever its `Host`; with several, [`RouterBuilder::default_host`] names the
//! one for requests to other hosts. Serve it with hyper-util like any other service, or run
//! it with the `tower-mirror-proxy` binary (`--rules FILE --endpoints FILE`).
//!
//! ```
//! use std::time::Duration;
//! use tower_mirror::istio::{Config, Endpoints, Router};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The httpbin mirroring rule: route version=v1 weight 100, version=v2 weight 0, mirror to v2.
//! let config = Config::from_yaml(include_str!("../../examples/config/mirror-httpbin-v2.yaml"))?;
//! let endpoints = Endpoints::from_yaml(
//!     "httpbin:
//!      - {labels: {version: v1}, url: http://127.0.0.1:9001}
//!      - {labels: {version: v2}, url: http://127.0.0.1:9002}",
//! )?;
//!
//! let mut builder = Router::builder(&config);
//! for backends in endpoints.backends() {
//!     builder = builder.backends(backends);
//! }
//! let router = builder
//!     // Limits for every mirror; each rule's percentage is already set.
//!     .configure_mirrors(|layer| layer.timeout(Duration::from_secs(2)).max_in_flight(256))
//!     .build()?;
//!
//! for mirror in router.mirrors() {
//!     // `mirror.handle`: stats, wait_idle, shutdown, per mirror.
//!     println!("{} -> {} {}", mirror.rule, mirror.destination, mirror.labels);
//! }
//! // `router` is a `Service<http::Request<B>>`: serve it, or call it in tests.
//! # Ok(())
//! # }
//! ```
//!
//! [`Router::reload`] puts a new config's rules in force while the router serves, in one
//! swap for all its clones; mirrors that stay the same keep their handles and counters.
//!
//! Errors are located: a [`ConfigError`] from either file names the field path, line and
//! column; a [`BuildError`] names the rule whose destination has no backends or whose
//! labels select none. In tests, give [`RouterBuilder::backends`] mock services instead of
//! [`Endpoints`] (they must serve both `Request<RouterBody>` and
//! `Request<http_body_util::Full<bytes::Bytes>>`, as a generic `Service<Request<B>>` does),
//! and [`RouterBuilder::seed`] for reproducible splits and sampling.
//!
//! # What is read
//!
//! - **`RouteRule`** (`config.istio.io/v1alpha2`, Istio 0.5): `spec.destination`
//!   (`name` or `service`, `namespace`), `spec.precedence` (default 0),
//!   `spec.route[].labels` and `weight`, `spec.mirror` (`name`, `labels`; mirrored at
//!   100%), `spec.match.request.headers` (where `uri`, `method` and `authority` match the
//!   request's own attributes), `rewrite`, `appendHeaders`, `httpReqTimeout` and
//!   `httpFault`. A rule without `route` sends everything to all backends of its
//!   destination.
//! - **`VirtualService`** (`networking.istio.io/v1alpha3`, `v1beta1`, `v1`): `spec.hosts`;
//!   each `spec.http[]` entry is one rule named `<name>/<http[].name>`, or
//!   `<name>/<index>` when unnamed. `match[]` on `uri`, `method`, `authority`, `headers`
//!   (exact, prefix, regex; `{}` on a header means present) and `ignoreUriCase`;
//!   `route[].destination.{host,subset}`, `weight` and `headers`; `mirror` with
//!   `mirrorPercentage` (or the deprecated integer `mirrorPercent`), or `mirrors[]` each
//!   with a `percentage` (default 100); `rewrite`, `headers`, `timeout` and `fault`.
//! - **`DestinationRule`**: `spec.host` and `spec.subsets[].{name,labels}`, to resolve
//!   subsets of the same input. A destination without subset selects all backends of its
//!   host. Backends are looked up by the destination as written.
//!
//! Match order: `RouteRule`s by `precedence`, highest first (ties by name), then the
//! `VirtualService` routes in file order; the [`Router`] tries the rules of the request's
//! host in that order and the first that matches applies, as in Istio. Regexes must match
//! the whole value (RE2 semantics).
//!
//! # What a rule does to a request
//!
//! As Istio configures Envoy to do it, in this order:
//!
//! 1. `fault` ([`Fault`]): a `delay` holds the request back, an `abort` answers it at
//!    once with its `httpStatus` (body `fault filter abort`): an aborted request is
//!    neither forwarded nor mirrored. Each applies to its `percentage` of requests, none
//!    when it is unset (as Istio documents); the delay comes first.
//! 2. `rewrite` ([`Rewrite`]): `uri` replaces what the match took (the matched prefix;
//!    the whole path for an exact or regex match; the leading `/` without a `uri`
//!    condition, as Envoy's `prefix_rewrite`), `uriRegexRewrite` replaces every match of
//!    its regex in the path (`\1` groups), `authority` sets the `Host` header (a
//!    `headers.request.set` of `host` or `:authority` is the same).
//! 3. `headers` ([`Headers`]): request `set`, `add`, `remove`, of the route and of the
//!    chosen destination, before the request is forwarded: the mirrors copy the request
//!    as it is then; response changes before the client gets the answer.
//! 4. The mirrors copy the request; the weighted split sends it to a backend.
//! 5. `timeout`: when the backend has not answered (its response head) in time, the
//!    client gets `504 Gateway Timeout` (body `upstream request timeout`). Envoy's
//!    timeout also covers the response body; tower-mirror's stops at the head. An
//!    injected delay does not count, as with Envoy, whose fault filter runs before the
//!    router.
//!
//! # Validation
//!
//! As current Istio validates: `VirtualService` weights are relative (`weight / sum`;
//! only a negative weight or an all-zero total is refused; a single destination takes all
//! traffic), `RouteRule` weights sum to 100 as Istio 0.5 required, percentages in
//! `0..=100`, durations of at least 1ms to the millisecond, abort statuses in `200..=599`,
//! non-empty names and hosts, known subsets. Several `DestinationRule`s for one host
//! merge, the first definition of a subset winning; a resource repeating an earlier
//! one's kind, namespace and name replaces it (as `kubectl apply` would);
//! `mirrorPercentage` wins over the deprecated `mirrorPercent` (with a warning). A
//! `VirtualService` without `hosts` is a delegate, which is refused as such. Errors
//! ([`ConfigError`]) name the document (from 1, in file order), the resource, the field
//! path, the line and the column (of the key, for a field that is refused).
//!
//! A field that changes which backend serves a request, or what it or the client sees,
//! is applied as above or refused, never only warned about. Refused, because tower-mirror
//! cannot do what Istio does with them: `redirect`, `directResponse`, `delegate`,
//! `tcp`/`tls` routes, match on `scheme`, `port`, `sourceLabels`, `sourceNamespace`,
//! `gateways`, `queryParams`, `withoutHeaders` or a JWT claim (`@request.auth.claims.*`,
//! which needs Istio's request authentication), a `RouteRule` match on `source`, routes to
//! several hosts in one rule, `grpcStatus` and `http2Error` aborts, `exponentialDelay`,
//! header values using Envoy's `%VARIABLE%`s, two routes of one `VirtualService` with the
//! same `name` (rules are named by it). Unknown fields are errors too, so a typo never
//! passes silently.
//!
//! Accepted with a warning in [`Config::warnings`] (in file order), because they cannot
//! change what a healthy backend or its client sees, or do not apply where tower-mirror
//! runs: `retries` and `httpReqRetries` (they only change what a client sees when a
//! backend fails; add `tower::retry`), `corsPolicy` (it only changes answers to browsers'
//! cross-origin requests; add tower-http's `CorsLayer`), `websocketUpgrade` (removed from
//! Istio; upgrades pass through), destination `port` (the endpoints say where backends
//! listen), `gateways` (the routes apply where tower-mirror runs), `l4Fault` (Istio 0.5
//! applied it to TCP only), a `DestinationRule`'s `trafficPolicy` and `workloadSelector`.
//!
//! Other kinds (`Gateway`, `ServiceEntry`, `Service`, `Deployment`, Gateway API kinds, ...)
//! are skipped with one warning each, so a file that deploys a service with its routing
//! reads as it is; a `List` (what `kubectl get -o yaml` prints) is read item by item. An
//! input with no `RouteRule`, `VirtualService` or `DestinationRule` at all is an error, as
//! is a control character anywhere in it.

// From the top down: router -> reload -> mirror_id -> config -> kinds, subsets -> resource
// -> rule -> matching, rewrite, headers, fault, host, yaml -> error; endpoints reads its own
// file through yaml. Nothing imports upward.
mod config;
mod endpoints;
mod error;
mod fault;
mod headers;
mod host;
mod kinds;
mod matching;
mod mirror_id;
mod reload;
mod resource;
mod rewrite;
mod router;
mod rule;
mod subsets;
mod yaml;

pub use config::Config;
pub use endpoints::{Endpoint, Endpoints};
pub use error::ConfigError;
pub use fault::{Fault, FaultAbort, FaultDelay};
pub use headers::{HeaderOperations, Headers};
pub use matching::{AnchoredRegex, RouteMatch, StringMatch};
pub use mirror_id::{MirrorId, MirrorInfo};
pub use rewrite::{RegexRewrite, Rewrite, UriRewrite};
pub use router::{BuildError, Router, RouterBackend, RouterBody, RouterBuilder, RouterFuture};
pub use rule::{MirrorTarget, Rule, Split};
