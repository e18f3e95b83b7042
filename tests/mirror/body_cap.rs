//! Guarantee 4: the per-request body cap. A declared length over the cap skips at once with
//! nothing buffered; a stream growing past it frees its buffer and skips; the primary is
//! unaffected; `Oversize::HeadersOnly` still sends a marked, body-less copy.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use support::*;
use tower::Layer;
use tower_mirror::{MirrorBody, MirrorLayer, Oversize};

const CAP: usize = 1000;

/// Reads the rest of the body, returning its data length; asserts it ends cleanly.
async fn drain(body: &mut MirrorBody<ChannelBody>) -> usize {
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        n += frame.unwrap().into_data().map(|d| d.len()).unwrap_or(0);
    }
    n
}

#[tokio::test]
async fn content_length_over_cap_skips_at_once_and_buffers_nothing() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .max_body_bytes(CAP)
        .on_event(events.hook());
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());

    let (tx, body) = channel_body();
    let req = Request::post("/big")
        .header("content-length", "2000")
        .body(body)
        .unwrap();
    send(&mut svc, req).await.unwrap();

    // Decided at `call`, before a single byte was read.
    assert_eq!(handle.stats().skipped_body_too_large, 1);
    assert_eq!(events.decisions(), vec![Ev::Skipped(Skip::BodyTooLarge)]);

    let mut body = capture.take().into_body();
    for _ in 0..2 {
        tx.send(data(1000, b'x')).unwrap();
        assert_eq!(read_data(&mut body).await, 1000);
        assert_eq!(handle.buffered_bytes(), 0, "nothing is buffered");
    }
    drop(tx);
    assert!(body.frame().await.is_none());

    idle(&handle).await;
    assert!(rec.is_empty());
    let stats = handle.stats();
    assert_eq!((stats.seen, stats.mirrored), (1, 0));
    assert_eq!(stats.skipped_body_too_large, 1, "counted once");
    assert_eq!(events.decisions().len(), 1, "one decision event");
    assert_idle(&handle);
}

#[tokio::test]
async fn streamed_body_past_cap_frees_its_buffer_and_skips() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .max_body_bytes(CAP)
        .on_event(events.hook());
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());

    let (tx, body) = channel_body();
    send(&mut svc, Request::post("/stream").body(body).unwrap())
        .await
        .unwrap();
    let mut body = capture.take().into_body();
    // The copy's head is counted from `call`.
    let head = handle.buffered_bytes();

    tx.send(data(600, b'a')).unwrap();
    assert_eq!(read_data(&mut body).await, 600);
    assert_eq!(
        handle.buffered_bytes(),
        head + 600,
        "the copy holds what was read"
    );
    assert!(
        events.decisions().is_empty(),
        "no decision before the cap is passed"
    );

    tx.send(data(600, b'b')).unwrap();
    assert_eq!(read_data(&mut body).await, 600);
    assert_eq!(
        handle.buffered_bytes(),
        0,
        "buffer freed as soon as the cap is passed"
    );
    assert_eq!(handle.stats().skipped_body_too_large, 1);
    assert_eq!(events.decisions(), vec![Ev::Skipped(Skip::BodyTooLarge)]);

    // The primary keeps reading, unaffected.
    tx.send(data(600, b'c')).unwrap();
    drop(tx);
    assert_eq!(drain(&mut body).await, 600);

    idle(&handle).await;
    assert!(rec.is_empty());
    assert_eq!(handle.stats().skipped_body_too_large, 1);
    assert_eq!(events.decisions().len(), 1);
    assert_idle(&handle);
}

#[tokio::test]
async fn primary_gets_every_byte_of_an_oversized_body() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).max_body_bytes(CAP);
    let handle = layer.handle();
    let echo = Echo::new();
    let mut svc = layer.layer(echo.clone());
    let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<&[u8]> = big.chunks(700).collect();
    let t = trailers(&[("x-sum", "42")]);
    let res = send(
        &mut svc,
        Request::post("/")
            .body(chunked(&chunks, Some(t.clone())))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), big);
    let seen = echo.only();
    assert_eq!(seen.body, big);
    assert_eq!(seen.trailers, Some(t));
    idle(&handle).await;
    assert!(rec.is_empty());
    assert_eq!(handle.stats().skipped_body_too_large, 1);
}

#[tokio::test]
async fn body_exactly_at_cap_is_mirrored() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).max_body_bytes(CAP);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());

    let streamed = vec![7u8; CAP];
    let req = Request::post("/s")
        .body(chunked(&[&streamed[..400], &streamed[400..]], None))
        .unwrap();
    send(&mut svc, req).await.unwrap();

    let declared = Request::post("/d")
        .header("content-length", CAP.to_string())
        .body(Full::new(Bytes::from(vec![8u8; CAP])))
        .unwrap();
    send(&mut svc, declared).await.unwrap();

    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.skipped_body_too_large),
        (2, 0),
        "{stats:?}"
    );
    let mut bodies: Vec<Bytes> = rec.all().into_iter().map(|c| c.body).collect();
    bodies.sort();
    assert_eq!(
        bodies,
        vec![Bytes::from(vec![7u8; CAP]), Bytes::from(vec![8u8; CAP])]
    );
}

