//! The spawned send: limits, breaker, timeout, draining the shadow's reply.

use std::any::Any;
use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
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
    #[cfg(feature = "compare")]
    pub(crate) compare: Option<Arc<crate::compare::Comparator>>,
}

/// A copy decided at `call`: its head, its place in `wait_idle`, and in compare mode the
/// primary's answer to come.
#[derive(Debug)]
pub(crate) struct PlannedCopy {
    pub(crate) head: Parts,
    pub(crate) pending: PendingCopy,
    pub(crate) primary: PrimaryAnswer,
}

/// Compare mode: where the primary's captured answer arrives.
#[cfg(feature = "compare")]
pub(crate) type PrimaryAnswer =
    Option<tokio::sync::oneshot::Receiver<crate::compare::CapturedFrames>>;
/// Without compare mode there is nothing to wait for.
#[cfg(not(feature = "compare"))]
pub(crate) type PrimaryAnswer = Option<std::convert::Infallible>;

impl PlannedCopy {
    pub(crate) fn with_body(self, body: Vec<Bytes>, held: usize, truncated: bool) -> ShadowCopy {
        ShadowCopy {
            planned: self,
            body,
            held,
            truncated,
        }
    }
}

/// A copy ready to go: its head, its whole body, and the budget it holds.
#[derive(Debug)]
pub(crate) struct ShadowCopy {
    planned: PlannedCopy,
    /// The body's frames, joined on the copy's task: off the primary's path.
    body: Vec<Bytes>,
    /// Bytes reserved against `max_buffered_bytes`, released when the shadow call ends.
    held: usize,
    truncated: bool,
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

        let ShadowCopy {
            planned,
            body,
            held,
            ..
        } = copy;
        let head = planned.head;
        let span = tracing::debug_span!(
            target: "tower_mirror",
            "mirror",
            method = %head.method,
            path = head.uri.path(),
            outcome = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        #[cfg(feature = "compare")]
        let compare = core.compare.as_ref().and_then(|comparator| {
            Some((Arc::clone(comparator), recorder.clone(), planned.primary?))
        });
        #[cfg(not(feature = "compare"))]
        let compare = ();
        let guard = CallGuard {
            recorder: recorder.clone(),
            held,
            outcome: None,
            pending: Some(planned.pending),
        };
        let call = run(
            self.shadow.clone(),
            Request::from_parts(head, body),
            core.limits.timeout,
            guard,
            compare,
        );
        runtime.spawn(call.instrument(span));
    }
}

/// Compare mode: what the copy's task needs to compare (the layer's comparator, the
/// recorder, and where the primary's answer arrives).
#[cfg(feature = "compare")]
type CompareSeed = Option<(
    Arc<crate::compare::Comparator>,
    Recorder,
    tokio::sync::oneshot::Receiver<crate::compare::CapturedFrames>,
)>;
#[cfg(not(feature = "compare"))]
type CompareSeed = ();

/// Joins the frames of a copied body: one buffer, as the shadow's `Full<Bytes>` wants.
pub(crate) fn join(mut chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut body = bytes::BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
            for chunk in &chunks {
                body.extend_from_slice(chunk);
            }
            body.freeze()
        }
    }
}

