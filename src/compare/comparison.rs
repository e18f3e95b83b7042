//! One copy's comparison: the mirror's observer hook implemented. [`Comparison`] rides
//! with the copy, sees the shadow's answer when its call ends, waits for the primary's
//! from [`CompareBody`](super::CompareBody), and compares them on the copy's task.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Request;
use http_body_util::Full;
use tokio::sync::oneshot;
use tower::ServiceExt;

use super::config::{CompareConfig, NoiseService};
use super::diff::{Captured, CapturedFrames, diff};
use super::report::{ReportState, route_key};
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
        let config = &self.comparator.config;
        if !config.noise_methods.contains(copy.method()) {
            return None;
        }
        let service = config.noise.clone()?;
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