#[tokio::test]
async fn default_cap_is_one_mebibyte() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    send(
        &mut svc,
        Request::post("/at")
            .body(Full::new(Bytes::from(vec![1u8; 1 << 20])))
            .unwrap(),
    )
    .await
    .unwrap();
    send(
        &mut svc,
        Request::post("/over")
            .body(Full::new(Bytes::from(vec![1u8; (1 << 20) + 1])))
            .unwrap(),
    )
    .await
    .unwrap();
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.skipped_body_too_large),
        (1, 1),
        "{stats:?}"
    );
    assert_eq!(rec.only().parts.uri.path(), "/at");
}

fn assert_truncated_copy(copy: &Received) {
    assert!(copy.body.is_empty(), "headers-only copy has no body");
    assert_eq!(copy.header("content-length"), Some("0"));
    assert!(copy.parts.headers.get("transfer-encoding").is_none());
    assert_eq!(copy.header("x-mirror-body-truncated"), Some("true"));
}

#[tokio::test]
async fn headers_only_sends_at_once_when_content_length_is_over_cap() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .max_body_bytes(10)
        .on_oversize(Oversize::HeadersOnly);
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());

    let (tx, body) = channel_body();
    let req = Request::put("/docs/1?v=2")
        .header("content-length", "20")
        .header("x-keep", "1")
        .body(body)
        .unwrap();
    send(&mut svc, req).await.unwrap();
    let mut body = capture.take().into_body();

    // Sent before the primary read anything.
    idle(&handle).await;
    let copy = rec.only();
    assert_truncated_copy(&copy);
    assert_eq!(copy.parts.method, http::Method::PUT);
    assert_eq!(copy.parts.uri.path_and_query().unwrap(), "/docs/1?v=2");
    assert_eq!(copy.header("x-keep"), Some("1"));

    tx.send(data(20, b'z')).unwrap();
    drop(tx);
    assert_eq!(drain(&mut body).await, 20);
    idle(&handle).await;
    assert_eq!(rec.len(), 1, "no second copy");
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.truncated, stats.completed),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.skipped_body_too_large, 0);
    assert_idle(&handle);
}

#[tokio::test]
async fn headers_only_sends_when_a_stream_passes_the_cap() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .max_body_bytes(10)
        .on_oversize(Oversize::HeadersOnly)
        .on_event(events.hook());
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());

    let (tx, body) = channel_body();
    let req = Request::post("/stream")
        .header("transfer-encoding", "chunked")
        .body(body)
        .unwrap();
    send(&mut svc, req).await.unwrap();
    let mut body = capture.take().into_body();
    // The copy's head is counted from `call`.
    let head = handle.buffered_bytes();

    tx.send(data(6, b'a')).unwrap();
    assert_eq!(read_data(&mut body).await, 6);
    // Not `idle`: it also waits for bodies still being copied, like this one.
    let_tasks_run().await;
    assert!(rec.is_empty(), "under the cap so far: nothing sent yet");
    assert_eq!(handle.buffered_bytes(), head + 6);

    tx.send(data(6, b'b')).unwrap();
    assert_eq!(read_data(&mut body).await, 6);
    idle(&handle).await;
    assert_truncated_copy(&rec.only());
    assert_eq!(handle.buffered_bytes(), 0);

    tx.send(data(6, b'c')).unwrap();
    drop(tx);
    assert_eq!(drain(&mut body).await, 6);
    idle(&handle).await;
    assert_eq!(rec.len(), 1);
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.truncated), (1, 1), "{stats:?}");
    assert_eq!(events.decisions(), vec![Ev::Dispatched]);
    assert_idle(&handle);
}

#[tokio::test]
async fn headers_only_under_the_cap_sends_the_whole_body() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .max_body_bytes(10)
        .on_oversize(Oversize::HeadersOnly);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    send(&mut svc, post("/", "small")).await.unwrap();
    idle(&handle).await;
    let copy = rec.only();
    assert_eq!(copy.body, Bytes::from_static(b"small"));
    assert!(copy.parts.headers.get("x-mirror-body-truncated").is_none());
    assert_eq!(handle.stats().truncated, 0);
}

#[tokio::test]
async fn skip_is_the_default_on_oversize() {
    let rec = Recorder::new();
    for layer in [
        MirrorLayer::new(recording_shadow(&rec)).max_body_bytes(3),
        MirrorLayer::new(recording_shadow(&rec))
            .max_body_bytes(3)
            .on_oversize(Oversize::Skip),
    ] {
        let handle = layer.handle();
        let mut svc = layer.layer(Echo::new());
        send(&mut svc, post("/", "four")).await.unwrap();
        idle(&handle).await;
        let stats = handle.stats();
        assert_eq!((stats.skipped_body_too_large, stats.truncated), (1, 0));
    }
    assert!(rec.is_empty());
}
