//! Streamed copies: the bounded window between the primary's body and the shadow's, the
//! tee's end of it ([`StreamTee`]), the copy task's ([`StreamWatch`]), and [`CopyBody`],
//! the body a streaming shadow receives.
//!
//! The tee never waits: a frame that does not fit in the window ends the copy there and
//! then (the shadow's body ends with an error), so the primary reads at its own pace.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use http_body_util::channel::{Channel, Sender};
use tokio::sync::oneshot;
use tower::BoxError;

/// Bytes a streamed copy may have sent and its shadow not yet taken, by default.
pub(crate) const DEFAULT_WINDOW: usize = 64 * 1024;

/// Frames a window holds at most, whatever their size: a body of tiny frames is bounded too.
const MAX_FRAMES: usize = 1024;

/// The request body a streaming shadow receives (see
/// [`MirrorLayer::streaming`](crate::MirrorLayer::streaming)): the whole body of a copy
/// that was buffered, or the frames of a streamed copy as the primary reads them.
///
/// A streamed body ends with an error, never early with `None`, when its copy is aborted:
/// the shadow fell behind by a whole window, or the primary's body failed, was dropped
/// before its end, or did not match its `Content-Length`. An HTTP client sending it (such
/// as [`HttpUpstream`](crate::upstream::HttpUpstream)) then aborts the request instead of
/// passing a truncated body off as complete. Trailers are never sent.
///
/// It is `Send`, `Sync` and `Unpin`.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::BodyExt;
/// use tower_mirror::CopyBody;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let body = CopyBody::from(Bytes::from_static(b"hello"));
/// assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
/// # }
/// ```
pub struct CopyBody {
    kind: Kind,
}

enum Kind {
    Whole(Full<Bytes>),
    Streamed {
        channel: Channel<Bytes, BoxError>,
        window: Arc<Window>,
        /// The declared `Content-Length`, if any: the exact size hint.
        length: Option<u64>,
        /// Bytes still to come that were sent outside the window (the prefix).
        unwindowed: usize,
    },
}

impl fmt::Debug for CopyBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Whole(full) => f.debug_tuple("CopyBody::Whole").field(full).finish(),
            Kind::Streamed { window, length, .. } => f
                .debug_struct("CopyBody::Streamed")
                .field("window", window)
                .field("length", length)
                .finish_non_exhaustive(),
        }
    }
}

impl From<Bytes> for CopyBody {
    fn from(bytes: Bytes) -> Self {
        Self::from(Full::new(bytes))
    }
}

impl From<Full<Bytes>> for CopyBody {
    fn from(full: Full<Bytes>) -> Self {
        Self {
            kind: Kind::Whole(full),
        }
    }
}

impl Body for CopyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Whole(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            Kind::Streamed {
                channel,
                window,
                unwindowed,
                ..
            } => {
                let polled = ready!(Pin::new(channel).poll_frame(cx));
                if let Some(Ok(frame)) = &polled
                    && let Some(data) = frame.data_ref()
                {
                    let outside = data.len().min(*unwindowed);
                    *unwindowed -= outside;
                    window.give_back(data.len() - outside);
                }
                Poll::Ready(polled)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Whole(full) => full.is_end_stream(),
            Kind::Streamed { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Whole(full) => full.size_hint(),
            Kind::Streamed {
                length: Some(length),
                ..
            } => SizeHint::with_exact(*length),
            Kind::Streamed { length: None, .. } => SizeHint::default(),
        }
    }
}

impl Drop for CopyBody {
    fn drop(&mut self) {
        if let Kind::Streamed { window, .. } = &self.kind {
            // Nobody reads on: the tee stops copying.
            window.close();
        }
    }
}

/// What a streamed copy has sent and its shadow not yet taken, and whether anyone still
/// reads it.
#[derive(Debug)]
struct Window {
    queued: AtomicUsize,
    max: usize,
    /// The shadow's body was dropped or its call ended: nothing more is sent.
    closed: AtomicBool,
}

impl Window {
    /// Takes room for `n` bytes, or refuses. An empty window takes one frame of any size:
    /// the frame is the primary's, already in memory and shared, not copied.
    fn take(&self, n: usize) -> bool {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued == 0 || queued.saturating_add(n) <= self.max).then(|| queued + n)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        if n > 0 {
            self.queued.fetch_sub(n, Ordering::AcqRel);
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Why a streamed copy was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamAbort {
    /// The shadow fell a whole window behind the primary.
    WindowFull,
    /// The primary's body failed.
    PrimaryFailed,
    /// The primary's body was dropped before its end.
    PrimaryDropped,
    /// The primary's body did not match its `Content-Length`.
    LengthMismatch,
}

impl fmt::Display for StreamAbort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WindowFull => "streamed copy aborted: the shadow fell a whole window behind",
            Self::PrimaryFailed => "streamed copy aborted: the primary's request body failed",
            Self::PrimaryDropped => {
                "streamed copy aborted: the primary's request body was dropped before its end"
            }
            Self::LengthMismatch => {
                "streamed copy aborted: the primary's request body did not match its Content-Length"
            }
        })
    }
}

impl std::error::Error for StreamAbort {}

