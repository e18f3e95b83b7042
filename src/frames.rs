//! Whole bodies from frames: a copied request body gathered into one buffer as it is
//! read, and an answer's body read to its end, kept up to a cap or drained so its
//! connection can go back to the pool. Mirror mode and compare mode both read bodies this
//! way.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body::Body;

/// How much of an answer's body is read (and thrown away) so its connection can go back
/// to the pool: enough for a normal reply. An answer still sending past it never finished
/// its reply; it is dropped, and its connection with it.
pub(crate) const DRAIN_LIMIT: usize = 64 * 1024;

/// Joins a body's frames into one buffer (one allocation, none for a single frame).
#[cfg(feature = "compare")]
pub(crate) fn join(mut chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut body = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
            for chunk in &chunks {
                body.extend_from_slice(chunk);
            }
            body.freeze()
        }
    }
}

/// A body's data frames gathered into one buffer as they come, so that the body is never
/// held twice (its frames, then the joined buffer). A lone frame is kept as it is, with no
/// copy; from the second frame on, every frame is copied into one buffer and let go at
/// once. The buffer is made at the body's declared length when there is one, else it
/// doubles as it grows.
#[derive(Debug, Default)]
pub(crate) struct BodyJoiner {
    gathered: Gathered,
    /// The declared length: the size of the buffer, once there is one.
    expected: Option<usize>,
    /// The buffer's size when it was made, counted whole from then on.
    made: usize,
}

#[derive(Debug, Default)]
enum Gathered {
    #[default]
    Nothing,
    One(Bytes),
    Many(BytesMut),
}

impl BodyJoiner {
    pub(crate) fn new(expected: Option<usize>) -> Self {
        Self {
            expected,
            ..Self::default()
        }
    }

    /// Bytes of body gathered so far.
    pub(crate) fn len(&self) -> usize {
        match &self.gathered {
            Gathered::Nothing => 0,
            Gathered::One(frame) => frame.len(),
            Gathered::Many(buf) => buf.len(),
        }
    }

    /// Bytes this joiner holds, as the budget counts them: the body so far, or the buffer
    /// made for the declared length, whichever is larger.
    pub(crate) fn held(&self) -> usize {
        self.len().max(self.made)
    }

    /// How many more bytes [`held`](Self::held) will be once `frame_len` more are pushed.
    pub(crate) fn more_held_by(&self, frame_len: usize) -> usize {
        let after = match &self.gathered {
            Gathered::Nothing => frame_len,
            Gathered::One(first) => self.buffer_size(first.len() + frame_len),
            Gathered::Many(buf) => (buf.len() + frame_len).max(self.made),
        };
        after.saturating_sub(self.held())
    }

    fn buffer_size(&self, needed: usize) -> usize {
        needed.max(self.expected.unwrap_or(0))
    }

    /// Adds a data frame (counted first with [`more_held_by`](Self::more_held_by)).
    pub(crate) fn push(&mut self, frame: &Bytes) {
        if frame.is_empty() {
            return;
        }
        let expected = self.expected.unwrap_or(0);
        match &mut self.gathered {
            Gathered::Nothing => self.gathered = Gathered::One(frame.clone()),
            Gathered::One(first) => {
                self.made = (first.len() + frame.len()).max(expected);
                let mut buf = BytesMut::with_capacity(self.made);
                buf.extend_from_slice(first);
                buf.extend_from_slice(frame);
                // The first frame is let go here.
                self.gathered = Gathered::Many(buf);
            }
            Gathered::Many(buf) => buf.extend_from_slice(frame),
        }
    }

    /// The whole body, as one buffer (no copy).
    pub(crate) fn finish(self) -> Bytes {
        match self.gathered {
            Gathered::Nothing => Bytes::new(),
            Gathered::One(frame) => frame,
            Gathered::Many(buf) => buf.freeze(),
        }
    }
}

/// Why an answer's body was not read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unread {
    /// The body failed.
    Failed,
    /// The body went on past the bytes allowed.
    TooLong {
        /// The bytes allowed.
        limit: usize,
    },
}

impl fmt::Display for Unread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed => f.write_str("the shadow's response body failed"),
            Self::TooLong { limit } if limit % 1024 == 0 => write!(
                f,
                "the shadow's response body went on past the {} KiB drain limit",
                limit / 1024
            ),
            Self::TooLong { limit } => write!(
                f,
                "the shadow's response body went on past the {limit} byte drain limit"
            ),
        }
    }
}

impl std::error::Error for Unread {}

/// Reads an answer's body to its end, at most `limit` bytes of it, keeping the body when
/// `keep` is set and the body fits in it (else `None`). Each byte read is added to `read`
/// as it comes, so it is known even if the read is cut short (a timeout). Each frame is
/// dropped inside the poll, so the body's data and error types need not be `Send`.
pub(crate) async fn read_within<RB: Body>(
    mut body: Pin<&mut RB>,
    keep: Option<usize>,
    limit: usize,
    read: &AtomicU64,
) -> Result<Option<Bytes>, Unread> {
    let mut len = 0usize;
    let mut kept = keep.map(|_| BytesMut::new());
    poll_fn(|cx| {
        loop {
            // Over the limit first: a body that ends right after its last frame was still
            // too long.
            if len > limit {
                return Poll::Ready(Err(Unread::TooLong { limit }));
            }
            if body.is_end_stream() {
                return Poll::Ready(Ok(kept.take().map(BytesMut::freeze)));
            }
            match std::task::ready!(body.as_mut().poll_frame(cx)) {
                None => return Poll::Ready(Ok(kept.take().map(BytesMut::freeze))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let n = data.remaining();
                        len = len.saturating_add(n);
                        read.fetch_add(n as u64, Ordering::Relaxed);
                        if let (Some(cap), Some(buf)) = (keep, kept.as_mut()) {
                            if len <= cap {
                                buf.put(data);
                            } else {
                                // Over what is kept: read on (within `limit`), keep nothing.
                                kept = None;
                            }
                        }
                    }
                }
                Some(Err(_)) => return Poll::Ready(Err(Unread::Failed)),
            }
        }
    })
    .await
}

