//! Guarantee 5: a copy is sent once the primary has read the whole body, and only then. A body
//! dropped early or failing is not mirrored; an empty body is dispatched at `call` time; the
//! end is also seen through `is_end_stream()` (hyper's client never polls the final `None`).

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use support::*;
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_mirror::{MirrorBody, MirrorLayer};

#[tokio::test]
async fn copy_is_sent_at_end_of_stream_not_before() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    send(
        &mut svc,
        Request::post("/")
            .body(chunked(&[b"one", b"two"], None))
            .unwrap(),
    )
    .await
    .unwrap();
    let mut body = capture.take().into_body();
    assert_eq!(read_data(&mut body).await, 3);
    // Not `idle`: it also waits for bodies still being copied, like this one.
    let_tasks_run().await;
    assert!(rec.is_empty(), "dispatched before the end of the body");
    assert_eq!(handle.stats().mirrored, 0);
    assert_eq!(read_data(&mut body).await, 3);
    assert!(body.frame().await.is_none());
    idle(&handle).await;
    assert_eq!(rec.only().body, Bytes::from_static(b"onetwo"));
}

#[tokio::test]
async fn end_reported_by_is_end_stream_dispatches_without_the_final_none() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    send(&mut svc, post("/", "whole")).await.unwrap();
    let mut body: MirrorBody<Full<Bytes>> = capture.take().into_body();
    assert_eq!(read_data(&mut body).await, 5);
    assert!(body.is_end_stream());
    // Like hyper's client: stop here, keep the body alive, never poll for `None`.
    idle(&handle).await;
    assert_eq!(rec.only().body, Bytes::from_static(b"whole"));
    assert_eq!(handle.stats().mirrored, 1);
    drop(body);
    idle(&handle).await;
    assert_eq!(rec.len(), 1);
    assert_eq!(handle.stats().skipped_body_incomplete, 0);
    assert_idle(&handle);
}

#[tokio::test]
async fn body_dropped_before_its_end_is_not_mirrored() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).on_event(events.hook());
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    send(
        &mut svc,
        Request::post("/")
            .body(chunked(&[b"a", b"b", b"c"], None))
            .unwrap(),
    )
    .await
    .unwrap();
    let mut body = capture.take().into_body();
    assert_eq!(read_data(&mut body).await, 1);
    drop(body);
    idle(&handle).await;
    assert!(rec.is_empty());
    let stats = handle.stats();
    assert_eq!(
        (stats.skipped_body_incomplete, stats.mirrored),
        (1, 0),
        "{stats:?}"
    );
    assert_eq!(events.decisions(), vec![Ev::Skipped(Skip::BodyIncomplete)]);
    assert_idle(&handle);
}

#[tokio::test]
async fn body_never_read_is_not_mirrored() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    // Answers without touching the body.
    let primary = tower::service_fn(|req: Request<MirrorBody<Full<Bytes>>>| async move {
        drop(req);
        Ok::<_, BoxError>(Response::new(Full::new(Bytes::from_static(b"early"))))
    });
    let mut svc = layer.layer(primary);
    let res = send(&mut svc, post("/", "unread")).await.unwrap();
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        Bytes::from_static(b"early")
    );
    idle(&handle).await;
    assert!(rec.is_empty());
    assert_eq!(handle.stats().skipped_body_incomplete, 1);
    assert_idle(&handle);
}

#[tokio::test]
async fn body_erroring_mid_stream_is_not_mirrored_and_the_error_reaches_the_primary() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).on_event(events.hook());
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    send(
        &mut svc,
        Request::post("/")
            .body(erroring(&[b"ok"], "client reset"))
            .unwrap(),
    )
    .await
    .unwrap();
    let mut body = capture.take().into_body();
    assert_eq!(read_data(&mut body).await, 2);
    let err = body
        .frame()
        .await
        .expect("an error frame")
        .expect_err("the body's error");
    assert_eq!(
        err.to_string(),
        "client reset",
        "the error passes through as it is"
    );
    drop(body);
    idle(&handle).await;
    assert!(rec.is_empty());
    let stats = handle.stats();
    assert_eq!(stats.skipped_body_incomplete, 1, "counted once: {stats:?}");
    assert_eq!(events.decisions(), vec![Ev::Skipped(Skip::BodyIncomplete)]);
    assert_idle(&handle);
}

#[tokio::test]
async fn body_error_fails_the_echo_primary_and_skips_the_copy() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let err = send(
        &mut svc,
        Request::post("/")
            .body(erroring(&[b"a", b"b"], "boom"))
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "boom");
    idle(&handle).await;
    assert!(rec.is_empty());
    assert_eq!(handle.stats().skipped_body_incomplete, 1);
}

/// The copy of an empty-bodied request goes out at `call`, before the primary future runs.
async fn assert_dispatched_at_call<B>(body: B)
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    tower_mirror::Mirror<Echo, Shadow>:
        Service<Request<B>, Response = Response<Full<Bytes>>, Error = BoxError>,
{
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let echo = Echo::new();
    let mut svc = layer.layer(echo.clone());
    let req = Request::get("/empty").body(body).unwrap();
    let fut = svc.ready().await.unwrap().call(req);
    // Not polled yet.
    idle(&handle).await;
    let copy = rec.only();
    assert_eq!(copy.parts.uri.path(), "/empty");
    assert!(copy.body.is_empty());
    assert_eq!(echo.count(), 0, "the primary future has not run");

    let res = fut.await.unwrap();
    assert_eq!(res.status(), http::StatusCode::CREATED);
    assert_eq!(echo.count(), 1);
    assert_eq!(rec.len(), 1, "still one copy");
    let stats = handle.stats();
    assert_eq!((stats.seen, stats.mirrored, stats.completed), (1, 1, 1));
    assert_idle(&handle);
}

#[tokio::test]
async fn empty_body_is_dispatched_at_call_time() {
    assert_dispatched_at_call(Empty::<Bytes>::new()).await;
}

#[tokio::test]
async fn empty_full_body_is_dispatched_at_call_time() {
    assert_dispatched_at_call(Full::new(Bytes::new())).await;
}

#[tokio::test]
async fn empty_body_copy_survives_the_primary_dropping_it() {
    // Dispatched at `call`, so dropping the (already ended) body changes nothing.
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let primary = tower::service_fn(|req: Request<MirrorBody<Empty<Bytes>>>| async move {
        drop(req);
        Ok::<_, BoxError>(Response::new(Full::new(Bytes::new())))
    });
    let mut svc = layer.layer(primary);
    send(&mut svc, Request::new(Empty::<Bytes>::new()))
        .await
        .unwrap();
    idle(&handle).await;
    assert_eq!(rec.len(), 1);
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.skipped_body_incomplete), (1, 0));
}
