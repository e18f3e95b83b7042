//! Guarantee 11, streamed copies (`Oversize::Stream`, `MirrorLayer::streaming`,
//! `stream_bodies`): the copy goes to the shadow as the primary reads its body, through a
//! bounded window held in the budget; a shadow that falls behind, or a primary body that
//! fails or is dropped, aborts the copy (`failed`, the shadow's body ends with an error)
//! and never slows or fails the primary.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Request;
use http_body_util::BodyExt;
use support::*;
use tower::Layer;
use tower_mirror::{MirrorBody, MirrorLayer, Oversize};

const CAP: usize = 1000;

/// Frame `i` of a test body: `n` bytes that differ from frame to frame and within it.
fn frame(i: usize, n: usize) -> Bytes {
    (0..n).map(|j| (i * 31 + j * 7) as u8).collect()
}

/// Feeds `frames` through the channel one by one, the primary reading each as it comes;
/// returns what the primary read.
async fn feed_and_read(
    tx: &tokio::sync::mpsc::UnboundedSender<FrameResult>,
    body: &mut MirrorBody<ChannelBody>,
    frames: impl IntoIterator<Item = Bytes>,
) -> Bytes {
    let mut read = BytesMut::new();
    for f in frames {
        tx.send(Ok(http_body::Frame::data(f))).unwrap();
        let frame = within(body.frame()).await.expect("a frame").unwrap();
        read.extend_from_slice(frame.data_ref().expect("data"));
    }
    read.freeze()
}

#[tokio::test]
async fn a_body_growing_past_the_cap_is_streamed_byte_identical_while_the_primary_reads_it() {
    let rec = StreamRecorder::new();
    let events = Events::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec))
        .max_body_bytes(CAP)
        .on_event(events.hook());
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());

    let (tx, body) = channel_body();
    let res = send(&mut svc, Request::post("/upload").body(body).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut body = capture.take().into_body();

    // Under the cap: buffered, not yet sent.
    let mut primary = BytesMut::new();
    primary.extend_from_slice(&feed_and_read(&tx, &mut body, [frame(0, 600)]).await);
    assert_eq!(handle.stats().mirrored, 0);
    // Past it: sent at once with what was buffered, the rest following as it is read.
    primary.extend_from_slice(&feed_and_read(&tx, &mut body, [frame(1, 600)]).await);
    assert_eq!(
        handle.stats().mirrored,
        1,
        "dispatched when the cap is passed"
    );
    assert_eq!(events.decisions(), vec![Ev::Dispatched]);
    primary.extend_from_slice(&feed_and_read(&tx, &mut body, (2..20).map(|i| frame(i, 700))).await);
    drop(tx);
    assert!(
        within(body.frame()).await.is_none(),
        "the primary's body ends"
    );

    let got = rec.ended(1).await.remove(0);
    assert_eq!(got.error, None);
    assert_eq!(got.body.len(), 600 * 2 + 700 * 18);
    assert_eq!(got.body, primary.freeze(), "byte-identical");
    assert_eq!(got.parts.uri, "/upload");
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.completed), (1, 1));
    assert_eq!(stats.skipped_body_too_large, 0);
    assert_idle(&handle);
}

#[tokio::test]
async fn a_declared_length_over_the_cap_streams_from_call() {
    let rec = StreamRecorder::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec)).max_body_bytes(CAP);
    let handle = layer.handle();
    let echo = Echo::new();
    let mut svc = layer.layer(echo.clone());

    let frames: Vec<Bytes> = (0..8).map(|i| frame(i, 500)).collect();
    let whole: Bytes = frames.concat().into();
    let req = Request::put("/big")
        .header("content-length", whole.len().to_string())
        .body(chunked(
            &frames.iter().map(|f| &f[..]).collect::<Vec<_>>(),
            None,
        ))
        .unwrap();
    let res = send(&mut svc, req).await.unwrap();
    assert_eq!(res.status(), 201, "the primary's answer, unchanged");
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), whole);

    let got = rec.ended(1).await.remove(0);
    assert_eq!((got.body.clone(), got.error.clone()), (whole.clone(), None));
    assert_eq!(got.parts.headers["content-length"], "4000");
    idle(&handle).await;
    assert_eq!(handle.stats().completed, 1);
    assert_idle(&handle);
}

