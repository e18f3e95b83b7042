//! `Compare<S, M>`: a [`Mirror`] whose primary responses are captured for comparison.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use pin_project_lite::pin_project;
use tokio::sync::oneshot;
use tower::{BoxError, Service};

use super::body::{Capture, CompareBody};
use super::comparison::{Comparator, Comparison};
use super::diff::PrimaryCapture;
use super::route::route_from;
use crate::mirror::observe::{Copier, CopyObserver, ShadowCopier};
use crate::mirror::{CopyBody, Mirror, MirrorBody, MirrorHandle, StreamingShadow};

/// Middleware that mirrors like [`Mirror`] and compares the shadow's answers with the
/// primary's. Built by [`CompareLayer`](super::CompareLayer); see [`crate::compare`].
///
/// Its response is the primary's, with the body wrapped in [`CompareBody`].
#[derive(Debug, Clone)]
pub struct Compare<S, M> {
    mirror: Mirror<S, M>,
    comparator: Arc<Comparator>,
}

impl<S, M> Compare<S, M> {
    pub(crate) fn new(mirror: Mirror<S, M>, comparator: Arc<Comparator>) -> Self {
        Self { mirror, comparator }
    }

    /// The primary service.
    pub fn get_ref(&self) -> &S {
        self.mirror.get_ref()
    }

    /// The primary service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.mirror.get_mut()
    }

    /// The primary service.
    pub fn into_inner(self) -> S {
        self.mirror.into_inner()
    }

    /// A handle on the counters and the compare report.
    pub fn handle(&self) -> MirrorHandle {
        self.mirror.handle()
    }
}

impl<S, M, B, RB, SB> Service<Request<B>> for Compare<S, M>
where
    S: Service<Request<MirrorBody<B>>, Response = Response<SB>>,
    SB: Body,
    B: Body + Send + 'static,
    M: Service<Request<Full<Bytes>>, Response = Response<RB>> + Clone + Send + Sync + 'static,
    M::Future: Send,
    M::Error: Into<BoxError>,
    RB: Body + Send + 'static,
{
    type Response = Response<CompareBody<SB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.mirror.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.call_compared(req)
    }
}

impl<S, M, B, RB, SB> Service<Request<B>> for Compare<S, StreamingShadow<M>>
where
    S: Service<Request<MirrorBody<B>>, Response = Response<SB>>,
    SB: Body,
    B: Body + Send + 'static,
    M: Service<Request<CopyBody>, Response = Response<RB>> + Clone + Send + Sync + 'static,
    M::Future: Send,
    M::Error: Into<BoxError>,
    RB: Body + Send + 'static,
{
    type Response = Response<CompareBody<SB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.mirror.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.call_compared(req)
    }
}

impl<S, M> Compare<S, M> {
    /// `call`: the copy watched by a comparison, the primary's answer captured for it.
    fn call_compared<B, SB>(&mut self, req: Request<B>) -> ResponseFuture<S::Future>
    where
        S: Service<Request<MirrorBody<B>>, Response = Response<SB>>,
        B: Body + Send + 'static,
        ShadowCopier<M>: Copier,
    {
        let (tx, rx) = oneshot::channel();
        let comparator = Arc::clone(&self.comparator);
        let (req, route) = match comparator.route_from() {
            Some(template) => route_from(template, req),
            None => (req, None),
        };
        let inner = self.mirror.call_observed(req, move || {
            Some(Box::new(Comparison::new(comparator, rx, route)) as Box<dyn CopyObserver>)
        });
        // A copy that was not planned dropped its receiver: then nothing is captured.
        let tx = (!tx.is_closed()).then_some(tx);
        ResponseFuture {
            inner,
            tx,
            max_body_bytes: self.comparator.max_body_bytes(),
        }
    }
}

pin_project! {
    /// Response future of [`Compare`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        tx: Option<oneshot::Sender<PrimaryCapture>>,
        max_body_bytes: usize,
    }
}

impl<F, SB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<SB>, E>>,
{
    type Output = Result<Response<CompareBody<SB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let capture = this.tx.take().map(|tx| {
            Capture::new(
                tx,
                response.status(),
                response.headers().clone(),
                *this.max_body_bytes,
            )
        });
        Poll::Ready(Ok(response.map(|body| CompareBody::new(body, capture))))
    }
}
