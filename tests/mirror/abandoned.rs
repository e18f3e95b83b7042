//! Requests the client abandons before the primary answers (an HTTP/2 stream reset, a
//! dropped response future): the copy goes alongside the primary request, as Envoy and
//! Istio send theirs. A request without a body is mirrored at `call`, so abandoning it
//! later does not take the copy back; a request with a body is mirrored only once the
//! primary has read the whole body, so abandoning it before then sends nothing
//! (`skipped_body_incomplete`). See "What is never mirrored" in the crate docs.

use std::task::Poll;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use support::*;
use tower::{BoxError, Layer, Service, ServiceExt, service_fn};
use tower_mirror::{MirrorBody, MirrorLayer};

type Answer = Result<Response<Full<Bytes>>, BoxError>;

/// A primary that never answers; with `read_body` it first reads the whole request body.
fn never_answers(
    read_body: bool,
) -> impl Service<
    Request<MirrorBody<Full<Bytes>>>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future = BoxFuture<'static, Answer>,
> {
    service_fn(
        move |req: Request<MirrorBody<Full<Bytes>>>| -> BoxFuture<'static, _> {
            Box::pin(async move {
                let body = req.into_body();
                if read_body {
                    body.collect().await?;
                } else {
                    // Holds the body unread until the future is dropped.
                    let _unread = body;
                    std::future::pending::<()>().await;
                }
                std::future::pending().await
            })
        },
    )
}

#[tokio::test]
async fn a_bodiless_request_abandoned_before_the_answer_is_still_mirrored() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(never_answers(false));

    let mut pending = svc.ready().await.unwrap().call(get("/reset-me"));
    assert!(
        poll_once(&mut pending).is_pending(),
        "the primary has not answered"
    );
    // The client resets its stream: the server drops the response future.
    drop(pending);

    idle(&handle).await;
    assert_eq!(rec.only().parts.uri, "/reset-me");
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.completed), (1, 1), "{stats:?}");
    assert_idle(&handle);
}

#[tokio::test]
async fn a_request_abandoned_before_its_body_was_read_is_not_mirrored() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(never_answers(false));

    let mut pending = svc
        .ready()
        .await
        .unwrap()
        .call(post("/upload", "never read"));
    assert!(matches!(poll_once(&mut pending), Poll::Pending));
    drop(pending);

    idle(&handle).await;
    assert!(rec.is_empty(), "no copy of a body the primary never got");
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.skipped_body_incomplete),
        (0, 1),
        "{stats:?}"
    );
    assert_idle(&handle);
}

#[tokio::test]
async fn a_request_abandoned_after_its_body_was_read_is_mirrored() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(never_answers(true));

    let mut pending = svc
        .ready()
        .await
        .unwrap()
        .call(post("/upload", "read whole"));
    // One poll reads the whole (ready) body; the primary then never answers.
    assert!(poll_once(&mut pending).is_pending());
    drop(pending);

    idle(&handle).await;
    assert_eq!(rec.only().body, "read whole");
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.completed), (1, 1), "{stats:?}");
    assert_idle(&handle);
}
