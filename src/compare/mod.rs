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
//! counters `compared`, `matched`, `differed`, `compare_skipped` in
//! [`MirrorStats`](crate::MirrorStats), and
//! [`MirrorHandle::compare_report`](crate::MirrorHandle::compare_report).
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
mod config;
mod diff;
mod layer;
mod report;
mod service;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio::sync::oneshot;
use tower::ServiceExt;

pub use self::body::CompareBody;
pub use self::config::CompareConfig;
pub use self::diff::Difference;
pub use self::layer::CompareLayer;
pub use self::report::{CompareReport, RouteReport};
pub use self::service::{Compare, ResponseFuture};

pub(crate) use self::diff::{Captured, CapturedFrames};
pub(crate) use self::report::ReportState;

use self::diff::diff;
use self::report::route_key;
use crate::mirror::Recorder;

/// A layer's compare settings, shared by its copies.
#[derive(Debug)]
pub(crate) struct Comparator {
    pub(crate) config: CompareConfig,
}

/// One comparison to run on a copy's task once both answers are in.
#[derive(Debug)]
pub(crate) struct CompareJob {
    comparator: Arc<Comparator>,
    recorder: Recorder,
    primary: oneshot::Receiver<CapturedFrames>,
    route: String,
    noise_request: Option<Request<Full<Bytes>>>,
}

impl CompareJob {
    pub(crate) fn new(
        comparator: Arc<Comparator>,
        recorder: Recorder,
        primary: oneshot::Receiver<CapturedFrames>,
        request: &Request<Full<Bytes>>,
    ) -> Self {
        let noise_request = comparator.config.noise.is_some().then(|| request.clone());
        Self {
            route: route_key(request.method(), request.uri().path()),
            comparator,
            recorder,
            primary,
            noise_request,
        }
    }

    pub(crate) fn max_body_bytes(&self) -> usize {
        self.comparator.config.max_body_bytes
    }

    /// Compares once the primary's answer is in (waiting at most `wait` for it), or counts
    /// the comparison as skipped when either answer is missing or over the cap.
    pub(crate) async fn finish(
        self,
        shadow: Option<Captured>,
        noise: Option<Captured>,
        wait: Duration,
    ) {
        let config = &self.comparator.config;
        let report = &self.recorder.shared.report;
        let primary = match shadow {
            Some(_) => tokio::time::timeout(wait, self.primary)
                .await
                .ok()
                .and_then(Result::ok)
                .map(CapturedFrames::join),
            None => None,
        };
        let (Some(primary), Some(shadow)) = (primary, shadow) else {
            self.recorder
                .shared
                .counters
                .compare_skipped
                .fetch_add(1, Ordering::AcqRel);
            tracing::debug!(target: "tower_mirror", route = %self.route, "comparison skipped");
            return;
        };
        if let Some(noise) = noise {
            report.learn_noise(&self.route, config, &diff(&primary, &noise, config));
        }
        let differences = diff(&primary, &shadow, config);
        report.record(&self.recorder, config, self.route, differences);
    }
}

/// The noise secondary's answer, when compare mode has one (else resolves to `None`).
pub(crate) fn noise_call(
    job: Option<&CompareJob>,
) -> impl Future<Output = Option<Captured>> + Send + 'static {
    let call = job.and_then(|job| {
        let service = job.comparator.config.noise.clone()?;
        let request = job.noise_request.as_ref()?.clone();
        Some((service, request, job.max_body_bytes()))
    });
    async move {
        let (service, request, keep) = call?;
        let response = service.oneshot(request).await.ok()?;
        let (head, body) = response.into_parts();
        let body = crate::mirror::read_body(std::pin::pin!(body), Some(keep))
            .await
            .ok()??;
        Some(Captured {
            status: head.status,
            headers: head.headers,
            body,
        })
    }
}
