//! Guarantee 9: a dispatched copy outlives the primary's future; without a Tokio runtime the copy is
//! skipped, never a panic; the middleware works on a multi-threaded runtime.

use std::{task::Poll, time::Duration};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use support::*;
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_mirror::{MirrorBody, MirrorLayer};

#[tokio::test(start_paused = true)]
async fn copy_completes_after_the_primary_future_is_dropped() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(sleeping_shadow(&rec, Duration::from_secs(1)))
        .timeout(Duration::from_secs(5));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let fut = ServiceExt::<Request<Full<Bytes>>>::ready(&mut svc)
        .await
        .unwrap()
        .call(get("/gone"));
    drop(fut); // the client went away; the empty body's copy was dispatched at `call`
    idle(&handle).await;
    assert_eq!(rec.only().parts.uri.path(), "/gone");
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.completed), (1, 1), "{stats:?}");
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn copy_dispatched_at_end_of_body_survives_the_primary_future() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(sleeping_shadow(&rec, Duration::from_secs(1)))
        .timeout(Duration::from_secs(5));
    let handle = layer.handle();
    // Reads the whole body, then never answers.
    let primary = tower::service_fn(|req: Request<MirrorBody<ScriptBody>>| async move {
        req.into_body().collect().await?;
        std::future::pending::<()>().await;
        Ok::<Response<Full<Bytes>>, BoxError>(Response::new(Full::new(Bytes::new())))
    });
    let mut svc = layer.layer(primary);
    let req = Request::post("/slow")
        .body(chunked(&[b"body ", b"bytes"], None))
        .unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(50), send(&mut svc, req)).await;
    assert!(gave_up.is_err(), "the primary never answers");
    idle(&handle).await;
    assert_eq!(rec.only().body, Bytes::from_static(b"body bytes"));
    assert_eq!(handle.stats().completed, 1);
    assert_idle(&handle);
}

#[test]
fn no_runtime_skips_the_copy_without_panicking() {
    let events = Events::new();
    let hook = events.hook();
    let stats = std::thread::spawn(move || {
        assert!(tokio::runtime::Handle::try_current().is_err());
        let rec = Recorder::new();
        let layer = MirrorLayer::new(recording_shadow(&rec)).on_event(hook);
        let handle = layer.handle();
        let mut svc = layer.layer(Echo::new());
        // Empty body: would be dispatched at `call`. Non-empty: at the end of the body.
        for req in [get("/empty"), post("/full", "abc")] {
            {
                let mut ready = ServiceExt::<Request<Full<Bytes>>>::ready(&mut svc);
                assert!(matches!(poll_once(&mut ready), Poll::Ready(Ok(_))));
            }
            let mut fut = Box::pin(svc.call(req));
            match poll_once(&mut fut) {
                Poll::Ready(Ok(res)) => assert_eq!(res.status(), http::StatusCode::CREATED),
                other => panic!(
                    "the echo primary should answer at once: {:?}",
                    other.is_ready()
                ),
            }
        }
        assert!(rec.is_empty());
        assert_eq!(handle.in_flight(), 0);
        assert_eq!(handle.buffered_bytes(), 0);
        handle.stats()
    })
    .join()
    .expect("no panic without a runtime");
    assert_eq!(
        (stats.seen, stats.skipped_no_runtime, stats.mirrored),
        (2, 2, 0),
        "{stats:?}"
    );
    assert_invariants(&stats);
    assert_eq!(
        events.decisions(),
        vec![Ev::Skipped(Skip::NoRuntime), Ev::Skipped(Skip::NoRuntime)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_across_threads_on_a_multi_threaded_runtime() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(sleeping_shadow(&rec, Duration::from_millis(5)));
    let handle = layer.handle();
    let svc = layer.layer(Echo::new());
    let mut tasks = Vec::new();
    for i in 0..100 {
        let req = Request::post(format!("/n/{i}"))
            .body(Full::new(Bytes::from(format!("{i}"))))
            .unwrap();
        // Boxed outside the async block: rustc cannot prove `Send` for the projection
        // through `BoxError` bounds inside a generator (a known higher-ranked limitation).
        let call: BoxFuture<'static, Result<Response<Full<Bytes>>, BoxError>> =
            Box::pin(svc.clone().oneshot(req));
        tasks.push(tokio::spawn(async move {
            let res = call.await.unwrap();
            res.into_body().collect().await.unwrap().to_bytes()
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), Bytes::from(format!("{i}")));
    }
    idle(&handle).await;
    assert_eq!(rec.len(), 100);
    let stats = handle.stats();
    assert_eq!(
        (stats.seen, stats.mirrored, stats.completed),
        (100, 100, 100)
    );
    assert_idle(&handle);
}
