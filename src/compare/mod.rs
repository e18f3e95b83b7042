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
//! - bodies are decoded first when either side sent them with `Content-Encoding` `gzip`,
//!   `deflate` or `br` (one side only is fine; the decoded size counts against the cap,
//!   and a body that does not decode is skipped with the reason);
//! - status, headers (minus volatile ones: `date`, `server`, `x-request-id`, ...), and the
//!   body: for JSON documents a structural diff reporting paths such as
//!   `$.items[3].price` (with [`CompareConfig::ignore_json_path`] for fields you expect to
//!   differ), text by line (the first differing line, with two lines of context), anything
//!   else by length and hash;
//! - noise cancellation, as Diffy does: with [`CompareConfig::noise_from`], each compared
//!   `GET` or `HEAD` ([`CompareConfig::noise_methods`]) also goes to a second instance of
//!   the primary's version; fields where the two primary-version answers differ are
//!   learned as noise for that route and not reported against the shadow.
//!
//! Results: a [`MirrorEvent::Compared`](crate::MirrorEvent::Compared) per comparison, and
//! [`MirrorHandle::compare_report`](crate::MirrorHandle::compare_report): totals, why
//! copies were skipped, and per route (method + path template, guessed from the path or
//! named by [`CompareConfig::route_from`], e.g. from axum's `MatchedPath`) each differing
//! field with its rate, its noise rate and [`Example`]s (the request and both values,
//! bounded, credentials redacted), ranked by rate. It prints as text, and
//! [`CompareReport::to_json`] and [`CompareReport::to_html`] (one self-contained page)
//! serve it to tools and people. Its totals also show in
//! [`MirrorStats`](crate::MirrorStats) as `compared`, `matched`, `differed` and
//! `compare_skipped`. Its memory is bounded whatever the traffic: routes
//! ([`CompareConfig::max_routes`]), 256 fields per route, examples per field
//! ([`CompareConfig::max_examples`]) and 1024 examples in all.
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
//! let price = &report.routes[0].fields[0];
//! assert_eq!((price.rate(), price.examples[0].request.as_str()), (1.0, "GET /items/7"));
//! assert_eq!(price.examples[0].shadow.as_deref(), Some("12"));
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
