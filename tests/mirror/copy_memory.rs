//! Guarantee 7, the body: what the budget counts for a copy is what the copy holds. Up to
//! 256 KiB the copy keeps the primary's frames themselves (no copy on the primary's path)
//! and joins them on its own task; a lone frame is passed to the shadow as it is. Past
//! 256 KiB the body is gathered into one buffer of the copy's own as the primary reads it
//! (made at the declared length, and counted whole, when there is one), each frame
//! released at once, so a large copy never holds its body twice (the frames and the
//! joined buffer). `benches/copy_peak.rs` measures the resident memory of a 60 MiB copy.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use support::*;
use tower::Layer;
use tower_mirror::MirrorLayer;

/// A frame's memory that counts its own release.
struct Tracked {
    bytes: Vec<u8>,
    released: Arc<AtomicUsize>,
}

impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

fn tracked(byte: u8, len: usize, released: &Arc<AtomicUsize>) -> Bytes {
    Bytes::from_owner(Tracked {
        bytes: vec![byte; len],
        released: released.clone(),
    })
}

fn head_cost(parts: &http::request::Parts) -> usize {
    parts.uri.path_and_query().map_or(0, |p| p.as_str().len())
        + parts
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 128)
            .sum::<usize>()
}

/// Bytes of a copy kept as the primary's frames before they are gathered into a buffer.
const FRAMES_KEPT: usize = 256 * 1024;

/// Sends `frames` frames of `len` bytes (with a `Content-Length`) through a layer whose
/// shadow hangs, checking after each what the budget counts and how many of the
/// primary's frames were let go; then that the copy is the body, counted once.
async fn copy_frames(frames: usize, len: usize, held_after: impl Fn(usize) -> (usize, usize)) {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(hung_shadow(&rec))
        .max_body_bytes(frames * len)
        .timeout(Duration::from_secs(1));
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());

    let released = Arc::new(AtomicUsize::new(0));
    let (tx, body) = channel_body();
    let req = Request::post("/upload")
        .header("content-length", frames * len)
        .body(body)
        .unwrap();
    send(&mut svc, req).await.unwrap();
    let mut body = capture.take().into_body();
    let head = handle.buffered_bytes();
    for i in 0..frames {
        tx.send(Ok(Frame::data(tracked((i % 251) as u8, len, &released))))
            .unwrap();
        // The primary reads the frame and is done with it.
        assert_eq!(read_data(&mut body).await, len);
        let (counted, let_go) = held_after(i);
        assert_eq!(handle.buffered_bytes(), head + counted, "after frame {i}");
        assert_eq!(released.load(Ordering::SeqCst), let_go, "after frame {i}");
    }
    drop(tx);
    assert!(body.frame().await.is_none());
    let_tasks_run().await;

    // The hung shadow holds the copy, joined on its task: the frames are all let go.
    let copy = rec.only();
    let expected: Vec<u8> = (0..frames)
        .flat_map(|i| vec![(i % 251) as u8; len])
        .collect();
    assert!(
        copy.body == expected,
        "the copy's body is the request's, in order"
    );
    assert_eq!(released.load(Ordering::SeqCst), frames);
    assert_eq!(head, head_cost(&copy.parts));
    assert_eq!(
        handle.buffered_bytes(),
        head + frames * len,
        "what is held is what is counted"
    );
    drop(copy);

    idle(&handle).await;
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn a_small_copy_keeps_the_primarys_frames_without_copying_them() {
    const LEN: usize = 4096;
    // Each frame is kept as it is (counted as read) and let go once the copy's task has
    // joined them.
    copy_frames(8, LEN, |i| ((i + 1) * LEN, 0)).await;
}

#[tokio::test(start_paused = true)]
async fn a_large_copy_of_many_frames_holds_its_length_once() {
    const LEN: usize = 4096;
    const FRAMES: usize = FRAMES_KEPT / LEN + 16;
    copy_frames(FRAMES, LEN, |i| {
        if (i + 1) * LEN <= FRAMES_KEPT {
            ((i + 1) * LEN, 0)
        } else {
            // Past 256 KiB the buffer made at the declared length holds the body, counted
            // whole, and the copy keeps none of the primary's frames: it never holds its
            // body twice.
            (FRAMES * LEN, i + 1)
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_chunked_copy_of_many_frames_holds_its_length_once() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(hung_shadow(&rec)).timeout(Duration::from_secs(1));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    let released = Arc::new(AtomicUsize::new(0));
    let lens = [1, 700, 3000, 5, 9000, 64];
    let frames: Vec<Result<Frame<Bytes>, tower::BoxError>> = lens
        .iter()
        .enumerate()
        .map(|(i, &len)| Ok(Frame::data(tracked(b'0' + i as u8, len, &released))))
        .collect();
    let req = Request::post("/chunked")
        .header("transfer-encoding", "chunked")
        .body(StreamBody::new(futures_util::stream::iter(frames)))
        .unwrap();
    send(&mut svc, req).await.unwrap();
    let_tasks_run().await;

    let copy = rec.only();
    let total: usize = lens.iter().sum();
    let expected: Vec<u8> = lens
        .iter()
        .enumerate()
        .flat_map(|(i, &len)| vec![b'0' + i as u8; len])
        .collect();
    assert!(copy.body == expected);
    assert_eq!(released.load(Ordering::SeqCst), lens.len());
    assert_eq!(handle.buffered_bytes(), head_cost(&copy.parts) + total);
    drop(copy);

    idle(&handle).await;
    assert_idle(&handle);
}

#[tokio::test]
async fn a_copy_of_one_frame_is_the_frame_itself() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    let released = Arc::new(AtomicUsize::new(0));
    let frame = tracked(b'z', 10_000, &released);
    let at = frame.as_ptr();
    send(
        &mut svc,
        Request::post("/one").body(Full::new(frame)).unwrap(),
    )
    .await
    .unwrap();
    idle(&handle).await;
    let copy = rec.only();
    assert_eq!(copy.body.len(), 10_000);
    assert_eq!(copy.body.as_ptr(), at, "no copy of a lone frame");
    drop(copy);
    assert_idle(&handle);
}
