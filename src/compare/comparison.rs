//! One copy's comparison: the mirror's observer hook implemented. [`Comparison`] rides
//! with the copy, sees the shadow's answer when its call ends, waits for the primary's
//! from [`CompareBody`](super::CompareBody), and compares them on the copy's task.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Request;
use http_body_util::Full;
use tokio::sync::oneshot;
use tower::ServiceExt;

use super::config::{CompareConfig, NoiseService, RouteFrom};
use super::diff::{Captured, PrimaryCapture, diff};
use super::example::RequestSample;
use super::route::route_key;
use super::state::ReportState;
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

    pub(crate) fn route_from(&self) -> Option<&RouteFrom> {
        self.config.route_from.as_ref()
    }
}

/// One copy's comparison: sees the shadow's answer through the mirror's observer hook,
/// receives the primary's from [`CompareBody`], and compares them on the copy's task.
#[derive(Debug)]
pub(crate) struct Comparison {
    comparator: Arc<Comparator>,
    primary: oneshot::Receiver<PrimaryCapture>,
    /// Method and path template: from `route_from` at `call`, else guessed once the copy
    /// is sent.
    route: Option<String>,
    /// The copy as sent, for an example if the answers differ (while the report has room
    /// for examples).
    copy: Option<Request<Full<Bytes>>>,
    /// The noise secondary's answer, when there is one.
    noise: Option<oneshot::Receiver<Captured>>,
}

impl Comparison {
    pub(crate) fn new(
        comparator: Arc<Comparator>,
        primary: oneshot::Receiver<PrimaryCapture>,
        route: Option<String>,
    ) -> Self {
        Self {
            comparator,
            primary,
            route,
            copy: None,
            noise: None,
        }
    }

    /// Compares once the primary's answer is in (waiting at most `wait` for it), or counts
    /// the comparison as skipped, with its reason, when an answer is missing, over the cap
    /// or does not decode.
    async fn finish(self, shadow: Option<ShadowAnswer>, events: EventSink, wait: Duration) {
        let Self {
            comparator,
            primary,
            route,
            copy,
            noise,
        } = self;
        let route = route.unwrap_or_default();
        let config = &comparator.config;
        let report = &comparator.report;
        match compared_answers(shadow, primary, config, wait).await {
            Ok((primary, shadow)) => {
                // The noise call ran beside the shadow's, so it has ended when the shadow
                // answered; one that does not decode teaches nothing.
                let noise = noise
                    .and_then(|mut noise| noise.try_recv().ok())
                    .and_then(|noise| noise.decoded(config.max_body_bytes).ok());
                if let Some(noise) = noise {
                    report.learn_noise(&route, config, &diff(&primary, &noise, config));
                }
                let differences = diff(&primary, &shadow, config);
                let sample = move || copy.as_ref().map(RequestSample::new);
                report.record(&events, config, route, differences, sample);
            }
            Err(reason) => {
                tracing::debug!(target: "tower_mirror", %route, %reason, "comparison skipped");
                report.skipped(reason);
            }
        }
    }
}

/// Both answers, whole and decoded, or why they cannot be compared.
async fn compared_answers(
    shadow: Option<ShadowAnswer>,
    primary: oneshot::Receiver<PrimaryCapture>,
    config: &CompareConfig,
    wait: Duration,
) -> Result<(Captured, Captured), Cow<'static, str>> {
    let shadow = shadow.ok_or("the shadow did not answer (failed or timed out)")?;
    let shadow =
        Captured::from_shadow(shadow).ok_or("the shadow's body is over the compare cap")?;
    let primary = match tokio::time::timeout(wait, primary).await {
        Ok(Ok(Ok(frames))) => frames.join(),
        Ok(Ok(Err(reason))) => return Err(reason.into()),
        Ok(Err(_)) => return Err("the primary's body was not read to its end".into()),
        Err(_) => return Err("the primary's body was not read to its end in time".into()),
    };
    let max = config.max_body_bytes;
    let primary = primary
        .decoded(max)
        .map_err(|reason| format!("the primary's {reason}"))?;
    let shadow = shadow
        .decoded(max)
        .map_err(|reason| format!("the shadow's {reason}"))?;
    Ok((primary, shadow))
}

impl CopyObserver for Comparison {
    fn keep_body(&self) -> usize {
        self.comparator.max_body_bytes()
    }

    fn sending(&mut self, copy: &Request<Full<Bytes>>) -> Option<BoxFuture<'static, ()>> {
        if self.route.is_none() {
            self.route = Some(route_key(copy.method(), copy.uri().path()));
        }
        let config = &self.comparator.config;
        if config.max_examples > 0 && !self.comparator.report.examples_full() {
            self.copy = Some(copy.clone());
        }
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

    fn not_compared(self: Box<Self>, reason: &'static str) {
        tracing::debug!(target: "tower_mirror", %reason, "comparison skipped");
        self.comparator.report.skipped(reason.into());
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
