//! Label-based weighted routing: Istio's `route: [{labels, weight}]` as Tower services.
//!
//! - [`Labels`]: a label set, and a selector that matches a backend when every selector
//!   label is on the backend.
//! - [`Backends`]: the labeled instances of one destination (Istio's `destination.name`).
//! - [`Subset`]: the instances matching a selector, as one service (round robin). Use it as
//!   the shadow of a [`MirrorLayer`](crate::mirror) for a rule's `mirror: {labels}`.
//! - [`WeightedRoute`]: picks a subset per request by weight, optionally sticky by header.
//!
//! Configuration mistakes (no splits, all weights 0, a selector matching nothing) are a
//! [`RouteError`] when the route is built, never a failed request later.
//!
//! Both services are always ready: each call clones the chosen instance and drives it with
//! [`oneshot`](tower::ServiceExt::oneshot), as axum does, so a backend that is slow to
//! become ready never holds up requests routed elsewhere. `S: Clone` is required for that.
//!
//! # Example: the httpbin mirroring rule (Istio's `mirror-traffic-to-httbin-v2`)
//!
//! All traffic to `version: v1`, none to `version: v2`, and the `v2` subset ready to be
//! used as the mirror target:
//!
//! ```
//! use http::{Request, Response};
//! use tower::{ServiceExt, service_fn};
//! use tower_mirror::route::{Backends, Labels, Subset, WeightedRoute};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Stand-ins for real upstreams (e.g. `tower_mirror::upstream::HttpUpstream`).
//! let version = |name: &'static str| {
//!     service_fn(move |_req: Request<String>| async move {
//!         Ok::<_, std::convert::Infallible>(Response::new(name.to_owned()))
//!     })
//! };
//! let backends = Backends::new("httpbin")
//!     .with(Labels::from([("version", "v1"), ("zone", "a")]), version("v1"))
//!     .with(Labels::from([("version", "v2")]), version("v2"));
//!
//! let route = WeightedRoute::builder()
//!     .split("version=v1".parse()?, 100)
//!     .split(Labels::from([("version", "v2")]), 0)
//!     .seed(7)
//!     .build(&backends)?;
//! let shadow = backends.select(&Labels::from([("version", "v2")]))?;
//!
//! let res = route.clone().oneshot(Request::new(String::new())).await?;
//! assert_eq!(res.body(), "v1");
//! let res = shadow.oneshot(Request::new(String::new())).await?;
//! assert_eq!(res.body(), "v2");
//! # Ok(())
//! # }
//! ```
//!
//! # Example: a canary, sticky per user
//!
//! ```
//! use http::{HeaderMap, Request, Response};
//! use tower::{Service, ServiceExt, service_fn};
//! use tower_mirror::route::{Backends, Labels, WeightedRoute};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let version = |name: &'static str| {
//!     service_fn(move |_req: Request<()>| async move {
//!         Ok::<_, std::convert::Infallible>(Response::new(name))
//!     })
//! };
//! let backends = Backends::new("reviews")
//!     .with(Labels::from([("version", "v1")]), version("v1"))
//!     .with(Labels::from([("version", "v2")]), version("v2"));
//! let mut route = WeightedRoute::builder()
//!     .split(Labels::from([("version", "v1")]), 90)
//!     .split(Labels::from([("version", "v2")]), 10)
//!     .sticky_by_header("x-user")
//!     .build(&backends)?;
//!
//! // The same user always lands on the same version.
//! let request = || Request::builder().header("x-user", "alice").body(()).unwrap();
//! let first = ServiceExt::<Request<()>>::ready(&mut route).await?.call(request()).await?;
//! for _ in 0..10 {
//!     let again = ServiceExt::<Request<()>>::ready(&mut route).await?.call(request()).await?;
//!     assert_eq!(again.body(), first.body());
//! }
//! # Ok(())
//! # }
//! ```

mod backends;
mod error;
mod future;
mod labels;
mod weighted;

pub use backends::{Backends, Subset};
pub use error::RouteError;
pub use future::ResponseFuture;
pub use labels::{Labels, LabelsIter, LabelsParseError};
pub use weighted::{WeightedRoute, WeightedRouteBuilder};
