//! Which mirror decisions belong to which request, for the access log.
//!
//! A mirror layer reports its decision on a request through its `on_event` callback,
//! which is not told the request. It decides either in its call (sampling, filters, an
//! empty body) or as the primary reads the body to its end (the copy dispatched, dropped,
//! or skipped as too large or incomplete): both happen on the thread that polls the
//! request's future or its body. So the request carries a [`Decisions`] slot in its
//! extensions, and while its future or body is polled the slot is the thread's current
//! one, where [`record`] puts what the callback is told.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower::Service;
use tower_mirror::MirrorEvent;

/// One request's mirror decisions, by mirror, in the order the mirrors took them:
/// `mirrored`, `skipped_<reason>` or `dropped_<reason>`, as the stats counters are named.
#[derive(Clone, Debug, Default)]
pub(crate) struct Decisions(Arc<Mutex<Vec<Decision>>>);

/// A mirror's name and what it decided.
pub(crate) type Decision = (Arc<str>, String);

impl Decisions {
    pub(crate) fn taken(&self) -> Vec<Decision> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Decisions>> = const { RefCell::new(None) };
}

/// The `on_event` callback of the mirror called `mirror`, when the access log is on.
pub(crate) fn record(mirror: &Arc<str>, event: &MirrorEvent) {
    let decision = match event {
        MirrorEvent::Dispatched => "mirrored".to_owned(),
        MirrorEvent::Skipped { reason } => format!("skipped_{reason}"),
        MirrorEvent::Dropped { reason } => format!("dropped_{reason}"),
        // Outcomes come later, on the copy's own task.
        _ => return,
    };
    CURRENT.with(|current| {
        if let Some(decisions) = &*current.borrow() {
            decisions
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((mirror.clone(), decision));
        }
    });
}

/// Makes `decisions` the thread's current slot until dropped, then restores the one before.
struct Entered(Option<Decisions>);

fn enter(decisions: &Option<Decisions>) -> Option<Entered> {
    let decisions = decisions.as_ref()?;
    let before = CURRENT.with(|current| current.replace(Some(decisions.clone())));
    Some(Entered(before))
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = self.0.take());
    }
}

pin_project_lite::pin_project! {
    /// A request's future, polled with its decisions current.
    pub(crate) struct InScope<F> {
        #[pin]
        inner: F,
        decisions: Option<Decisions>,
    }
}

impl<F> InScope<F> {
    pub(crate) fn new(inner: F, decisions: Option<Decisions>) -> Self {
        Self { inner, decisions }
    }
}

impl<F: Future> Future for InScope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = enter(this.decisions);
        this.inner.poll(cx)
    }
}

/// A request body polled, and dropped, with its request's decisions current: a mirror
/// decides when the body ends, or when it is dropped before its end.
#[derive(Debug)]
pub(crate) struct ScopedBody<B> {
    inner: Option<B>,
    decisions: Option<Decisions>,
}

impl<B> Body for ScopedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let _entered = enter(&this.decisions);
        match &mut this.inner {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(B::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), B::size_hint)
    }
}

impl<B> Drop for ScopedBody<B> {
    fn drop(&mut self) {
        let _entered = enter(&self.decisions);
        self.inner.take();
    }
}

/// A backend whose request bodies are polled with their request's decisions current
/// (requests without a slot pass as they are).
#[derive(Clone, Debug)]
pub(crate) struct DecisionScope<S> {
    inner: S,
}

impl<S> DecisionScope<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, B, RB> Service<Request<B>> for DecisionScope<S>
where
    S: Service<Request<ScopedBody<B>>, Response = Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> S::Future {
        let decisions = req.extensions().get::<Decisions>().cloned();
        self.inner.call(req.map(|body| ScopedBody {
            inner: Some(body),
            decisions,
        }))
    }
}

#[cfg(test)]
mod tests {
    use tower_mirror::{DropReason, SkipReason};

    use super::*;

    #[test]
    fn events_go_to_the_slot_in_scope_only() {
        let decisions = Decisions::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        record(&a, &MirrorEvent::Dispatched); // no slot current: nowhere
        {
            let _entered = enter(&Some(decisions.clone()));
            let sampling = SkipReason::Sampling;
            record(&a, &MirrorEvent::Skipped { reason: sampling });
            let in_flight = DropReason::InFlight;
            record(&b, &MirrorEvent::Dropped { reason: in_flight });
            record(&a, &MirrorEvent::TimedOut); // an outcome, not a decision
        }
        record(&b, &MirrorEvent::Dispatched);
        let taken = decisions.taken();
        let taken: Vec<(&str, &str)> = taken.iter().map(|(m, d)| (&**m, d.as_str())).collect();
        assert_eq!(
            taken,
            [("a", "skipped_sampling"), ("b", "dropped_in_flight")]
        );
    }
}