async fn run<M, RB>(
    shadow: M,
    request: Request<Vec<Bytes>>,
    timeout: Duration,
    mut guard: CallGuard,
    compare: CompareSeed,
) where
    M: Service<Request<Full<Bytes>>, Response = Response<RB>>,
    M::Error: Into<BoxError>,
    RB: Body,
{
    let start = Instant::now();
    let request = request.map(|chunks| Full::new(join(chunks)));
    #[cfg(feature = "compare")]
    let compare = compare.map(|(comparator, recorder, primary)| {
        crate::compare::CompareJob::new(comparator, recorder, primary, &request)
    });
    #[cfg(feature = "compare")]
    let (keep, noise_call) = (
        compare
            .as_ref()
            .map(crate::compare::CompareJob::max_body_bytes),
        crate::compare::noise_call(compare.as_ref()),
    );
    #[cfg(not(feature = "compare"))]
    let (keep, noise_call) = (None, std::future::ready(()));
    // The timer is created inside the unwind guard: on a runtime without it, that panics.
    let call = AssertUnwindSafe(async move {
        // Compare mode's noise secondary answers alongside, under the same timeout.
        let both = async move { tokio::join!(call_shadow(shadow, request, keep), noise_call) };
        tokio::time::timeout(timeout, both).await
    })
    .catch_unwind();
    let shared = Arc::clone(&guard.recorder.shared);
    let mut answered = None;
    let outcome = tokio::select! {
        result = call => {
            let latency = start.elapsed();
            match result {
                Ok(Ok((Ok(answer), noise))) => {
                    let status = answer.status;
                    answered = Some((answer, noise));
                    MirrorEvent::Completed { status, latency }
                }
                Ok(Ok((Err(error), _))) => MirrorEvent::Failed { latency, error: error.to_string() },
                Ok(Err(_elapsed)) => MirrorEvent::TimedOut,
                Err(panic) => MirrorEvent::Failed { latency, error: panic_message(&*panic) },
            }
        }
        () = shared.cut() => MirrorEvent::TimedOut,
    };
    record_span(&outcome);
    guard.outcome = Some(outcome);
    // A comparison waits for the primary's answer: release the call's budget first.
    let pending = guard.pending.take();
    drop(guard);
    #[cfg(feature = "compare")]
    if let Some(job) = compare {
        let (shadow, noise) = match answered {
            Some((answer, noise)) => (answer.captured(), noise),
            None => (None, None),
        };
        job.finish(shadow, noise, timeout).await;
    }
    #[cfg(not(feature = "compare"))]
    let _ = (compare, answered);
    drop(pending);
}

fn record_span(outcome: &MirrorEvent) {
    let span = tracing::Span::current();
    match outcome {
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
}

/// The shadow's head and, when asked to keep it, its body (`None` when over the cap).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    // Read only by compare mode.
    #[cfg_attr(not(feature = "compare"), allow(dead_code))]
    pub(crate) headers: http::HeaderMap,
    #[cfg_attr(not(feature = "compare"), allow(dead_code))]
    pub(crate) body: Option<Bytes>,
}

#[cfg(feature = "compare")]
impl Answer {
    fn captured(self) -> Option<crate::compare::Captured> {
        Some(crate::compare::Captured {
            status: self.status,
            headers: self.headers,
            body: self.body?,
        })
    }
}

async fn call_shadow<M, RB>(
    mut shadow: M,
    request: Request<Full<Bytes>>,
    keep: Option<usize>,
) -> Result<Answer, BoxError>
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
    let (head, body) = response.into_parts();
    let body = read_body(std::pin::pin!(body), keep).await?;
    Ok(Answer {
        status: head.status,
        headers: head.headers,
        body,
    })
}

/// Reads a response body to its end. With `keep`, returns it if it fits (else `None`, and
/// stops reading); without, throws it away (up to `DRAIN_LIMIT`) so the connection can be
/// reused. Each frame is dropped inside the poll, so the body's data and error types need
/// not be `Send`.
pub(crate) async fn read_body<RB: Body>(
    mut body: std::pin::Pin<&mut RB>,
    keep: Option<usize>,
) -> Result<Option<Bytes>, BoxError> {
    let mut read = 0usize;
    let mut kept = keep.map(|_| bytes::BytesMut::new());
    poll_fn(|cx| {
        loop {
            if body.is_end_stream() {
                return Poll::Ready(Ok(kept.take().map(bytes::BytesMut::freeze)));
            }
            if read > keep.unwrap_or(DRAIN_LIMIT) {
                return Poll::Ready(Ok(None));
            }
            match std::task::ready!(body.as_mut().poll_frame(cx)) {
                None => return Poll::Ready(Ok(kept.take().map(bytes::BytesMut::freeze))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        read += data.remaining();
                        if let Some(kept) = kept.as_mut() {
                            if read <= keep.unwrap_or(0) {
                                kept.put(data);
                            }
                        }
                    }
                }
                Some(Err(_)) => {
                    return Poll::Ready(Err("the shadow's response body failed".into()));
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
    /// Taken out by a comparison that outlives the call.
    pending: Option<PendingCopy>,
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