/// Opens a stream: the tee's end, the shadow's body, and the copy task's watch.
/// `length` is the declared `Content-Length`, which the body must match; `prefix` is what
/// was buffered before the copy turned into a stream, sent first and outside the window
/// (its bytes are counted in the budget already).
pub(crate) fn open(
    window: usize,
    length: Option<u64>,
    prefix: Bytes,
) -> (StreamTee, CopyBody, StreamWatch) {
    let window = Arc::new(Window {
        queued: AtomicUsize::new(0),
        max: window,
        closed: AtomicBool::new(false),
    });
    let (sender, channel) = Channel::new(MAX_FRAMES);
    let (aborted, watch) = oneshot::channel();
    let unwindowed = prefix.len();
    let mut tee = StreamTee {
        sender: Some(sender),
        aborted: Some(aborted),
        window: Arc::clone(&window),
        sent: 0,
        length,
    };
    if !prefix.is_empty() {
        tee.sent = prefix.len() as u64;
        // A fresh channel has room for its first frame.
        tee.send(prefix);
    }
    let body = CopyBody {
        kind: Kind::Streamed {
            channel,
            window: Arc::clone(&window),
            length,
            unwindowed,
        },
    };
    (
        tee,
        body,
        StreamWatch {
            aborted: watch,
            window,
        },
    )
}

/// The primary's end of a stream: passes each data frame on without ever waiting, or ends
/// the copy. Dropped before [`finish`](Self::finish), the copy is aborted.
pub(crate) struct StreamTee {
    /// `None` once the stream ended, one way or another.
    sender: Option<Sender<Bytes, BoxError>>,
    aborted: Option<oneshot::Sender<StreamAbort>>,
    window: Arc<Window>,
    sent: u64,
    length: Option<u64>,
}

impl fmt::Debug for StreamTee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamTee")
            .field("open", &self.sender.is_some())
            .field("window", &self.window)
            .field("sent", &self.sent)
            .field("length", &self.length)
            .finish()
    }
}

impl StreamTee {
    /// Passes one data frame on; `false` once the copy is over (aborted, or nobody reads
    /// it any more), when the rest of the body need not be copied.
    pub(crate) fn push(&mut self, data: &Bytes) -> bool {
        if data.is_empty() {
            return self.sender.is_some();
        }
        if self.sender.is_none() {
            return false;
        }
        if self.window.is_closed() {
            self.sender = None;
            return false;
        }
        self.sent += data.len() as u64;
        if self.length.is_some_and(|length| self.sent > length) {
            self.abort(StreamAbort::LengthMismatch);
            return false;
        }
        if !self.window.take(data.len()) {
            self.abort(StreamAbort::WindowFull);
            return false;
        }
        if self.send(data.clone()) {
            return true;
        }
        self.window.give_back(data.len());
        false
    }

    /// Queues `data` for the shadow; when the channel refuses it, ends the stream:
    /// quietly if nobody reads it, else as aborted (as many frames queued as it holds).
    fn send(&mut self, data: Bytes) -> bool {
        let Some(sender) = self.sender.as_mut() else {
            return false;
        };
        if sender.try_send(Frame::data(data)).is_ok() {
            return true;
        }
        if self.window.is_closed() {
            self.sender = None;
        } else {
            self.abort(StreamAbort::WindowFull);
        }
        false
    }

    /// The primary's body ended: so does the copy's, when it matches its length.
    pub(crate) fn finish(mut self) {
        if self.length.is_some_and(|length| length != self.sent) {
            self.abort(StreamAbort::LengthMismatch);
            return;
        }
        // The channel ends with `None` once its sender is gone without an error; the watch
        // learns there was no abort.
        self.sender = None;
        self.aborted = None;
    }

    /// The primary's body failed: the copy's body ends with an error.
    pub(crate) fn fail(mut self) {
        self.abort(StreamAbort::PrimaryFailed);
    }

    fn abort(&mut self, reason: StreamAbort) {
        if let Some(sender) = self.sender.take() {
            sender.abort(Box::new(reason));
        }
        if let Some(aborted) = self.aborted.take() {
            // The copy's task may have ended already: then nobody needs to know.
            let _ = aborted.send(reason);
        }
    }
}

impl Drop for StreamTee {
    fn drop(&mut self) {
        if self.sender.is_some() {
            self.abort(StreamAbort::PrimaryDropped);
        }
    }
}

/// The copy task's end of a stream: learns of an abort, and closes the stream when the
/// shadow call ends (dropped), so the tee stops copying.
#[derive(Debug)]
pub(crate) struct StreamWatch {
    aborted: oneshot::Receiver<StreamAbort>,
    window: Arc<Window>,
}

impl StreamWatch {
    /// Resolves when the copy is aborted; never, when the primary's body ended well.
    pub(crate) async fn aborted(&mut self) -> StreamAbort {
        match (&mut self.aborted).await {
            Ok(reason) => reason,
            Err(_finished) => std::future::pending().await,
        }
    }

    /// Whether the copy has been aborted by now.
    pub(crate) fn was_aborted(&mut self) -> Option<StreamAbort> {
        self.aborted.try_recv().ok()
    }
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        self.window.close();
    }
}
