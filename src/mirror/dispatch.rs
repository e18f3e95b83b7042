//! The spawned send: limits, breaker, timeout, draining the shadow's reply.

use std::any::Any;
use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use tokio::time::Instant;
use tower::{BoxError, Service, ServiceExt};
use tracing::Instrument;

use super::policy::Policy;
use super::stats::{MirrorEvent, PendingCopy, Recorder, SkipReason};
use crate::rng::SharedRng;

/// How much of a shadow's response body is read (and thrown away) so its connection can go
/// back to the pool; past this the body is dropped and the connection with it.
const DRAIN_LIMIT: usize = 1 << 20;

/// The dispatch-side settings of a layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_in_flight: usize,
    pub(crate) max_buffered_bytes: usize,
    pub(crate) timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 1024,
            max_buffered_bytes: 64 << 20,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Everything a layer decided at build time, shared by its services and their bodies.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) policy: Policy,
    pub(crate) limits: Limits,
    pub(crate) recorder: Recorder,
    pub(crate) rng: SharedRng,
}

/// A copy ready to go: its head, its whole body, and the budget it holds.
#[derive(Debug)]
pub(crate) struct ShadowCopy {
    pub(crate) head: Parts,
    pub(crate) body: Bytes,
    /// Bytes reserved against `max_buffered_bytes`, released when the shadow call ends.
    pub(crate) held: usize,
    pub(crate) truncated: bool,
    pub(crate) pending: PendingCopy,
}

/// Sends copies; object-safe so that `MirrorBody<B>` need not name the shadow's type.
pub(crate) trait Dispatch: Send + Sync + 'static {
    fn core(&self) -> &Core;
    fn dispatch(&self, copy: ShadowCopy);
}

/// The shadow plus the layer's core. One per layer, behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Dispatcher<M> {
    pub(crate) shadow: M,
    pub(crate) core: Core,
}