#[tokio::test]
async fn stream_bodies_streams_small_bodies_too() {
    let rec = StreamRecorder::new();
    let events = Events::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec))
        .stream_bodies()
        .on_event(events.hook());
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());

    let (tx, body) = channel_body();
    send(
        &mut svc,
        Request::post("/small")
            .header("content-length", "10")
            .body(body)
            .unwrap(),
    )
    .await
    .unwrap();
    // Sent at `call`, before a byte of the body was read.
    assert_eq!(handle.stats().mirrored, 1);
    assert_eq!(events.decisions(), vec![Ev::Dispatched]);
    let mut body = capture.take().into_body();
    let read = feed_and_read(&tx, &mut body, [frame(0, 4), frame(1, 6)]).await;
    // The body ends when it says so: `ChannelBody` does not know, so end it.
    drop(tx);
    assert!(within(body.frame()).await.is_none());

    let got = rec.ended(1).await.remove(0);
    assert_eq!((got.body, got.error), (read, None));
    idle(&handle).await;
    assert_eq!(handle.stats().completed, 1);
    assert_idle(&handle);
}

#[tokio::test]
async fn a_body_under_the_cap_goes_whole_on_a_streaming_layer() {
    let rec = StreamRecorder::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec)).max_body_bytes(CAP);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let req = Request::post("/whole")
        .body(chunked(&[b"hello ", b"world"], None))
        .unwrap();
    send(&mut svc, req).await.unwrap();
    idle(&handle).await;
    let got = rec.ended(1).await.remove(0);
    assert_eq!((got.body, got.error), (Bytes::from("hello world"), None));
    assert_eq!(handle.stats().completed, 1);
    assert_idle(&handle);
}

#[tokio::test]
async fn a_shadow_that_never_reads_fills_the_window_and_fails_the_copy_not_the_primary() {
    let events = Events::new();
    let layer = MirrorLayer::streaming(stalled_stream_shadow())
        .stream_bodies()
        .stream_window(4096)
        .on_event(events.hook());
    let handle = layer.handle();
    let echo = Echo::new();
    let mut svc = layer.layer(echo.clone());

    let frames: Vec<Bytes> = (0..16).map(|i| frame(i, 1000)).collect();
    let whole: Bytes = frames.concat().into();
    let req = Request::post("/upload")
        .body(chunked(
            &frames.iter().map(|f| &f[..]).collect::<Vec<_>>(),
            None,
        ))
        .unwrap();
    let res = within(send(&mut svc, req)).await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["x-primary"], "echo");
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), whole);
    assert_eq!(echo.only().body, whole, "the primary got every byte");

    // Aborted when the window filled, not when the (5 s) timeout passed.
    within(idle(&handle)).await;
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.failed, stats.timed_out), (1, 1, 0));
    assert_eq!(handle.buffered_bytes(), 0);
    match &events.outcomes()[..] {
        [Ev::Failed(_, error)] => assert!(error.contains("window"), "{error}"),
        other => panic!("expected one failure, got {other:?}"),
    }
    assert_idle(&handle);
}

#[tokio::test]
async fn a_primary_body_failing_midway_ends_the_shadows_body_with_an_error() {
    let rec = StreamRecorder::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec)).stream_bodies();
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    let (tx, body) = channel_body();
    send(&mut svc, Request::post("/x").body(body).unwrap())
        .await
        .unwrap();
    let mut body = capture.take().into_body();
    feed_and_read(&tx, &mut body, [Bytes::from("abc")]).await;
    rec.called(1).await;
    feed_and_read(&tx, &mut body, [Bytes::from("def")]).await;
    tx.send(Err("client reset".into())).unwrap();
    let err = within(body.frame())
        .await
        .unwrap()
        .expect_err("the primary's error");
    assert_eq!(
        err.to_string(),
        "client reset",
        "the primary's error, as it was"
    );

    let got = rec.ended(1).await.remove(0);
    let error = got
        .error
        .expect("the shadow's body ends with an error, not its end");
    assert!(error.contains("failed"), "{error}");
    assert_eq!(got.body, "abcdef", "what came before the error");
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.failed), (1, 1));
    assert_eq!(stats.skipped_body_incomplete, 0);
    assert_idle(&handle);
}

#[tokio::test]
async fn a_copy_aborted_before_its_shadow_was_called_is_not_sent_and_fails() {
    let rec = StreamRecorder::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec)).stream_bodies();
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    send(
        &mut svc,
        Request::post("/x")
            .body(erroring(&[b"abc"], "client reset"))
            .unwrap(),
    )
    .await
    .unwrap();
    // Read at once, before the copy's task ran.
    let err = capture
        .take()
        .into_body()
        .collect()
        .await
        .expect_err("fails");
    assert_eq!(err.to_string(), "client reset");
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.failed), (1, 1));
    assert!(rec.all().is_empty(), "nothing reached the shadow");
    assert_idle(&handle);
}

