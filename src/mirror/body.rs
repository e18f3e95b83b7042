//! `MirrorBody`: the primary's request body, copying its frames for the shadow as the
//! primary reads them.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::dispatch::{Dispatch, PlannedCopy};
use super::policy::{Oversize, mark_truncated};
use super::stats::SkipReason;

pin_project! {
    /// The request body the primary service receives from [`Mirror`](crate::Mirror).
    ///
    /// It yields exactly the frames of the original body (data as [`Bytes`]: zero-copy when
    /// the original's data already is `Bytes`), with the same size hint, end of stream and
    /// trailers. When the request is mirrored it also keeps a copy of each data frame, up to
    /// `max_body_bytes`, and sends the copy to the shadow once the body has ended. A body
    /// that errors, or is dropped before its end, is not mirrored.
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
        tee: Option<Tee>,
    }
}

impl<B: fmt::Debug> fmt::Debug for MirrorBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MirrorBody")
            .field("inner", &self.inner)
            .field("copying", &self.tee.is_some())
            .finish()
    }
}

impl<B> MirrorBody<B> {
    pub(crate) fn passthrough(inner: B) -> Self {
        Self { inner, tee: None }
    }

    pub(crate) fn teed(inner: B, tee: Tee) -> Self {
        Self {
            inner,
            tee: Some(tee),
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
                if let Some(tee) = this.tee.take() {
                    tee.abort(SkipReason::BodyIncomplete);
                }
                return Poll::Ready(Some(Err(error)));
            }
            None => {
                if let Some(tee) = this.tee.take() {
                    tee.finish();
                }
                return Poll::Ready(None);
            }
        };
        if let Some(tee) = this.tee.as_mut() {
            let keep = frame.data_ref().is_none_or(|data| tee.push(data));
            if !keep {
                *this.tee = None;
            }
        }
        // hyper's client stops at `is_end_stream` and never polls for the final `None`.
        if this.inner.is_end_stream() {
            if let Some(tee) = this.tee.take() {
                tee.finish();
            }
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

/// The copy in progress: its head and the data frames so far, held against the caps.
pub(crate) struct Tee {
    dispatcher: Arc<dyn Dispatch>,
    /// `None` once the copy was sent or given up; `Drop` gives up what is still open.
    open: Option<PlannedCopy>,
    chunks: Vec<Bytes>,
    /// Bytes held, all reserved against `max_buffered_bytes`.
    len: usize,
    /// The request's `Content-Length`, if any: a body of another length is not sent.
    expected: Option<u64>,
}

impl fmt::Debug for Tee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tee")
            .field("open", &self.open.is_some())
            .field("len", &self.len)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl Tee {
    pub(crate) fn new(
        dispatcher: Arc<dyn Dispatch>,
        copy: PlannedCopy,
        expected: Option<u64>,
    ) -> Self {
        Self {
            dispatcher,
            open: Some(copy),
            chunks: Vec::new(),
            len: 0,
            expected,
        }
    }

    /// Keeps a copy of one data frame; `false` when the copy was given up (or, headers-only,
    /// already sent) and the rest of the body need not be copied.
    fn push(&mut self, data: &Bytes) -> bool {
        if data.is_empty() {
            return true;
        }
        let dispatcher = Arc::clone(&self.dispatcher);
        let core = dispatcher.core();
        let shared = &core.recorder.shared;
        if self.len + data.len() > core.policy.max_body_bytes {
            self.release();
            match core.policy.oversize {
                Oversize::HeadersOnly => self.send_headers_only(),
                Oversize::Skip => self.give_up(SkipReason::BodyTooLarge),
            }
            return false;
        }
        if !shared.reserve_bytes(data.len(), core.limits.max_buffered_bytes) {
            self.release();
            if let Some(open) = self.open.take() {
                // Recorded before the copy stops pending, so `wait_idle` sees it.
                core.recorder.dropped("max_buffered_bytes");
                drop(open);
            }
            return false;
        }
        self.len += data.len();
        self.chunks.push(data.clone());
        true
    }

    /// The body ended: send the copy.
    fn finish(mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        if self
            .expected
            .is_some_and(|expected| expected != self.len as u64)
        {
            self.release();
            self.dispatcher
                .core()
                .recorder
                .skipped(SkipReason::BodyIncomplete);
            drop(open);
            return;
        }
        let body = std::mem::take(&mut self.chunks);
        let held = std::mem::take(&mut self.len);
        self.dispatcher.dispatch(open.with_body(body, held, false));
    }

    fn send_headers_only(&mut self) {
        if let Some(mut open) = self.open.take() {
            mark_truncated(&mut open.head);
            // Nothing to compare for a copy without its body.
            open.primary = Default::default();
            self.dispatcher
                .dispatch(open.with_body(Vec::new(), 0, true));
        }
    }

    fn abort(mut self, reason: SkipReason) {
        self.give_up(reason);
    }

    fn give_up(&mut self, reason: SkipReason) {
        self.release();
        if let Some(open) = self.open.take() {
            self.dispatcher.core().recorder.skipped(reason);
            drop(open);
        }
    }

    /// Frees the buffered frames and their share of the global budget.
    fn release(&mut self) {
        self.chunks = Vec::new();
        let held = std::mem::take(&mut self.len);
        self.dispatcher.core().recorder.shared.release_bytes(held);
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        // Dropped before its end (the primary stopped reading, or the client went away).
        self.give_up(SkipReason::BodyIncomplete);
    }
}
