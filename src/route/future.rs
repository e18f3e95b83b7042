use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower::util::Oneshot;
use tower_service::Service;

pin_project! {
    /// Response future of [`Subset`](super::Subset) and
    /// [`WeightedRoute`](super::WeightedRoute): waits for the chosen instance to be ready,
    /// then for its response.
    ///
    /// Each call owns a clone of its instance, so one instance that is slow to become ready
    /// only delays the requests sent to it.
    pub struct ResponseFuture<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        inner: Oneshot<S, R>,
    }
}

impl<S, R> ResponseFuture<S, R>
where
    S: Service<R>,
{
    pub(super) fn new(svc: S, req: R) -> Self {
        Self {
            inner: Oneshot::new(svc, req),
        }
    }
}

impl<S, R> Future for ResponseFuture<S, R>
where
    S: Service<R>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<S, R> fmt::Debug for ResponseFuture<S, R>
where
    S: Service<R>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
