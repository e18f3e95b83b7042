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
use super::copy::{BufferedCopy, Content, Copier, SentCopy};
use super::counters::Recorder;
use super::event::{MirrorEvent, SkipReason};
use super::head::own_head;
use super::observe::{CopyObserver, ShadowAnswer};
use super::pacing::Pacer;
use super::policy::Policy;
use super::span::{copy_span, record_outcome};
use super::spread::TimeoutSpread;
use super::stream::{CopyBody, StreamAbort, StreamWatch};
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
        if copy.is_streamed() {
            // The policy streams no copy to a shadow of `Full<Bytes>`; were one to come,
            // it gets what `Oversize::Stream` means for such a shadow.
            self.recorder.skipped(SkipReason::BodyTooLarge);
            return;
        }
        let shadow = self.shadow.clone();
        self.dispatch::<_, Full<Bytes>, RB>(shadow, copy);
    }
}

/// The body a shadow takes: `Full<Bytes>` (whole copies only) or [`CopyBody`] (streamed
/// ones too).
pub(crate) trait ShadowBody: Body + Sized {
    fn whole(body: Full<Bytes>) -> Self;
    /// `None` when this body cannot carry a stream.
    fn streamed(body: CopyBody) -> Option<Self>;
}

impl ShadowBody for Full<Bytes> {
    fn whole(body: Full<Bytes>) -> Self {
        body
    }

    fn streamed(_: CopyBody) -> Option<Self> {
        None
    }
}

impl ShadowBody for CopyBody {
    fn whole(body: Full<Bytes>) -> Self {
        Self::from(body)
    }

    fn streamed(body: CopyBody) -> Option<Self> {
        Some(body)
    }
}

impl<X> ShadowCopier<X> {
    /// Admits a copy and runs its call to `shadow` on a task of its own, or records why
    /// not.
    pub(crate) fn dispatch<M, SB, RB>(self: Arc<Self>, shadow: M, copy: BufferedCopy)
    where
        Self: Copier,
        M: Service<Request<SB>, Response = Response<RB>> + Send + 'static,
        M::Future: Send,
        M::Error: Into<BoxError>,
        SB: ShadowBody + Send + 'static,
        RB: Body + Send + 'static,
    {
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
        let call = Call {
            timeout: self.spread.next(),
            drain: self.admission.limits().max_shadow_body_bytes,
        };
        let pacer = self.admission.pacer().cloned();
        let (request, observer, sent) = copy.sent(self);
        let span = copy_span(&request);
        // The call's state is kilobytes (timer, join, unwind guard); boxed on the copy's
        // first poll, the task moved on spawn holds only the copy itself.
        let task = async move { Box::pin(run(shadow, request, call, pacer, sent, observer)).await };
        runtime.spawn(task.instrument(span));
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
async fn run<M, SB, RB>(
    shadow: M,
    request: Request<Content>,
    Call { timeout, drain }: Call,
    pacer: Option<Arc<Pacer>>,
    sent: SentCopy,
    mut observer: Option<Box<dyn CopyObserver>>,
) where
    M: Service<Request<SB>, Response = Response<RB>>,
    M::Error: Into<BoxError>,
    SB: ShadowBody,
    RB: Body,
{
    let start = Instant::now();
    let (mut head, content) = request.into_parts();
    // Here, off the primary's path: until now the head may share the server's read buffer.
    own_head(&mut head);
    let (request, beside, mut stream) = match content {
        Content::Whole(body) => {
            let request = Request::from_parts(head, Full::new(body.join()));
            let beside = observer
                .as_mut()
                .and_then(|observer| observer.sending(&request));
            (request.map(SB::whole), beside, None)
        }
        Content::Streamed(body, watch) => match SB::streamed(body) {
            Some(body) => (Request::from_parts(head, body), None, Some(watch)),
            None => {
                // Not sent: `send` refuses streamed copies for such a shadow.
                let error = "the shadow takes no streamed body".to_owned();
                let outcome = MirrorEvent::Failed {
                    latency: start.elapsed(),
                    error,
                };
                record_outcome(&outcome);
                drop(sent.finish(outcome));
                return;
            }
        },
    };
    let keep = observer.as_ref().map(|observer| observer.keep_body());
    // Outside the call, so what was read is known even when the call is cut short.
    let drained = AtomicU64::new(0);
    let drained_ref = &drained;
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
        // First: an aborted stream ends the call at once, whether or not the shadow reads.
        biased;
        reason = aborted(stream.as_mut()) => {
            MirrorEvent::Failed { latency: start.elapsed(), error: reason.to_string() }
        }
        result = call => {
            let latency = start.elapsed();
            match result {
                Ok(Ok((Ok(answered), ()))) => match stream.as_mut().and_then(StreamWatch::was_aborted) {
                    // The shadow answered, but its body was aborted meanwhile.
                    Some(reason) => MirrorEvent::Failed { latency, error: reason.to_string() },
                    None => {
                        let status = answered.status;
                        answer = Some(answered);
                        MirrorEvent::Completed { status, latency }
                    }
                },
                Ok(Ok((Err(error), ()))) => MirrorEvent::Failed { latency, error: error.to_string() },
                Ok(Err(_elapsed)) => MirrorEvent::TimedOut,
                Err(panic) => MirrorEvent::Failed { latency, error: panic_message(&*panic) },
            }
        }
        () = sent.cut() => MirrorEvent::TimedOut,
    };
    // The call is over: the tee stops copying.
    drop(stream);
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

/// Resolves when the streamed copy is aborted; never for a whole one.
async fn aborted(stream: Option<&mut StreamWatch>) -> StreamAbort {
    match stream {
        Some(stream) => stream.aborted().await,
        None => std::future::pending().await,
    }
}

/// Calls the shadow and reads its answer: the body to its end, kept up to `keep` (for an
/// observer) and at most `drain` bytes (or `keep`, if larger); a body still going past
/// that never finished its reply, and the call fails.
async fn call_shadow<M, SB, RB>(
    mut shadow: M,
    request: Request<SB>,
    keep: Option<usize>,
    drain: usize,
    drained: &AtomicU64,
) -> Result<ShadowAnswer, BoxError>
where
    M: Service<Request<SB>, Response = Response<RB>>,
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
