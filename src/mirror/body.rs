//! `MirrorBody`: the primary's request body, copying its frames for the shadow as the
//! primary reads them.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::copy::CopyBuffer;
use super::event::SkipReason;

pin_project! {
    /// The request body the primary service receives from [`Mirror`](crate::Mirror).
    ///
    /// It yields exactly the frames of the original body (data as [`Bytes`]: zero-copy when
    /// the original's data already is `Bytes`), with the same size hint, end of stream and
    /// trailers. When the request is mirrored it also keeps a copy of each data frame, up to
    /// `max_body_bytes`, and sends the copy to the shadow once the body has ended: its last
    /// frame read (the trailers, or a frame after which it reports its end) or `None`
    /// polled. A body that errors, or is dropped before its end, is not mirrored. A
    /// streamed copy (see [`Oversize::Stream`](crate::Oversize::Stream)) is passed on frame
    /// by frame instead, never waited for, and aborted by such a body.
    ///
    /// It is `Send`, `Sync` and `Unpin` when `B` is.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use tower::{Service, ServiceBuilder, ServiceExt};
    /// use tower_mirror::{MirrorBody, MirrorLayer};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let shadow = tower::service_fn(|_: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
    /// # });
    /// // The primary reads its body as it would without the layer.
    /// let primary = tower::service_fn(|req: http::Request<MirrorBody<Full<Bytes>>>| async move {
    ///     let body = req.into_body().collect().await?.to_bytes();
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(body)))
    /// });
    /// let mut svc = ServiceBuilder::new().layer(MirrorLayer::new(shadow)).service(primary);
    /// let response = svc.ready().await.unwrap().call(http::Request::new(Full::from("hi"))).await.unwrap();
    /// assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "hi");
    /// # }
    /// ```
    pub struct MirrorBody<B> {
        #[pin]
        inner: B,
        // Boxed: a copy's buffer and head are hundreds of bytes, which would make every
        // request (copied or not) that much larger to move through the primary's futures.
        copy: Option<Box<CopyBuffer>>,
    }
}

impl<B: fmt::Debug> fmt::Debug for MirrorBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MirrorBody")
            .field("inner", &self.inner)
            .field("copying", &self.copy.is_some())
            .finish()
    }
}

impl<B> MirrorBody<B> {
    pub(crate) fn passthrough(inner: B) -> Self {
        Self { inner, copy: None }
    }

    pub(crate) fn copied(inner: B, copy: CopyBuffer) -> Self {
        Self {
            inner,
            copy: Some(Box::new(copy)),
        }
    }

    /// The original body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The original body, mutably. Frames read from it directly are not copied.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// The original body; a copy in progress is abandoned (`skipped_body_incomplete`).
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> Body for MirrorBody<B>
where
    B: Body,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = match ready!(this.inner.as_mut().poll_frame(cx)) {
            Some(Ok(frame)) => frame.map_data(|mut data| data.copy_to_bytes(data.remaining())),
            Some(Err(error)) => {
                if let Some(copy) = this.copy.take() {
                    copy.abort(SkipReason::BodyIncomplete);
                }
                return Poll::Ready(Some(Err(error)));
            }
            None => {
                if let Some(copy) = this.copy.take() {
                    copy.finish();
                }
                return Poll::Ready(None);
            }
        };
        if let Some(copy) = this.copy.as_mut() {
            let keep = frame.data_ref().is_none_or(|data| copy.push(data));
            if !keep {
                *this.copy = None;
            }
        }
        // The body has ended after trailers (always its last frame) or when it says so:
        // hyper's client stops there and never polls for the final `None`.
        if (frame.is_trailers() || this.inner.is_end_stream())
            && let Some(copy) = this.copy.take()
        {
            copy.finish();
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
