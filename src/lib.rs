//! Traffic mirroring ("shadowing") and label-based weighted routing for Tower HTTP services.
//!
//! Test a new version of a service against live production requests: every request goes to
//! the stable version as usual, and a copy goes to the new version, **off the critical path
//! and fire-and-forget**: its response is ignored, and nothing the shadow does (slow, down,
//! hung, erroring, panicking) changes what the client sees, nor how fast.
//!
//! The model is Istio's first mirroring rule (`RouteRule`, `config.istio.io/v1alpha2`):
//!
//! ```yaml
//! apiVersion: config.istio.io/v1alpha2
//! kind: RouteRule
//! metadata:
//!   name: mirror-traffic-to-httbin-v2
//! spec:
//!   destination:
//!     name: httpbin
//!   precedence: 11
//!   route:
//!   - labels:
//!       version: v1
//!     weight: 100
//!   - labels:
//!       version: v2
//!     weight: 0
//!   mirror:
//!     name: httpbin
//!     labels:
//!       version: v2
//! ```
//!
//! # The rule in code
//!
//! [`route::Backends`] holds the labeled instances of `httpbin`, [`route::WeightedRoute`]
//! splits traffic by weight across label subsets, and [`MirrorLayer`] copies each request
//! to the `version: v2` subset:
//!
//! ```
//! use tower::ServiceBuilder;
//! use tower_mirror::MirrorLayer;
//! use tower_mirror::route::{Backends, Labels, WeightedRoute};
//! use tower_mirror::upstream::HttpUpstream;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let v1: HttpUpstream = "http://10.0.0.1:8000".parse()?;
//! let v2: HttpUpstream = "http://10.0.0.2:8000".parse()?;
//! let backends = Backends::new("httpbin")
//!     .with(Labels::from([("version", "v1")]), v1)
//!     .with(Labels::from([("version", "v2")]), v2);
//!
//! // route: version=v1 weight 100, version=v2 weight 0
//! let route = WeightedRoute::builder()
//!     .split(Labels::from([("version", "v1")]), 100)
//!     .split(Labels::from([("version", "v2")]), 0)
//!     .build(&backends)?;
//! // mirror: version=v2
//! let shadow = backends.select(&Labels::from([("version", "v2")]))?;
//! let layer = MirrorLayer::new(shadow);
//! let handle = layer.handle(); // stats, wait_idle, shutdown
//!
//! let svc = ServiceBuilder::new().layer(layer).service(route);
//! // Serve `svc` with hyper-util, or use `Router::layer(MirrorLayer::new(..))` in axum.
//! # let _ = (svc, handle);
//! # Ok(())
//! # }
//! ```
//!
//! # Testing your routing
//!
//! Everything is a Tower service, so a unit test needs no network: mock the versions with
//! `service_fn`, send requests, and use [`MirrorHandle::wait_idle`] to wait for the copies
//! (never a `sleep`).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_mirror::route::{Backends, Labels, WeightedRoute};
//! use tower_mirror::{MirrorBody, MirrorLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // The primary versions receive `Request<MirrorBody<B>>`...
//! let version = |name: &'static str| {
//!     service_fn(move |_: Request<MirrorBody<Full<Bytes>>>| async move {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::from(name)))
//!     })
//! };
//! let backends = Backends::new("httpbin")
//!     .with(Labels::from([("version", "v1")]), version("v1"))
//!     .with(Labels::from([("version", "v2")]), version("v2"));
//! let route = WeightedRoute::builder()
//!     .split(Labels::from([("version", "v1")]), 100)
//!     .split(Labels::from([("version", "v2")]), 0)
//!     .build(&backends)?;
//!
//! // ...and the shadow receives a `Request<Full<Bytes>>` copy.
//! let copies = Arc::new(Mutex::new(Vec::new()));
//! let shadow = {
//!     let copies = Arc::clone(&copies);
//!     service_fn(move |req: Request<Full<Bytes>>| {
//!         copies.lock().unwrap().push(req.uri().to_string());
//!         async { Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::from("v2"))) }
//!     })
//! };
//! let layer = MirrorLayer::new(shadow);
//! let handle = layer.handle();
//! let svc = ServiceBuilder::new().layer(layer).service(route);
//!
//! let response = svc.oneshot(Request::get("/status/200").body(Full::default())?).await?;
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "v1"); // v1 served it
//! handle.wait_idle().await;
//! assert_eq!(*copies.lock().unwrap(), ["/status/200"]); // v2 got its copy
//! assert_eq!(handle.stats().completed, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Modules
//!
//! - [`mirror`]: the mirror middleware ([`MirrorLayer`], [`Mirror`], [`MirrorBody`]) and
//!   its observability ([`MirrorHandle`], [`MirrorStats`], [`MirrorEvent`]); streamed
//!   copies of large bodies with [`MirrorLayer::streaming`] (a shadow of
//!   `Request<`[`CopyBody`]`>`, [`StreamingShadow`]), in bounded memory.
//! - [`route`]: [`Labels`](route::Labels), [`Backends`](route::Backends),
//!   [`Subset`](route::Subset), [`WeightedRoute`](route::WeightedRoute).
//! - [`upstream`]: [`HttpUpstream`](upstream::HttpUpstream), a pooled HTTP client bound to
//!   a base URL, usable as primary, shadow or backend.
//! - `istio` (feature `istio`): read Istio YAML and build the stack from it, and reload it
//!   while it serves.
//! - Metrics (feature `metrics`): `MirrorLayer::metrics(name)` records counters, a latency
//!   histogram and gauges per mirror through the `metrics` crate facade.
//! - Runtime control: [`MirrorHandle::set_sample_percent`], [`MirrorHandle::pause`] and
//!   [`MirrorHandle::resume`] change a running mirror.
//! - TLS to `https` upstreams and shadows (feature `rustls`): trust roots, mutual TLS and
//!   ALPN on the [`upstream::Builder`].
//!
//! # Runtime
//!
//! Copies are spawned on the current Tokio runtime, which needs the timer enabled (as
//! `#[tokio::main]` and `#[tokio::test]` give). Without a runtime, copies are skipped
//! (`skipped_no_runtime`), never a panic.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod mirror;
pub mod route;
pub mod upstream;

#[cfg(feature = "compare")]
pub mod compare;
#[cfg(feature = "istio")]
pub mod istio;

mod frames;
mod hop_by_hop;
mod rng;

pub use mirror::{
    CopyBody, DropReason, Mirror, MirrorBody, MirrorEvent, MirrorHandle, MirrorLayer, MirrorStats,
    Oversize, SkipReason, StreamingShadow,
};
pub use tower::BoxError;

/// The README's Rust examples compile and run as doctests (they use the default `istio`
/// feature).
#[cfg(all(doctest, feature = "istio"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