impl<M, RB> Dispatch for Dispatcher<M>
where
    M: Service<Request<Full<Bytes>>, Response = Response<RB>> + Clone + Send + Sync + 'static,
    M::Future: Send,
    M::Error: Into<BoxError>,
    RB: Body + Send + 'static,
{
    fn core(&self) -> &Core {
        &self.core
    }

    fn dispatch(&self, copy: ShadowCopy) {
        let core = &self.core;
        let recorder = &core.recorder;
        let shared = &recorder.shared;
        let reject = |copy: ShadowCopy| shared.release_bytes(copy.held);
        // Each refusal is recorded before `reject` ends the pending copy, for `wait_idle`.
        if shared.is_shutting_down() {
            recorder.skipped(SkipReason::Shutdown);
            return reject(copy);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            recorder.skipped(SkipReason::NoRuntime);
            return reject(copy);
        };
        if !shared.reserve_call(core.limits.max_in_flight) {
            recorder.dropped("max_in_flight");
            return reject(copy);
        }
        // After the in-flight slot is ours: a probe the breaker lets through is always sent.
        if let Some(breaker) = &recorder.breaker {
            if !breaker.allow() {
                recorder.dropped("circuit breaker open");
                shared.release_call();
                return reject(copy);
            }
        }
        recorder.dispatched(copy.truncated);

        let span = tracing::debug_span!(
            target: "tower_mirror",
            "mirror",
            method = %copy.head.method,
            path = copy.head.uri.path(),
            outcome = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let guard = CallGuard {
            recorder: recorder.clone(),
            held: copy.held,
            outcome: None,
            _pending: copy.pending,
        };
        let request = Request::from_parts(copy.head, Full::new(copy.body));
        let call = run(self.shadow.clone(), request, core.limits.timeout, guard);
        runtime.spawn(call.instrument(span));
    }
}

async fn run<M, RB>(
    shadow: M,
    request: Request<Full<Bytes>>,
    timeout: Duration,
    mut guard: CallGuard,
) where
    M: Service<Request<Full<Bytes>>, Response = Response<RB>>,
    M::Error: Into<BoxError>,
    RB: Body,
{
    let start = Instant::now();
    // The timer is created inside the unwind guard: on a runtime without it, that panics.
    let call = AssertUnwindSafe(async move {
        tokio::time::timeout(timeout, call_and_drain(shadow, request)).await
    })
    .catch_unwind();
    let shared = Arc::clone(&guard.recorder.shared);
    let outcome = tokio::select! {
        result = call => {
            let latency = start.elapsed();
            match result {
                Ok(Ok(Ok(status))) => MirrorEvent::Completed { status, latency },
                Ok(Ok(Err(error))) => MirrorEvent::Failed { latency, error: error.to_string() },
                Ok(Err(_elapsed)) => MirrorEvent::TimedOut,
                Err(panic) => MirrorEvent::Failed { latency, error: panic_message(&*panic) },
            }
        }
        () = shared.cut() => MirrorEvent::TimedOut,
    };
    let span = tracing::Span::current();
    match &outcome {
        MirrorEvent::Completed { status, latency } => {
            span.record("outcome", "completed");
            span.record("latency_ms", latency.as_secs_f64() * 1000.0);
            tracing::debug!(target: "tower_mirror", status = status.as_u16(), "shadow answered");
        }
        MirrorEvent::Failed { latency, error } => {
            span.record("outcome", "failed");
            span.record("latency_ms", latency.as_secs_f64() * 1000.0);
            tracing::debug!(target: "tower_mirror", error = %error, "shadow failed");
        }
        _ => {
            span.record("outcome", "timed_out");
            tracing::debug!(target: "tower_mirror", "shadow timed out");
        }
    }
    guard.outcome = Some(outcome);
}

async fn call_and_drain<M, RB>(
    mut shadow: M,
    request: Request<Full<Bytes>>,
) -> Result<StatusCode, BoxError>
where
    M: Service<Request<Full<Bytes>>, Response = Response<RB>>,
    M::Error: Into<BoxError>,
    RB: Body,
{
    let response = shadow
        .ready()
        .await
        .map_err(Into::into)?
        .call(request)
        .await
        .map_err(Into::into)?;
    let status = response.status();
    let body = std::pin::pin!(response.into_body());
    drain(body).await?;
    Ok(status)
}

/// Reads and drops the body so the connection can be reused. Each frame is dropped inside
/// the poll, so the body's data and error types need not be `Send`.
async fn drain<RB: Body>(mut body: std::pin::Pin<&mut RB>) -> Result<(), BoxError> {
    let mut read = 0usize;
    poll_fn(|cx| {
        loop {
            if body.is_end_stream() || read > DRAIN_LIMIT {
                return std::task::Poll::Ready(Ok(()));
            }
            match std::task::ready!(body.as_mut().poll_frame(cx)) {
                None => return std::task::Poll::Ready(Ok(())),
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        read += bytes::Buf::remaining(data);
                    }
                }
                Some(Err(_)) => {
                    return std::task::Poll::Ready(Err("the shadow's response body failed".into()));
                }
            }
        }
    })
    .await
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string payload");
    format!("the shadow panicked: {detail}")
}

/// Holds a running copy's in-flight slot and buffered bytes; gives both back and records
/// the outcome when the call ends, whether it ran to completion, or its task was dropped
/// (a runtime shutting down), which counts as cut (`timed_out`).
struct CallGuard {
    recorder: Recorder,
    held: usize,
    outcome: Option<MirrorEvent>,
    /// Dropped last (fields drop after `drop`): `wait_idle` wakes once all else is recorded.
    _pending: PendingCopy,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        // Outcome first, so a `shutdown` that sees no copy in flight also sees its count.
        self.recorder
            .outcome(self.outcome.take().unwrap_or(MirrorEvent::TimedOut));
        let shared = &self.recorder.shared;
        shared.release_bytes(self.held);
        shared.release_call();
    }
}
