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
mod config;
mod diff;
mod layer;
mod report;
mod service;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Request;
use http_body_util::Full;
use tokio::sync::oneshot;
use tower::ServiceExt;

pub use self::body::CompareBody;
pub use self::config::CompareConfig;
pub use self::layer::CompareLayer;
pub use self::report::{CompareReport, RouteReport};
pub use self::service::{Compare, ResponseFuture};
pub use crate::mirror::Difference;

use self::config::NoiseService;
use self::diff::{Captured, CapturedFrames, diff};
use self::report::{ReportState, route_key};
use crate::frames::read_body;
use crate::mirror::observe::{CopyObserver, EventSink, ShadowAnswer};

/// A layer's compare settings and its report, shared by its services and copies.
#[derive(Debug)]
pub(crate) struct Comparator {
    config: CompareConfig,
    report: Arc<ReportState>,
}

impl Comparator {
    pub(crate) fn new(config: CompareConfig, report: Arc<ReportState>) -> Self {
        Self { config, report }
    }

    pub(crate) fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }
}

/// One copy's comparison: sees the shadow's answer through the mirror's observer hook,
/// receives the primary's from [`CompareBody`], and compares them on the copy's task.
#[derive(Debug)]
pub(crate) struct Comparison {
    comparator: Arc<Comparator>,
    primary: oneshot::Receiver<CapturedFrames>,
    /// Method and path template, known once the copy is sent.
    route: String,
    /// The noise secondary's answer, when there is one.
    noise: Option<oneshot::Receiver<Captured>>,
}

impl Comparison {
    pub(crate) fn new(
        comparator: Arc<Comparator>,
        primary: oneshot::Receiver<CapturedFrames>,
    ) -> Self {
        Self {
            comparator,
            primary,
            route: String::new(),
            noise: None,
        }
    }

    /// Compares once the primary's answer is in (waiting at most `wait` for it), or counts
    /// the comparison as skipped when either answer is missing or over the cap.
    async fn finish(self, shadow: Option<ShadowAnswer>, events: EventSink, wait: Duration) {
        let Self {
            comparator,
            primary,
            route,
            noise,
        } = self;
        let config = &comparator.config;
        let report = &comparator.report;
        // The noise call ran beside the shadow's, so it has ended when the shadow answered.
        let (shadow, noise) = match shadow {
            Some(answer) => (
                Captured::from_shadow(answer),
                noise.and_then(|mut noise| noise.try_recv().ok()),
            ),
            None => (None, None),
        };
        let primary = match shadow {
            Some(_) => tokio::time::timeout(wait, primary)
                .await
                .ok()
                .and_then(Result::ok)
                .map(CapturedFrames::join),
            None => None,
        };
        let (Some(primary), Some(shadow)) = (primary, shadow) else {
            report.skipped();
            tracing::debug!(target: "tower_mirror", route = %route, "comparison skipped");
            return;
        };
        if let Some(noise) = noise {
            report.learn_noise(&route, config, &diff(&primary, &noise, config));
        }
        let differences = diff(&primary, &shadow, config);
        report.record(&events, config, route, differences);
    }
}

impl CopyObserver for Comparison {
    fn keep_body(&self) -> usize {
        self.comparator.max_body_bytes()
    }

    fn sending(&mut self, copy: &Request<Full<Bytes>>) -> Option<BoxFuture<'static, ()>> {
        self.route = route_key(copy.method(), copy.uri().path());
        let service = self.comparator.config.noise.clone()?;
        let (tx, rx) = oneshot::channel();
        self.noise = Some(rx);
        let call = noise_call(service, copy.clone(), self.keep_body());
        Some(Box::pin(async move {
            if let Some(answer) = call.await {
                // The comparison reads it once the shadow has answered; else nobody waits.
                let _ = tx.send(answer);
            }
        }))
    }

    fn shadow_answered(
        self: Box<Self>,
        answer: Option<ShadowAnswer>,
        events: EventSink,
        timeout: Duration,
    ) -> BoxFuture<'static, ()> {
        Box::pin(self.finish(answer, events, timeout))
    }
}

/// The noise secondary's answer to the copy, kept up to `keep` bytes of body.
async fn noise_call(
    service: NoiseService,
    request: Request<Full<Bytes>>,
    keep: usize,
) -> Option<Captured> {
    let response = service.oneshot(request).await.ok()?;
    let (head, body) = response.into_parts();
    let body = read_body(std::pin::pin!(body), Some(keep)).await.ok()??;
    Some(Captured {
        status: head.status,
        headers: head.headers,
        body,
    })
}
