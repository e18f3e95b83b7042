//! Request and response bodies: scripted frames, a body the test feeds through a channel,
//! and a response body that counts the frames read out of it.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, StreamBody};
use tokio::sync::mpsc;
use tower::BoxError;

pub type FrameResult = Result<Frame<Bytes>, BoxError>;
/// A request body made of scripted frames.
pub type ScriptBody = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<FrameResult>>>;

fn script(items: Vec<FrameResult>) -> ScriptBody {
    StreamBody::new(futures_util::stream::iter(items))
}

/// Data frames, then optional trailers. `StreamBody` never reports `is_end_stream`, so the
/// end is only seen when `None` is polled.
pub fn chunked(chunks: &[&[u8]], trailers: Option<HeaderMap>) -> ScriptBody {
    let mut items: Vec<FrameResult> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    if let Some(t) = trailers {
        items.push(Ok(Frame::trailers(t)));
    }
    script(items)
}

/// Data frames then an error.
pub fn erroring(chunks: &[&[u8]], msg: &'static str) -> ScriptBody {
    let mut items: Vec<FrameResult> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    items.push(Err(msg.into()));
    script(items)
}

/// A request body fed by the test through a channel; ends when the sender is dropped.
pub struct ChannelBody {
    rx: mpsc::UnboundedReceiver<FrameResult>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<FrameResult>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

pub fn channel_body() -> (mpsc::UnboundedSender<FrameResult>, ChannelBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, ChannelBody { rx })
}

pub fn data(n: usize, byte: u8) -> FrameResult {
    Ok(Frame::data(Bytes::from(vec![byte; n])))
}

/// Reads the next frame and returns its data length (panics on trailers, error or end).
pub async fn read_data<B>(body: &mut B) -> usize
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let frame = body
        .frame()
        .await
        .expect("body ended early")
        .expect("body errored");
    frame.into_data().expect("expected a data frame").len()
}

pub fn trailers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, v.parse().unwrap());
    }
    map
}

/// A response body that counts the frames polled out of it (to see it drained).
pub struct CountingBody {
    frames: VecDeque<Bytes>,
    polled: Arc<AtomicUsize>,
}

impl CountingBody {
    pub fn new(frames: &[&'static str], polled: Arc<AtomicUsize>) -> Self {
        Self {
            frames: frames
                .iter()
                .map(|f| Bytes::from_static(f.as_bytes()))
                .collect(),
            polled,
        }
    }
}

impl Body for CountingBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match this.frames.pop_front() {
            Some(f) => {
                this.polled.fetch_add(1, Ordering::SeqCst);
                Poll::Ready(Some(Ok(Frame::data(f))))
            }
            None => Poll::Ready(None),
        }
    }
}