#[tokio::test]
async fn a_primary_dropping_its_body_fails_a_sent_copy_and_skips_an_unsent_one() {
    // Streamed from `call`: already sent, so the copy fails.
    let rec = StreamRecorder::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec)).stream_bodies();
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    let (tx, body) = channel_body();
    send(&mut svc, Request::post("/a").body(body).unwrap())
        .await
        .unwrap();
    let mut body = capture.take().into_body();
    feed_and_read(&tx, &mut body, [frame(0, 100)]).await;
    rec.called(1).await;
    drop(body);
    let got = rec.ended(1).await.remove(0);
    let error = got
        .error
        .expect("an error, not a truncated body passed off as whole");
    assert!(error.contains("dropped"), "{error}");
    assert_eq!(got.body.len(), 100);
    idle(&handle).await;
    assert_eq!((handle.stats().mirrored, handle.stats().failed), (1, 1));
    assert_idle(&handle);

    // Under the cap, not yet sent: nothing went, `skipped_body_incomplete` as ever.
    let rec = StreamRecorder::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec)).max_body_bytes(CAP);
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    let (tx, body) = channel_body();
    send(&mut svc, Request::post("/b").body(body).unwrap())
        .await
        .unwrap();
    let mut body = capture.take().into_body();
    feed_and_read(&tx, &mut body, [frame(0, 100)]).await;
    drop(body);
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.skipped_body_incomplete), (0, 1));
    assert!(rec.all().is_empty());
    assert_idle(&handle);
}

#[tokio::test]
async fn a_body_longer_than_its_content_length_aborts_the_stream() {
    let rec = StreamRecorder::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec)).stream_bodies();
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    let (tx, body) = channel_body();
    let req = Request::post("/lie")
        .header("content-length", "4")
        .body(body)
        .unwrap();
    send(&mut svc, req).await.unwrap();
    let mut body = capture.take().into_body();
    feed_and_read(&tx, &mut body, [Bytes::from("abc")]).await;
    rec.called(1).await;
    // The primary reads on: whether to refuse the lie is its business.
    feed_and_read(&tx, &mut body, [Bytes::from("def")]).await;
    let got = rec.ended(1).await.remove(0);
    assert!(got.error.expect("aborted").contains("Content-Length"));
    assert_eq!(got.body, "abc");
    idle(&handle).await;
    assert_eq!(handle.stats().failed, 1);
    assert_idle(&handle);
}

#[tokio::test]
async fn the_window_is_held_in_the_budget_and_a_budget_smaller_than_it_drops_the_copy() {
    // The window (64 KiB) does not fit in a 16 KiB budget: dropped, nothing sent.
    let rec = StreamRecorder::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec))
        .stream_bodies()
        .max_buffered_bytes(16 << 10);
    let handle = layer.handle();
    let echo = Echo::new();
    let mut svc = layer.layer(echo.clone());
    let req = Request::post("/x").body(chunked(&[b"abc"], None)).unwrap();
    let res = send(&mut svc, req).await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(echo.only().body, "abc");
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.dropped_bytes), (0, 1));
    assert!(rec.all().is_empty());
    assert_idle(&handle);

    // While a copy streams, its window is held; all of it is given back once it ends.
    let layer = MirrorLayer::streaming(stalled_stream_shadow())
        .stream_bodies()
        .stream_window(32 << 10)
        .timeout(Duration::from_secs(60));
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    let (tx, body) = channel_body();
    send(&mut svc, Request::post("/y").body(body).unwrap())
        .await
        .unwrap();
    assert!(
        handle.buffered_bytes() >= 32 << 10,
        "{}",
        handle.buffered_bytes()
    );
    let mut body = capture.take().into_body();
    feed_and_read(&tx, &mut body, [frame(0, 1000)]).await;
    assert!(handle.buffered_bytes() >= 32 << 10);
    // The primary goes on past the window: the copy is aborted, its bytes given back.
    feed_and_read(&tx, &mut body, (1..40).map(|i| frame(i, 1000))).await;
    idle(&handle).await;
    assert_eq!(handle.buffered_bytes(), 0);
    assert_eq!(handle.stats().failed, 1);
    assert_idle(&handle);
}

