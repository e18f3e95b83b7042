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

/// How many bytes of a copied body are kept as the frames the primary read (no copy on
/// the primary's path; joined on the copy's own task). Past it, frames are copied into one
/// buffer as they come, so that a large body is never held twice.
pub(crate) const FRAMES_KEPT_MAX: usize = 256 * 1024;

/// A body's data frames, gathered for a copy as the primary reads them.
///
/// Up to [`FRAMES_KEPT_MAX`] the frames themselves are kept (handles on the primary's
/// buffers: no copy, nothing allocated on the primary's path but the list); they are
/// joined into one buffer later, on the copy's task ([`GatheredBody::join`]). Past it, a
/// buffer is made (at the body's declared length when there is one, else doubling as it
/// grows), what was kept is copied in once, and every later frame is copied in and let go
/// at once: the body is held once, never twice.
#[derive(Debug)]
pub(crate) struct BodyJoiner {
    gathered: Gathered,
    /// The declared length: the size of the buffer, once there is one.
    expected: Option<usize>,
    /// The buffer's size when it was made, counted whole from then on.
    made: usize,
    /// Bytes kept as frames before a buffer is made.
    frames_kept_max: usize,
}

impl Default for BodyJoiner {
    fn default() -> Self {
        Self::new(None)
    }
}

#[derive(Debug)]
enum Gathered {
    Frames { frames: Vec<Bytes>, len: usize },
    Joined(BytesMut),
}

/// A copied body as the copy's task gets it: its frames, or one buffer.
#[derive(Debug)]
pub(crate) enum GatheredBody {
    /// The frames as read (joined by [`join`](Self::join)).
    Frames(Vec<Bytes>),
    /// Already one buffer.
    One(Bytes),
}

impl GatheredBody {
    /// The whole body, as one buffer: one allocation for several frames, none for one.
    pub(crate) fn join(self) -> Bytes {
        match self {
            Self::One(body) => body,
            Self::Frames(mut frames) => match frames.len() {
                0 => Bytes::new(),
                1 => frames.pop().unwrap_or_default(),
                _ => {
                    let mut body = BytesMut::with_capacity(frames.iter().map(Bytes::len).sum());
                    for frame in &frames {
                        body.extend_from_slice(frame);
                    }
                    body.freeze()
                }
            },
        }
    }
}

impl BodyJoiner {
    pub(crate) fn new(expected: Option<usize>) -> Self {
        Self::keeping_frames_up_to(expected, FRAMES_KEPT_MAX)
    }

    fn keeping_frames_up_to(expected: Option<usize>, frames_kept_max: usize) -> Self {
        Self {
            gathered: Gathered::Frames {
                frames: Vec::new(),
                len: 0,
            },
            expected,
            made: 0,
            frames_kept_max,
        }
    }

    /// Bytes of body gathered so far.
    pub(crate) fn len(&self) -> usize {
        match &self.gathered {
            Gathered::Frames { len, .. } => *len,
            Gathered::Joined(buf) => buf.len(),
        }
    }

    /// Bytes this joiner holds, as the budget counts them: the body so far, or the buffer
    /// made for the declared length, whichever is larger.
    pub(crate) fn held(&self) -> usize {
        self.len().max(self.made)
    }

    /// How many more bytes [`held`](Self::held) will be once `frame_len` more are pushed.
    pub(crate) fn more_held_by(&self, frame_len: usize) -> usize {
        let needed = self.len() + frame_len;
        let after = match &self.gathered {
            Gathered::Frames { .. } if needed <= self.frames_kept_max => needed,
            Gathered::Frames { .. } => needed.max(self.expected.unwrap_or(0)),
            Gathered::Joined(_) => needed.max(self.made),
        };
        after.saturating_sub(self.held())
    }

    /// Adds a data frame (counted first with [`more_held_by`](Self::more_held_by)).
    pub(crate) fn push(&mut self, frame: &Bytes) {
        if frame.is_empty() {
            return;
        }
        let expected = self.expected.unwrap_or(0);
        match &mut self.gathered {
            Gathered::Frames { frames, len } if *len + frame.len() <= self.frames_kept_max => {
                frames.push(frame.clone());
                *len += frame.len();
            }
            Gathered::Frames { frames, len } => {
                self.made = (*len + frame.len()).max(expected);
                let mut buf = BytesMut::with_capacity(self.made);
                for kept in frames.iter() {
                    buf.extend_from_slice(kept);
                }
                buf.extend_from_slice(frame);
                // The kept frames are let go here.
                self.gathered = Gathered::Joined(buf);
            }
            Gathered::Joined(buf) => buf.extend_from_slice(frame),
        }
    }

    /// The body gathered, for the copy's task to join.
    pub(crate) fn finish(self) -> GatheredBody {
        match self.gathered {
            Gathered::Frames { frames, .. } => GatheredBody::Frames(frames),
            Gathered::Joined(buf) => GatheredBody::One(buf.freeze()),
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
        assert_eq!(GatheredBody::Frames(Vec::new()).join(), Bytes::new());
        assert_eq!(
            GatheredBody::Frames(vec![Bytes::from_static(b"one")]).join(),
            "one"
        );
        let parts = vec![
            Bytes::from_static(b"a"),
            Bytes::new(),
            Bytes::from_static(b"bc"),
        ];
        assert_eq!(GatheredBody::Frames(parts).join(), "abc");
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
    fn a_joiner_keeps_frames_without_copying_them() {
        let (a, b) = (Bytes::from_static(b"lone"), Bytes::from_static(b"-two"));
        let mut one = BodyJoiner::new(None);
        assert_eq!(one.more_held_by(4), 4);
        one.push(&a);
        assert_eq!((one.len(), one.held()), (4, 4));
        assert_eq!(
            one.finish().join().as_ptr(),
            a.as_ptr(),
            "no copy of a lone frame"
        );

        let mut two = BodyJoiner::new(Some(8));
        two.push(&a);
        assert_eq!(two.more_held_by(4), 4, "frames are counted as read");
        two.push(&b);
        let GatheredBody::Frames(frames) = two.finish() else {
            panic!("small bodies are kept as their frames");
        };
        assert_eq!(frames[0].as_ptr(), a.as_ptr(), "kept, not copied");
        assert_eq!(GatheredBody::Frames(frames).join(), "lone-two");
    }

    #[test]
    fn past_the_frames_kept_a_joiner_copies_into_one_buffer() {
        let mut sized = BodyJoiner::keeping_frames_up_to(Some(10), 4);
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
        assert!(matches!(sized.finish(), GatheredBody::One(body) if body == "abcdefghij"));

        let mut chunked = BodyJoiner::keeping_frames_up_to(None, 2);
        for part in [&b"x"[..], b"", b"yz", b"w"] {
            let more = chunked.more_held_by(part.len());
            let before = chunked.held();
            chunked.push(&Bytes::copy_from_slice(part));
            assert_eq!(chunked.held(), before + more);
        }
        assert_eq!(chunked.finish().join(), "xyzw");
    }

    #[cfg(feature = "compare")]
    #[tokio::test]
    async fn read_body_reports_a_failing_body() {
        let frames: Vec<Result<http_body::Frame<Bytes>, BoxError>> = vec![Err("boom".into())];
        let body = StreamBody::new(futures_util::stream::iter(frames));
        assert!(read_body(std::pin::pin!(body), None).await.is_err());
    }
}
