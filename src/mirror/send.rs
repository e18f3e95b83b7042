//! Sending copies to the shadow: [`ShadowCopier`] admits each copy and runs its call on a
//! task of its own, under the timeout, with panics caught; the shadow's answer is drained
//! (or kept for an observer), at most `max_shadow_body_bytes` of it beyond what an
//! observer keeps, and ignored.

use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tokio::time::Instant;
use tower::{BoxError, Service, ServiceExt};
use tracing::Instrument;

use super::admission::{Admission, Refusal};
use super::copy::{BufferedCopy, Copier, SentCopy};
use super::counters::Recorder;
use super::event::MirrorEvent;
use super::head::own_head;
use super::observe::{CopyObserver, ShadowAnswer};
use super::pacing::Pacer;
use super::policy::Policy;
use super::span::{copy_span, record_outcome};
use super::spread::TimeoutSpread;
use crate::frames::read_within;
use crate::rng::SharedRng;

/// A built layer: the shadow and the rules for copying to it. One per layer, behind an
/// `Arc`, shared by its services and the bodies they copy.
pub(crate) struct ShadowCopier<M> {
    shadow: M,
    policy: Policy,
    admission: Admission,
    recorder: Recorder,
    rng: SharedRng,
    timeout: Duration,
    /// Each copy's own timeout, at most `timeout`.
    spread: TimeoutSpread,
}

