//! A cap on requests in flight to one upstream instance, so that many client connections
//! (or HTTP/2 streams) cannot fan out into as many upstream connections.
//!
//! A request holds its place from before it is sent until the upstream's response body
//! has ended (or was dropped): over HTTP/1.1 that is exactly the time it holds a pooled
//! connection, so open connections stay at most the cap plus the idle pool. Requests past
//! the cap wait in line (fairly, first come first served); the caller's own deadline
//! (`--primary-timeout`, a mirror's `--timeout`) bounds the wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{BoxError, Service, ServiceExt};

/// `inner`, with at most `max` requests in flight through all clones.
#[derive(Clone, Debug)]
pub(crate) struct UpstreamLimit<S> {
    inner: S,
    places: Arc<Semaphore>,
}

impl<S> UpstreamLimit<S> {
    pub(crate) fn new(inner: S, max: usize) -> Self {
        Self {
            inner,
            places: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<S, B, RB> Service<Request<B>> for UpstreamLimit<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<Held<RB>>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the place in line, taken in the call so that a request waiting for
        // one can be dropped (its deadline passed) without holding anything.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (inner, places) = (self.inner.clone(), self.places.clone());
        Box::pin(async move {
            // The semaphore is never closed: acquiring only waits.
            let place = places.acquire_owned().await?;
            let response = inner.oneshot(req).await.map_err(Into::into)?;
            Ok(response.map(|body| Held {
                body,
                place: Some(place),
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// An upstream's response body that holds its request's place until it ends.
    #[derive(Debug)]
    pub(crate) struct Held<B> {
        #[pin]
        body: B,
        place: Option<OwnedSemaphorePermit>,
    }
}

impl<B> Body for Held<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.body.poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) {
            // Ended or failed: the connection is back in the pool, or closed.
            this.place.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::{BodyExt, Full};

    use super::*;

    #[tokio::test]
    async fn the_place_is_held_until_the_body_ends_and_others_wait() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let upstream = tower::service_fn(move |_: Request<()>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok")))) }
        });
        let limited = UpstreamLimit::new(upstream, 1);

        let first = limited.clone().oneshot(Request::new(())).await.unwrap();
        let mut second = Box::pin(limited.clone().oneshot(Request::new(())));
        // Its place is taken by the first response, whose body is unread.
        assert!(futures_poll(&mut second).is_pending());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let body = first.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "ok");
        let second = second.await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        drop(second); // a dropped body gives its place back too
        limited.oneshot(Request::new(())).await.unwrap();
    }

    fn futures_poll<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(fut).poll(&mut cx)
    }
}
