//! Compare mode (feature `compare`): diff the shadow's answers against the primary's, off
//! the critical path, with noise cancellation.
//!
//! Mirroring tells you the new version did not crash; comparing tells you it answers the
//! same. [`MirrorLayer::compare`](crate::MirrorLayer::compare) turns a mirror layer into a
//! [`CompareLayer`]: the primary's response head and body are copied (up to
//! [`CompareConfig::max_body_bytes`]) as they stream to the client, which is never
//! delayed; once both the primary's and the shadow's answers are complete, the comparison
//! runs on the copy's task:
//!
//! - status, headers (minus volatile ones: `date`, `server`, `x-request-id`, ...), and the
//!   body: bytes, or for JSON documents a structural diff reporting paths such as
//!   `$.items[3].price` (with [`CompareConfig::ignore_json_path`] for fields you expect to
//!   differ);
//! - noise cancellation, as Diffy does: with [`CompareConfig::noise_from`], each compared
//!   request also goes to a second instance of the primary's version; fields where the two
//!   primary-version answers differ are learned as noise for that route (method + path
//!   template) and not reported against the shadow.
//!
//! Results: a [`MirrorEvent::Compared`](crate::MirrorEvent::Compared) per comparison,
//! [`MirrorHandle::compare_report`](crate::MirrorHandle::compare_report) (totals and per
//! route), whose totals also show in [`MirrorStats`](crate::MirrorStats) as `compared`,
//! `matched`, `differed` and `compare_skipped`.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_mirror::compare::CompareConfig;
//! use tower_mirror::{MirrorBody, MirrorLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let answer = |json: &'static str| {
//!     move |_req| async move {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::from(json)))
//!     }
//! };
//! let v1 = tower::service_fn(|_: http::Request<MirrorBody<Full<Bytes>>>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::from(r#"{"price":10}"#)))
//! });
//! let v2 = tower::service_fn(answer(r#"{"price":12}"#));
//! let layer = MirrorLayer::new(v2).compare(CompareConfig::new());
//! let handle = layer.handle();
//! let svc = ServiceBuilder::new().layer(layer).service(v1);
//!
//! let response = svc.oneshot(http::Request::get("/items/7").body(Full::default())?).await?;
//! // The client reads the primary's answer, untouched...
//! assert_eq!(response.into_body().collect().await?.to_bytes(), r#"{"price":10}"#);
//! handle.wait_idle().await;
//! // ...and the report points at the field v2 answers differently.
//! let report = handle.compare_report();
//! assert_eq!(report.routes[0].route, "GET /items/{n}");
//! assert_eq!(report.routes[0].top_fields, [("$.price".to_owned(), 1)]);
//! # Ok(())
//! # }
//! ```

mod body;
mod body_diff;
mod comparison;
mod config;
mod decode;
mod diff;
mod example;
mod html;
mod json;
mod layer;
mod redact;
mod report;
mod route;
mod service;
mod state;

pub use self::body::CompareBody;
pub use self::config::CompareConfig;
pub use self::example::Example;
pub use self::layer::CompareLayer;
pub use self::report::{CompareReport, FieldReport, RouteReport};
pub use self::service::{Compare, ResponseFuture};
pub use crate::mirror::Difference;
