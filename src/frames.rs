//! Whole bodies from frames: a copied request body joined into one buffer, and an
//! answer's body read to its end, kept up to a cap or drained so its connection can go
//! back to the pool. Mirror mode and compare mode both read bodies this way.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body::Body;
use tower::BoxError;

/// How much of an answer's body is read (and thrown away) so its connection can go back
/// to the pool; past this the body is dropped and the connection with it.
const DRAIN_LIMIT: usize = 1 << 20;

/// Joins a body's frames into one buffer (one allocation, none for a single frame).
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

/// Reads a body to its end. With `keep`, returns it if it fits (else `None`, and stops
/// reading); without, throws it away (up to `DRAIN_LIMIT`) so the connection can be
/// reused. Each frame is dropped inside the poll, so the body's data and error types need
/// not be `Send`.
pub(crate) async fn read_body<RB: Body>(
    mut body: Pin<&mut RB>,
    keep: Option<usize>,
) -> Result<Option<Bytes>, BoxError> {
    let mut read = 0usize;
    let mut kept = keep.map(|_| BytesMut::new());
    poll_fn(|cx| {
        loop {
            // Over the cap first: a body that ends right after its last frame was still too
            // large to keep.
            if read > keep.unwrap_or(DRAIN_LIMIT) {
                return Poll::Ready(Ok(None));
            }
            if body.is_end_stream() {
                return Poll::Ready(Ok(kept.take().map(BytesMut::freeze)));
            }
            match std::task::ready!(body.as_mut().poll_frame(cx)) {
                None => return Poll::Ready(Ok(kept.take().map(BytesMut::freeze))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        read += data.remaining();
                        if let Some(kept) = kept.as_mut()
                            && read <= keep.unwrap_or(0)
                        {
                            kept.put(data);
                        }
                    }
                }
                Some(Err(_)) => {
                    return Poll::Ready(Err("the shadow's response body failed".into()));
                }
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

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
    async fn read_body_reports_a_failing_body() {
        let frames: Vec<Result<http_body::Frame<Bytes>, BoxError>> = vec![Err("boom".into())];
        let body = StreamBody::new(futures_util::stream::iter(frames));
        assert!(read_body(std::pin::pin!(body), None).await.is_err());
    }
}
