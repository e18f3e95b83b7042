//! `CompareBody`: the primary's response body, copied (capped) for the comparison as the
//! client reads it.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::{HeaderMap, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::oneshot;

use super::diff::{CapturedFrames, PrimaryCapture};

pin_project! {
    /// The response body the client receives from [`Compare`](super::Compare): exactly the
    /// primary's frames (data as [`Bytes`]), with the same size hint, end of stream and
    /// trailers. While a comparison waits for it, it keeps a copy of the data up to the
    /// compare cap; past the cap, or if the body errors or is dropped before its end, the
    /// comparison is skipped. The client is never slowed down: the copy is a `Bytes`
    /// clone per frame, and nothing waits on the shadow.
    pub struct CompareBody<B> {
        #[pin]
        inner: B,
        capture: Option<Capture>,
    }
}

impl<B: fmt::Debug> fmt::Debug for CompareBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompareBody")
            .field("inner", &self.inner)
            .field("capturing", &self.capture.is_some())
            .finish()
    }
}

/// The primary's answer so far, and where to send it once complete.
#[derive(Debug)]
pub(crate) struct Capture {
    tx: oneshot::Sender<PrimaryCapture>,
    status: StatusCode,
    headers: HeaderMap,
    chunks: Vec<Bytes>,
    len: usize,
    max: usize,
}

impl Capture {
    pub(crate) fn new(
        tx: oneshot::Sender<PrimaryCapture>,
        status: StatusCode,
        headers: HeaderMap,
        max: usize,
    ) -> Self {
        Self {
            tx,
            status,
            headers,
            chunks: Vec::new(),
            len: 0,
            max,
        }
    }

    fn send(self) {
        // The comparison may have given up waiting: nothing to do then.
        let _ = self.tx.send(Ok(CapturedFrames {
            status: self.status,
            headers: self.headers,
            frames: self.chunks,
        }));
    }

    /// Tells the comparison why there is nothing to compare.
    fn refuse(self, reason: &'static str) {
        let _ = self.tx.send(Err(reason));
    }
}

impl<B> CompareBody<B> {
    pub(crate) fn new(inner: B, capture: Option<Capture>) -> Self {
        Self { inner, capture }
    }

    /// The primary's body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The primary's body; a comparison waiting for it is skipped.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for CompareBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let frame = match ready!(this.inner.as_mut().poll_frame(cx)) {
            Some(Ok(frame)) => frame.map_data(|mut data| data.copy_to_bytes(data.remaining())),
            Some(Err(error)) => {
                if let Some(capture) = this.capture.take() {
                    capture.refuse("the primary's body failed");
                }
                return Poll::Ready(Some(Err(error)));
            }
            None => {
                if let Some(capture) = this.capture.take() {
                    capture.send();
                }
                return Poll::Ready(None);
            }
        };
        if let (Some(capture), Some(data)) = (this.capture.as_mut(), frame.data_ref()) {
            capture.len += data.len();
            if capture.tx.is_closed() {
                *this.capture = None;
            } else if capture.len > capture.max {
                if let Some(capture) = this.capture.take() {
                    capture.refuse("the primary's body is over the compare cap");
                }
            } else if !data.is_empty() {
                capture.chunks.push(data.clone());
            }
        }
        if this.inner.is_end_stream()
            && let Some(capture) = this.capture.take()
        {
            capture.send();
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
