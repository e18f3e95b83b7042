//! `Mirror<S, M>`: plans each request's copy (the policy, then the budget) and wraps its
//! body to buffer the copy.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower::{BoxError, Service};

use super::body::MirrorBody;
use super::copy::{Copier, CopyBuffer, PlannedCopy};
use super::event::SkipReason;
use super::future::ResponseFuture;
use super::handle::MirrorHandle;
use super::head::head_bytes;
use super::observe::CopyObserver;
use super::policy::BodyPlan;
use super::send::ShadowCopier;
use super::stream::CopyBody;
use super::streaming::StreamingShadow;

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
    copier: Arc<ShadowCopier<M>>,
}

impl<S, M> Mirror<S, M> {
    pub(crate) fn new(inner: S, copier: Arc<ShadowCopier<M>>) -> Self {
        Self { inner, copier }
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
        self.copier.shadow()
    }

    /// A handle on the counters and controls shared with the layer and all its services.
    pub fn handle(&self) -> MirrorHandle {
        MirrorHandle::new(
            Arc::clone(self.copier.recorder().counters()),
            Arc::clone(self.copier.admission().budget()),
            Arc::clone(&self.copier.policy().sampling),
        )
    }
}

impl<S: Clone, M> Clone for Mirror<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            copier: Arc::clone(&self.copier),
        }
    }
}

impl<S: fmt::Debug, M: fmt::Debug> fmt::Debug for Mirror<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("inner", &self.inner)
            .field("copier", &self.copier)
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

    #[inline(always)]
    fn call(&mut self, req: Request<B>) -> Self::Future {
        ResponseFuture::new(self.call_observed(req, || None))
    }
}

impl<S, M, B, RB> Service<Request<B>> for Mirror<S, StreamingShadow<M>>
where
    S: Service<Request<MirrorBody<B>>>,
    B: Body + Send + 'static,
    M: Service<Request<CopyBody>, Response = Response<RB>> + Clone + Send + Sync + 'static,
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
        ResponseFuture::new(self.call_observed(req, || None))
    }
}

impl<S, M> Mirror<S, M> {
    /// `call`, with `observe` asked for an observer of the copy when one is planned with
    /// its body (compare mode). When it is not asked, it is dropped unasked.
    #[inline(always)]
    pub(crate) fn call_observed<B, O>(&mut self, req: Request<B>, observe: O) -> S::Future
    where
        S: Service<Request<MirrorBody<B>>>,
        B: Body + Send + 'static,
        O: FnOnce() -> Option<Box<dyn CopyObserver>>,
        ShadowCopier<M>: Copier,
    {
        let req = plan(&self.copier, req, observe);
        self.inner.call(req)
    }
}

/// Decides whether and how `req` is copied, and wraps its body accordingly.
#[inline(always)]
fn plan<M, B, O>(
    copier: &Arc<ShadowCopier<M>>,
    req: Request<B>,
    observe: O,
) -> Request<MirrorBody<B>>
where
    ShadowCopier<M>: Copier,
    B: Body + Send + 'static,
    O: FnOnce() -> Option<Box<dyn CopyObserver>>,
{
    let (policy, admission, recorder) = (copier.policy(), copier.admission(), copier.recorder());
    // Sampling first: at 0 % or paused a request costs two loads and one count. During
    // shutdown every request is `skipped_shutdown` instead, whatever the sampling.
    let shutting_down = admission.is_shutting_down();
    if !shutting_down && let Err(reason) = policy.sample(&req, copier.rng()) {
        recorder.skipped(reason);
        return req.map(MirrorBody::passthrough);
    }
    plan_copy(copier, req, observe, shutting_down)
}

/// [`plan`] for a request sampling kept (or any, during shutdown).
fn plan_copy<M, B, O>(
    copier: &Arc<ShadowCopier<M>>,
    req: Request<B>,
    observe: O,
    shutting_down: bool,
) -> Request<MirrorBody<B>>
where
    ShadowCopier<M>: Copier,
    B: Body + Send + 'static,
    O: FnOnce() -> Option<Box<dyn CopyObserver>>,
{
    let (policy, admission, recorder) = (copier.policy(), copier.admission(), copier.recorder());
    recorder.seen_past_sampling();
    if shutting_down {
        recorder.skipped(SkipReason::Shutdown);
        return req.map(MirrorBody::passthrough);
    }
    if let Err(reason) = policy.screen(&req) {
        recorder.skipped(reason);
        return req.map(MirrorBody::passthrough);
    }
    let (req, filtered) = policy.filter(req);
    let plan = match filtered.and_then(|()| policy.body_plan(&req)) {
        Ok(plan) => plan,
        Err(reason) => {
            recorder.skipped(reason);
            return req.map(MirrorBody::passthrough);
        }
    };
    if let Err(reason) = admission.screen() {
        recorder.dropped(reason);
        return req.map(MirrorBody::passthrough);
    }
    // The head is counted before it is cloned: a copy whose head does not fit costs
    // nothing. The request's head is the estimate; the copy's is counted once made.
    let planned = admission
        .hold(head_bytes(req.uri(), req.headers()))
        .and_then(|held| PlannedCopy::new(policy.copy_head(&req), held, recorder.counters()));
    let planned = match planned {
        Ok(planned) => planned,
        Err(reason) => {
            recorder.dropped(reason);
            return req.map(MirrorBody::passthrough);
        }
    };
    match plan {
        BodyPlan::HeadersOnly => {
            planned.send_headers_only(copier.clone());
            req.map(MirrorBody::passthrough)
        }
        BodyPlan::Empty => {
            planned.observed_by(observe()).send_empty(copier.clone());
            req.map(MirrorBody::passthrough)
        }
        BodyPlan::Buffer { expected } => {
            let buffer = CopyBuffer::new(copier.clone(), planned.observed_by(observe()), expected);
            req.map(|body| MirrorBody::copied(body, buffer))
        }
        BodyPlan::Stream { expected } => {
            // Told, once it is sent, that there is no body to compare.
            let planned = planned.observed_by(observe());
            let buffer = CopyBuffer::streaming(copier.clone(), planned, expected);
            req.map(|body| MirrorBody::copied(body, buffer))
        }
    }
}
