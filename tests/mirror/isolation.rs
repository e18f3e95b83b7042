//! Guarantee 2: the shadow is off the critical path. Whatever it does (sleep, hang, refuse, 5xx,
//! error in `poll_ready`, error, panic), the primary's status, body and latency are as without
//! it, and the outcome is counted.

use std::{sync::atomic::Ordering, time::Duration};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use support::*;
use tokio::time::Instant;
use tower::{BoxError, Layer, ServiceExt};
use tower_mirror::{MirrorHandle, MirrorLayer};

/// The primary reads its body (which dispatches the copy mid-call), then works for 10 ms, so a
/// primary that waited on the copy would show it in its latency.
const PRIMARY_WORK: Duration = Duration::from_millis(10);

fn request() -> Request<ScriptBody> {
    Request::post("/orders?id=1")
        .body(chunked(&[b"pay", b"load"], None))
        .unwrap()
}

struct Primary {
    status: StatusCode,
    body: Bytes,
    header: Option<String>,
    latency: Duration,
}

async fn call_primary<S>(mut svc: S) -> Primary
where
    S: tower::Service<
            Request<ScriptBody>,
            Response = http::Response<Full<Bytes>>,
            Error = BoxError,
        >,
{
    let start = Instant::now();
    let res = send(&mut svc, request()).await.expect("primary answers");
    let latency = start.elapsed();
    let (parts, body) = res.into_parts();
    Primary {
        status: parts.status,
        body: body.collect().await.unwrap().to_bytes(),
        header: parts
            .headers
            .get("x-primary")
            .map(|v| v.to_str().unwrap().to_owned()),
        latency,
    }
}

/// Runs the primary alone, then behind `layer`; asserts the client sees the same thing, just
/// as fast; waits for the copy and returns the handle.
async fn assert_isolated(name: &str, layer: MirrorLayer<Shadow>) -> (MirrorHandle, Events) {
    let alone = call_primary(Echo::with_delay(PRIMARY_WORK)).await;
    assert_eq!(alone.status, StatusCode::CREATED);
    assert_eq!(alone.body, Bytes::from_static(b"payload"));

    let events = Events::new();
    let layer = layer.on_event(events.hook());
    let handle = layer.handle();
    let mirrored = call_primary(layer.layer(Echo::with_delay(PRIMARY_WORK))).await;

    assert_eq!(mirrored.status, alone.status, "{name}: status");
    assert_eq!(mirrored.body, alone.body, "{name}: body");
    assert_eq!(mirrored.header, alone.header, "{name}: headers");
    assert!(
        mirrored.latency <= alone.latency + Duration::from_millis(250),
        "{name}: primary took {:?} with the shadow, {:?} without",
        mirrored.latency,
        alone.latency
    );

    idle(&handle).await;
    assert_idle(&handle);
    let stats = handle.stats();
    assert_eq!((stats.seen, stats.mirrored), (1, 1), "{name}: {stats:?}");
    assert_eq!(events.outcomes().len(), 1, "{name}: one outcome event");
    (handle, events)
}

#[tokio::test(start_paused = true)]
async fn shadow_that_sleeps_does_not_slow_the_primary() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(sleeping_shadow(&rec, Duration::from_secs(2)))
        .timeout(Duration::from_secs(5));
    let start = Instant::now();
    let (handle, events) = assert_isolated("sleeping", layer).await;
    assert_eq!(handle.stats().completed, 1);
    // The copy did run its full 2 s, after the primary had answered.
    assert!(start.elapsed() >= Duration::from_secs(2));
    match &events.outcomes()[0] {
        Ev::Completed(status, latency) => {
            assert_eq!(*status, StatusCode::OK);
            assert!(*latency >= Duration::from_secs(2), "latency {latency:?}");
        }
        other => panic!("expected Completed, got {other:?}"),
    }
    assert_eq!(rec.only().body, Bytes::from_static(b"payload"));
}

#[tokio::test(start_paused = true)]
async fn shadow_that_hangs_forever_is_timed_out() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(hung_shadow(&rec)).timeout(Duration::from_secs(1));
    let (handle, events) = assert_isolated("hung", layer).await;
    assert_eq!(handle.stats().timed_out, 1);
    assert_eq!(events.outcomes(), vec![Ev::TimedOut]);
}

#[tokio::test(start_paused = true)]
async fn shadow_erroring_in_poll_ready_is_failed() {
    let shadow = ReadyErrorShadow::default();
    let calls = shadow.calls.clone();
    let layer = MirrorLayer::new(boxed(shadow)).timeout(Duration::from_secs(1));
    let (handle, events) = assert_isolated("poll_ready error", layer).await;
    assert_eq!(handle.stats().failed, 1);
    assert!(matches!(events.outcomes()[0], Ev::Failed(..)));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "call after a readiness error"
    );
}

#[tokio::test(start_paused = true)]
async fn shadow_never_ready_is_timed_out() {
    let shadow = NeverReadyShadow::default();
    let calls = shadow.calls.clone();
    let layer = MirrorLayer::new(boxed(shadow)).timeout(Duration::from_secs(1));
    let (handle, _) = assert_isolated("never ready", layer).await;
    assert_eq!(handle.stats().timed_out, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn shadow_panicking_in_call_is_failed() {
    let layer = MirrorLayer::new(panicking_call_shadow()).timeout(Duration::from_secs(1));
    let (handle, events) = assert_isolated("panic in call", layer).await;
    assert_eq!(handle.stats().failed, 1);
    assert!(matches!(events.outcomes()[0], Ev::Failed(..)));
}

#[tokio::test(start_paused = true)]
async fn shadow_panicking_in_its_future_is_failed() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(panicking_future_shadow(&rec)).timeout(Duration::from_secs(1));
    let (handle, _) = assert_isolated("panic in future", layer).await;
    assert_eq!(handle.stats().failed, 1);
    assert_eq!(rec.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn shadow_returning_500_is_completed() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(status_shadow(&rec, 500)).timeout(Duration::from_secs(1));
    let (handle, events) = assert_isolated("500", layer).await;
    let stats = handle.stats();
    assert_eq!((stats.completed, stats.failed), (1, 0));
    assert!(matches!(
        events.outcomes()[0],
        Ev::Completed(StatusCode::INTERNAL_SERVER_ERROR, _)
    ));
}

#[tokio::test(start_paused = true)]
async fn shadow_returning_an_error_is_failed() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(failing_shadow(&rec)).timeout(Duration::from_secs(1));
    let (handle, events) = assert_isolated("error", layer).await;
    assert_eq!(handle.stats().failed, 1);
    match &events.outcomes()[0] {
        Ev::Failed(_, error) => assert!(
            error.contains("shadow exploded"),
            "error text should carry the shadow's error: {error:?}"
        ),
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// A real HTTP client towards a closed port on 127.0.0.1 (real time: real sockets).
#[tokio::test]
async fn shadow_refusing_connections_is_failed() {
    use hyper_util::{client::legacy::Client, rt::TokioExecutor};

    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }; // dropped: nothing listens there now
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let shadow = client
        .map_response(|res| res.map(|b| b.map_err(BoxError::from).boxed_unsync()))
        .map_err(BoxError::from);
    let layer = MirrorLayer::new(boxed(shadow))
        .timeout(Duration::from_secs(5))
        .map_request(move |parts: &mut http::request::Parts| {
            parts.uri = format!("http://{addr}/orders?id=1").parse().unwrap();
        });
    let (handle, _) = assert_isolated("connection refused", layer).await;
    assert_eq!(handle.stats().failed, 1);
}
