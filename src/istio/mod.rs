//! Read routing and mirroring rules from Istio YAML (feature `istio`).
//!
//! [`Config::from_yaml`] reads the Istio 0.5 `RouteRule` that introduced mirroring, and
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
//! Tower service: each request goes to the first rule that matches it, which splits it by
//! weight across label subsets and copies it to each of its mirrors (`404` when no rule
//! matches). Serve it with hyper-util like any other service, or see the `shadow_proxy`
//! example (`--rules FILE --endpoints FILE`).
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
//! - **`RouteRule`** (`config.istio.io/v1alpha2`): `spec.destination.name`,
//!   `spec.precedence` (default 0), `spec.route[].labels` and `weight`, `spec.mirror.name`
//!   and `labels` (mirrored at 100%), `spec.match.request.headers` (where `uri`, `method`
//!   and `authority` match the request's own attributes). A rule without `route` sends
//!   everything to all backends of its destination.
//! - **`VirtualService`** (`networking.istio.io/v1alpha3`, `v1beta1`, `v1`): each
//!   `spec.http[]` entry is one rule named `<name>/<http[].name>`, or `<name>/<index>`
//!   when unnamed. `match[]` on `uri`, `method`, `authority`, `headers` (exact, prefix,
//!   regex; `{}` on a header means present) and `ignoreUriCase`;
//!   `route[].destination.{host,subset}` and `weight`; `mirror` with `mirrorPercentage`
//!   (or the deprecated integer `mirrorPercent`), or `mirrors[]` each with a `percentage`
//!   (default 100).
//! - **`DestinationRule`**: `spec.host` and `spec.subsets[].{name,labels}`, to resolve
//!   subsets of the same file. A destination without subset selects all backends of its
//!   host. Hosts are kept and looked up exactly as written.
//!
//! Match order: `RouteRule`s by `precedence`, highest first (ties by name), then the
//! `VirtualService` routes in file order; the first rule that matches applies, as in Istio.
//! Regexes must match the whole value (RE2 semantics).
//!
//! # Validation
//!
//! As Istio validates: each weight in `0..=100`, several weights summing to 100 (a single
//! route takes all traffic), percentages in `0..=100`, non-empty names and hosts, unique
//! rule names, known subsets. Errors ([`ConfigError`]) name the document (from 1, in file
//! order), the resource, the field path, the line and the column.
//!
//! Fields Istio applies that tower-mirror does not are accepted and reported by
//! [`Config::warnings`]: `rewrite`, `timeout`, `retries`, `fault`, `corsPolicy`,
//! `headers`, `websocketUpgrade`, destination `port`, `gateways` and a `DestinationRule`'s
//! `trafficPolicy` and `workloadSelector` (and the `RouteRule` equivalents:
//! `httpReqTimeout`, `httpReqRetries`, `httpFault`, `l4Fault`, `appendHeaders`).
//! Fields whose absence would route requests differently are errors: `redirect`,
//! `directResponse`, `delegate`, `tcp`/`tls` routes, match on `scheme`, `port`,
//! `sourceLabels`, `sourceNamespace`, `gateways`, `queryParams`, `withoutHeaders`, a
//! `RouteRule` match on `source`, routes to several hosts in one rule. Unknown fields are
//! errors too, so a typo never passes silently; other kinds (`Gateway`, `ServiceEntry`,
//! ...) are refused.

// From the top down: router -> reload -> mirror_id -> config -> kinds -> resource -> matching, yaml -> error;
// endpoints reads its own file through yaml. Nothing imports upward.
mod config;
mod endpoints;
mod error;
mod kinds;
mod matching;
mod mirror_id;
mod reload;
mod resource;
mod router;
mod yaml;

pub use config::{Config, MirrorTarget, Rule, Split};
pub use endpoints::{Endpoint, Endpoints};
pub use error::ConfigError;
pub use matching::{AnchoredRegex, RouteMatch, StringMatch};
pub use mirror_id::{MirrorId, MirrorInfo};
pub use router::{BuildError, Router, RouterBackend, RouterBody, RouterBuilder, RouterFuture};