/// Reads a body to its end. With `keep`, returns it if it fits (else `None`, and stops
/// reading there); without, throws it away (up to [`DRAIN_LIMIT`]).
#[cfg(feature = "compare")]
pub(crate) async fn read_body<RB: Body>(
    body: Pin<&mut RB>,
    keep: Option<usize>,
) -> Result<Option<Bytes>, tower::BoxError> {
    let limit = keep.unwrap_or(DRAIN_LIMIT);
    match read_within(body, keep, limit, &AtomicU64::new(0)).await {
        Ok(kept) => Ok(kept),
        Err(Unread::TooLong { .. }) => Ok(None),
        Err(unread) => Err(unread.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use tower::BoxError;

    #[cfg(feature = "compare")]
    #[test]
    fn join_keeps_order_and_bytes() {
        assert_eq!(join(Vec::new()), Bytes::new());
        assert_eq!(join(vec![Bytes::from_static(b"one")]), "one");
        let parts = vec![
            Bytes::from_static(b"a"),
            Bytes::new(),
            Bytes::from_static(b"bc"),
        ];
        assert_eq!(join(parts), "abc");
    }

    #[cfg(feature = "compare")]
    #[tokio::test]
    async fn read_body_keeps_up_to_the_cap() {
        let body = Full::new(Bytes::from_static(b"hello"));
        let kept = read_body(std::pin::pin!(body), Some(5)).await.unwrap();
        assert_eq!(kept.as_deref(), Some(&b"hello"[..]));

        let body = Full::new(Bytes::from_static(b"hello"));
        let over = read_body(std::pin::pin!(body), Some(4)).await.unwrap();
        assert_eq!(
            over, None,
            "over the cap: nothing kept, even at the body's end"
        );

        let body = Full::new(Bytes::from_static(b"hello"));
        let over = read_body(std::pin::pin!(body), Some(4)).await.unwrap();
        assert_eq!(over, None, "over the cap: nothing kept");

        let body = Full::new(Bytes::from_static(b"hello"));
        let drained = read_body(std::pin::pin!(body), None).await.unwrap();
        assert_eq!(drained, None, "drained, not kept");
    }

    #[tokio::test]
    async fn read_within_stops_past_the_limit_and_counts_what_it_read() {
        let read = AtomicU64::new(0);
        let body = Full::new(Bytes::from(vec![7u8; 100]));
        let drained = read_within(std::pin::pin!(body), None, 100, &read).await;
        assert_eq!(
            drained,
            Ok(None),
            "up to the limit: read whole, kept nothing"
        );
        assert_eq!(read.load(Ordering::Relaxed), 100);

        let frames: Vec<Result<http_body::Frame<Bytes>, BoxError>> = (0..10)
            .map(|_| Ok(http_body::Frame::data(Bytes::from_static(&[1; 30]))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(frames));
        let read = AtomicU64::new(0);
        let over = read_within(std::pin::pin!(body), Some(200), 100, &read).await;
        assert_eq!(over, Err(Unread::TooLong { limit: 100 }));
        assert_eq!(
            read.load(Ordering::Relaxed),
            120,
            "one frame past the limit, no more"
        );
        assert_eq!(
            Unread::TooLong { limit: DRAIN_LIMIT }.to_string(),
            "the shadow's response body went on past the 64 KiB drain limit"
        );
    }

    #[test]
    fn a_joiner_keeps_one_frame_and_copies_many_once() {
        let frame = Bytes::from_static(b"lone");
        let mut one = BodyJoiner::new(None);
        assert_eq!(one.more_held_by(4), 4);
        one.push(&frame);
        assert_eq!((one.len(), one.held()), (4, 4));
        assert_eq!(
            one.finish().as_ptr(),
            frame.as_ptr(),
            "no copy of a lone frame"
        );

        let mut sized = BodyJoiner::new(Some(10));
        sized.push(&Bytes::from_static(b"ab"));
        assert_eq!(
            sized.more_held_by(3),
            8,
            "the buffer is made at the declared length"
        );
        sized.push(&Bytes::from_static(b"cde"));
        assert_eq!((sized.len(), sized.held()), (5, 10));
        assert_eq!(sized.more_held_by(5), 0);
        sized.push(&Bytes::from_static(b"fghij"));
        assert_eq!(
            sized.more_held_by(1),
            1,
            "past the declared length, counted as read"
        );
        assert_eq!(sized.finish(), "abcdefghij");

        let mut chunked = BodyJoiner::new(None);
        for part in [&b"x"[..], b"", b"yz", b"w"] {
            let more = chunked.more_held_by(part.len());
            let before = chunked.held();
            chunked.push(&Bytes::copy_from_slice(part));
            assert_eq!(chunked.held(), before + more);
        }
        assert_eq!(chunked.finish(), "xyzw");
    }

    #[cfg(feature = "compare")]
    #[tokio::test]
    async fn read_body_reports_a_failing_body() {
        let frames: Vec<Result<http_body::Frame<Bytes>, BoxError>> = vec![Err("boom".into())];
        let body = StreamBody::new(futures_util::stream::iter(frames));
        assert!(read_body(std::pin::pin!(body), None).await.is_err());
    }
}