#[tokio::test]
async fn shutdown_cuts_a_streamed_copy_like_any_other() {
    let layer = MirrorLayer::streaming(stalled_stream_shadow())
        .stream_bodies()
        .timeout(Duration::from_secs(60));
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    let (tx, body) = channel_body();
    send(&mut svc, Request::post("/y").body(body).unwrap())
        .await
        .unwrap();
    let mut body = capture.take().into_body();
    feed_and_read(&tx, &mut body, [frame(0, 100)]).await;
    assert_eq!(
        within(handle.shutdown(Duration::ZERO)).await,
        1,
        "one copy cut"
    );
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.timed_out), (1, 1));
    assert_eq!(handle.buffered_bytes(), 0);
    // The primary reads on, unaffected.
    feed_and_read(&tx, &mut body, [frame(1, 100)]).await;
}

#[tokio::test]
async fn oversize_stream_on_a_full_bytes_shadow_skips_as_documented() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .max_body_bytes(CAP)
        .on_oversize(Oversize::Stream);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let big = vec![b'x'; CAP + 1];
    let req = Request::post("/big").body(chunked(&[&big], None)).unwrap();
    assert_eq!(send(&mut svc, req).await.unwrap().status(), 201);
    let req = Request::post("/small")
        .body(chunked(&[b"ok"], None))
        .unwrap();
    assert_eq!(send(&mut svc, req).await.unwrap().status(), 201);
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!(stats.skipped_body_too_large, 1);
    assert_eq!(stats.completed, 1);
    assert_eq!(
        rec.only().body,
        "ok",
        "smaller copies go whole, as `Full<Bytes>`"
    );
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn the_timeout_bounds_a_streamed_call_body_included() {
    // A shadow that takes the call but never reads: the window never fills (one small
    // frame), so only the timeout ends the copy.
    let layer = MirrorLayer::streaming(stalled_stream_shadow())
        .stream_bodies()
        .timeout(Duration::from_secs(5));
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    let (tx, body) = channel_body();
    send(&mut svc, Request::post("/slow").body(body).unwrap())
        .await
        .unwrap();
    let mut body = capture.take().into_body();
    feed_and_read(&tx, &mut body, [frame(0, 100)]).await;
    let started = tokio::time::Instant::now();
    idle(&handle).await;
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.timed_out), (1, 1));
    assert_eq!(handle.buffered_bytes(), 0);
    // The primary's body is untouched by it.
    feed_and_read(&tx, &mut body, [frame(1, 100)]).await;
}

#[test]
fn streaming_types_have_the_promised_auto_traits() {
    fn send_sync_unpin<T: Send + Sync + Unpin>() {}
    fn clone_send_sync<T: Clone + Send + Sync>() {}
    send_sync_unpin::<tower_mirror::CopyBody>();
    type Upstream = tower_mirror::upstream::HttpUpstream;
    clone_send_sync::<MirrorLayer<tower_mirror::StreamingShadow<Upstream>>>();
    clone_send_sync::<tower_mirror::Mirror<Upstream, tower_mirror::StreamingShadow<Upstream>>>();
}

#[cfg(feature = "compare")]
#[tokio::test]
async fn compare_mode_compares_whole_copies_and_counts_streamed_ones_skipped() {
    use tower_mirror::compare::CompareConfig;

    let rec = StreamRecorder::new();
    let layer = MirrorLayer::streaming(reading_stream_shadow(&rec))
        .max_body_bytes(CAP)
        .compare(CompareConfig::new());
    let handle = layer.handle();
    // Answers as the shadow does, once it has read the body.
    let primary = tower::service_fn(|req: Request<MirrorBody<ScriptBody>>| async move {
        req.into_body().collect().await?;
        Ok::<_, tower::BoxError>(respond(200))
    });
    let mut svc = layer.layer(primary);
    let big = vec![b'x'; CAP + 1];
    for body in [&b"small"[..], &big] {
        let req = Request::post("/x").body(chunked(&[body], None)).unwrap();
        let res = send(&mut svc, req).await.unwrap();
        res.into_body().collect().await.unwrap();
    }
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.completed), (2, 2));
    let report = handle.compare_report().to_json();
    assert_eq!((stats.matched, stats.compare_skipped), (1, 1), "{report}");
    assert!(report.contains("streamed"), "the reason is given: {report}");
    assert_eq!(rec.ended(2).await.len(), 2);
}
