//! `Mirror<S, M>`: asks the policy, wires the tee.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower::{BoxError, Service};

use super::body::{MirrorBody, Tee};
use super::dispatch::{Dispatch, Dispatcher, PlannedCopy, PrimaryAnswer};
use super::future::ResponseFuture;
use super::policy::{BodyPlan, mark_truncated};
use super::stats::{MirrorHandle, PendingCopy};

/// Middleware that sends every request to the inner (primary) service and a copy of it,
/// off the critical path and fire-and-forget, to a shadow service.
///
/// Built by [`MirrorLayer`](crate::MirrorLayer); see the [crate docs](crate) for the whole
/// picture. The primary receives `Request<MirrorBody<B>>`, which yields exactly the
/// original body; its response and errors pass through unchanged.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower::{Layer, Service, ServiceExt};
/// use tower_mirror::{Mirror, MirrorBody, MirrorLayer};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let shadow = tower::service_fn(|_: http::Request<Full<Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
/// });
/// let primary = tower::service_fn(|_: http::Request<MirrorBody<Full<Bytes>>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::from("v1")))
/// });
/// let layer = MirrorLayer::new(shadow);
/// let handle = layer.handle();
/// let mut svc: Mirror<_, _> = layer.layer(primary);
/// svc.ready().await.unwrap().call(http::Request::new(Full::default())).await.unwrap();
/// handle.wait_idle().await;
/// assert_eq!(handle.stats().completed, 1);
/// # }
/// ```
pub struct Mirror<S, M> {
    inner: S,
    dispatcher: Arc<Dispatcher<M>>,
}

impl<S, M> Mirror<S, M> {
    pub(crate) fn new(inner: S, dispatcher: Arc<Dispatcher<M>>) -> Self {
        Self { inner, dispatcher }
    }

    /// The primary service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The primary service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The primary service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The shadow service.
    pub fn shadow(&self) -> &M {
        &self.dispatcher.shadow
    }

    /// A handle on the counters shared with the layer and all its services.
    pub fn handle(&self) -> MirrorHandle {
        MirrorHandle {
            shared: Arc::clone(&self.dispatcher.core.recorder.shared),
        }
    }
}

impl<S: Clone, M> Clone for Mirror<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            dispatcher: Arc::clone(&self.dispatcher),
        }
    }
}

impl<S: fmt::Debug, M: fmt::Debug> fmt::Debug for Mirror<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("inner", &self.inner)
            .field("shadow", &self.dispatcher.shadow)
            .field("policy", &self.dispatcher.core.policy)
            .field("limits", &self.dispatcher.core.limits)
            .finish()
    }
}

impl<S, M, B, RB> Service<Request<B>> for Mirror<S, M>
where
    S: Service<Request<MirrorBody<B>>>,
    B: Body + Send + 'static,
    M: Service<Request<Full<Bytes>>, Response = Response<RB>> + Clone + Send + Sync + 'static,
    M::Future: Send,
    M::Error: Into<BoxError>,
    RB: Body + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let req = plan(&self.dispatcher, req, PrimaryAnswer::default());
        ResponseFuture::new(self.inner.call(req))
    }
}

#[cfg(feature = "compare")]
impl<S, M> Mirror<S, M> {
    /// `call`, with a place for the primary's answer when a copy is planned (compare mode).
    pub(crate) fn call_capturing<B>(&mut self, req: Request<B>, primary: PrimaryAnswer) -> S::Future
    where
        S: Service<Request<MirrorBody<B>>>,
        B: Body + Send + 'static,
        Dispatcher<M>: Dispatch,
    {
        let req = plan(&self.dispatcher, req, primary);
        self.inner.call(req)
    }
}

/// Decides whether and how `req` is copied, and wraps its body accordingly.
fn plan<M, B>(
    dispatcher: &Arc<Dispatcher<M>>,
    req: Request<B>,
    primary: PrimaryAnswer,
) -> Request<MirrorBody<B>>
where
    Dispatcher<M>: Dispatch,
    B: Body + Send + 'static,
{
    let core = &dispatcher.core;
    let recorder = &core.recorder;
    let shared = &recorder.shared;
    recorder.seen();
    if shared.is_shutting_down() {
        recorder.skipped(super::SkipReason::Shutdown);
        return req.map(MirrorBody::passthrough);
    }
    if let Err(reason) = core.policy.screen(&req, &core.rng) {
        recorder.skipped(reason);
        return req.map(MirrorBody::passthrough);
    }
    let (req, filtered) = core.policy.filter(req);
    let plan = filtered.and_then(|()| core.policy.body_plan(&req));
    let plan = match plan {
        Ok(plan) => plan,
        Err(reason) => {
            recorder.skipped(reason);
            return req.map(MirrorBody::passthrough);
        }
    };
    // Cheap early refusals, so an overloaded or broken shadow costs no copying at all;
    // dispatch checks again, authoritatively.
    if shared.in_flight() >= core.limits.max_in_flight {
        recorder.dropped("max_in_flight");
        return req.map(MirrorBody::passthrough);
    }
    if recorder.breaker.as_ref().is_some_and(|b| b.is_open()) {
        recorder.dropped("circuit breaker open");
        return req.map(MirrorBody::passthrough);
    }

    let mut head = core.policy.copy_head(&req);
    let pending = PendingCopy::new(shared);
    match plan {
        BodyPlan::HeadersOnly => {
            mark_truncated(&mut head);
            // Nothing to compare for a copy without its body: `primary` is dropped.
            let copy = PlannedCopy {
                head,
                pending,
                primary: PrimaryAnswer::default(),
            };
            dispatcher.dispatch(copy.with_body(Vec::new(), 0, true));
            req.map(MirrorBody::passthrough)
        }
        BodyPlan::Empty => {
            let copy = PlannedCopy {
                head,
                pending,
                primary,
            };
            dispatcher.dispatch(copy.with_body(Vec::new(), 0, false));
            req.map(MirrorBody::passthrough)
        }
        BodyPlan::Tee { expected } => {
            let dispatcher: Arc<dyn Dispatch> = dispatcher.clone();
            let copy = PlannedCopy {
                head,
                pending,
                primary,
            };
            let tee = Tee::new(dispatcher, copy, expected);
            req.map(|body| MirrorBody::teed(body, tee))
        }
    }
}