impl<M: fmt::Debug> fmt::Debug for ShadowCopier<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowCopier")
            .field("shadow", &self.shadow)
            .field("policy", &self.policy)
            .field("limits", &self.admission.limits())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<M> ShadowCopier<M> {
    pub(crate) fn new(
        shadow: M,
        policy: Policy,
        admission: Admission,
        recorder: Recorder,
        rng: SharedRng,
        timeout: Duration,
    ) -> Self {
        let spread = TimeoutSpread::new(timeout, admission.limits().timeout_spread);
        Self {
            shadow,
            policy,
            admission,
            recorder,
            rng,
            timeout,
            spread,
        }
    }

    pub(crate) fn shadow(&self) -> &M {
        &self.shadow
    }

    pub(crate) fn rng(&self) -> &SharedRng {
        &self.rng
    }

    // The rules are readable without the shadow's bounds (for handles); `Copier` hands
    // them on to the copies.
    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    pub(crate) fn admission(&self) -> &Admission {
        &self.admission
    }

    pub(crate) fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl<M, RB> Copier for ShadowCopier<M>
where
    M: Service<Request<Full<Bytes>>, Response = Response<RB>> + Clone + Send + Sync + 'static,
    M::Future: Send,
    M::Error: Into<BoxError>,
    RB: Body + Send + 'static,
{
    fn policy(&self) -> &Policy {
        ShadowCopier::policy(self)
    }

    fn admission(&self) -> &Admission {
        ShadowCopier::admission(self)
    }

    fn recorder(&self) -> &Recorder {
        ShadowCopier::recorder(self)
    }

    fn send(self: Arc<Self>, copy: BufferedCopy) {
        let runtime = match self.admission.admit() {
            Ok(runtime) => runtime,
            Err(refusal) => {
                // Recorded before the copy stops being unfinished, for `wait_idle`.
                match refusal {
                    Refusal::Skip(reason) => self.recorder.skipped(reason),
                    Refusal::Drop(reason) => self.recorder.dropped(reason),
                }
                // Dropping it gives its bytes back.
                drop(copy);
                return;
            }
        };
        self.recorder.dispatched(copy.is_truncated());
        let shadow = self.shadow.clone();
        let call = Call {
            timeout: self.spread.next(),
            drain: self.admission.limits().max_shadow_body_bytes,
        };
        let pacer = self.admission.pacer().cloned();
        let (request, observer, sent) = copy.sent(self);
        let span = copy_span(&request);
        runtime.spawn(run(shadow, request, call, pacer, sent, observer).instrument(span));
    }
}

/// The bounds of one shadow call.
#[derive(Debug, Clone, Copy)]
struct Call {
    timeout: Duration,
    /// Bytes of the answer's body read (beyond what an observer keeps).
    drain: usize,
}

/// The copy's task: the shadow call and its outcome, then the observer, if any.
async fn run<M, RB>(
    shadow: M,
    request: Request<Bytes>,
    Call { timeout, drain }: Call,
    pacer: Option<Arc<Pacer>>,
    sent: SentCopy,
    mut observer: Option<Box<dyn CopyObserver>>,
) where
    M: Service<Request<Full<Bytes>>, Response = Response<RB>>,
    M::Error: Into<BoxError>,
    RB: Body,
{
    let start = Instant::now();
    let (mut head, body) = request.into_parts();
    // Here, off the primary's path: until now the head may share the server's read buffer.
    own_head(&mut head);
    let request = Request::from_parts(head, Full::new(body));
    let keep = observer.as_ref().map(|observer| observer.keep_body());
    // Outside the call, so what was read is known even when the call is cut short.
    let drained = AtomicU64::new(0);
    let drained_ref = &drained;
    let beside = observer
        .as_mut()
        .and_then(|observer| observer.sending(&request));
    // The timer is created inside the unwind guard: on a runtime without it, that panics.
    let call = AssertUnwindSafe(async move {
        let beside = async move {
            if let Some(beside) = beside {
                beside.await;
            }
        };
        let both = async move {
            tokio::join!(
                call_shadow(shadow, request, keep, drain, drained_ref),
                beside
            )
        };
        tokio::time::timeout(timeout, both).await
    })
    .catch_unwind();
    let mut answer = None;
    let outcome = tokio::select! {
        result = call => {
            let latency = start.elapsed();
            match result {
                Ok(Ok((Ok(answered), ()))) => {
                    let status = answered.status;
                    answer = Some(answered);
                    MirrorEvent::Completed { status, latency }
                }
                Ok(Ok((Err(error), ()))) => MirrorEvent::Failed { latency, error: error.to_string() },
                Ok(Err(_elapsed)) => MirrorEvent::TimedOut,
                Err(panic) => MirrorEvent::Failed { latency, error: panic_message(&*panic) },
            }
        }
        () = sent.cut() => MirrorEvent::TimedOut,
    };
    // Answered calls set the pace; timed-out ones are the spread's and the breaker's.
    if let (
        Some(pacer),
        MirrorEvent::Completed { latency, .. } | MirrorEvent::Failed { latency, .. },
    ) = (pacer, &outcome)
    {
        pacer.call_took(*latency);
    }
    record_outcome(&outcome);
    sent.drained(drained.load(Ordering::Relaxed));
    let events = observer.as_ref().map(|_| sent.events());
    // An observer may wait longer (compare mode: for the primary's answer); the call's
    // budget is given back first.
    let unfinished = sent.finish(outcome);
    if let (Some(observer), Some(events)) = (observer, events) {
        observer.shadow_answered(answer, events, timeout).await;
    }
    drop(unfinished);
}

/// Calls the shadow and reads its answer: the body to its end, kept up to `keep` (for an
/// observer) and at most `drain` bytes (or `keep`, if larger); a body still going past
/// that never finished its reply, and the call fails.
async fn call_shadow<M, RB>(
    mut shadow: M,
    request: Request<Full<Bytes>>,
    keep: Option<usize>,
    drain: usize,
    drained: &AtomicU64,
) -> Result<ShadowAnswer, BoxError>
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
    let limit = keep.map_or(drain, |keep| keep.max(drain));
    let body = read_within(std::pin::pin!(body), keep, limit, drained).await?;
    Ok(ShadowAnswer {
        status: head.status,
        headers: head.headers,
        body,
    })
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string payload");
    format!("the shadow panicked: {detail}")
}
