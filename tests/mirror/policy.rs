//! Guarantee 6 and the filter: upgrades (WebSocket, `CONNECT`) are never mirrored, and a filter can
//! exclude requests; both are counted and leave the primary untouched.

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use support::*;
use tower::Layer;
use tower_mirror::MirrorLayer;

async fn run_one(
    layer: MirrorLayer<Shadow>,
    req: Request<Full<Bytes>>,
) -> (tower_mirror::MirrorStats, Events, Seen) {
    let events = Events::new();
    let layer = layer.on_event(events.hook());
    let handle = layer.handle();
    let echo = Echo::new();
    let mut svc = layer.layer(echo.clone());
    send(&mut svc, req).await.unwrap();
    idle(&handle).await;
    assert_idle(&handle);
    (handle.stats(), events, echo.only())
}

#[tokio::test]
async fn websocket_upgrade_is_never_mirrored() {
    for connection in ["upgrade", "Upgrade", "keep-alive, Upgrade"] {
        let rec = Recorder::new();
        let req = Request::get("/chat")
            .header("connection", connection)
            .header("upgrade", "websocket")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (stats, events, seen) = run_one(MirrorLayer::new(recording_shadow(&rec)), req).await;
        assert!(rec.is_empty(), "{connection}: upgrade mirrored");
        assert_eq!(
            (stats.seen, stats.skipped_upgrade),
            (1, 1),
            "{connection}: {stats:?}"
        );
        assert_eq!(events.decisions(), vec![Ev::Skipped(Skip::Upgrade)]);
        // The primary still gets the upgrade headers it needs.
        assert_eq!(seen.parts.headers.get("upgrade").unwrap(), "websocket");
        assert_eq!(seen.parts.headers.get("connection").unwrap(), connection);
    }
}

#[tokio::test]
async fn connect_is_never_mirrored() {
    let rec = Recorder::new();
    let req = Request::builder()
        .method(Method::CONNECT)
        .uri("example.com:443")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (stats, events, seen) = run_one(MirrorLayer::new(recording_shadow(&rec)), req).await;
    assert!(rec.is_empty());
    assert_eq!(
        (stats.seen, stats.skipped_upgrade, stats.mirrored),
        (1, 1, 0)
    );
    assert_eq!(events.decisions(), vec![Ev::Skipped(Skip::Upgrade)]);
    assert_eq!(seen.parts.method, Method::CONNECT);
}

#[tokio::test]
async fn plain_requests_with_connection_headers_are_still_mirrored() {
    let rec = Recorder::new();
    let req = Request::get("/")
        .header("connection", "keep-alive")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (stats, _, _) = run_one(MirrorLayer::new(recording_shadow(&rec)), req).await;
    assert_eq!((stats.mirrored, stats.skipped_upgrade), (1, 0));
    assert_eq!(rec.len(), 1);
}

#[tokio::test]
async fn filter_rejecting_post_skips_post_only() {
    let rec = Recorder::new();
    let events = Events::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .filter(|parts: &http::request::Parts| parts.method != Method::POST)
        .on_event(events.hook());
    let handle = layer.handle();
    let echo = Echo::new();
    let mut svc = layer.layer(echo.clone());
    send(&mut svc, post("/write", "data")).await.unwrap();
    send(&mut svc, get("/read")).await.unwrap();
    send(&mut svc, post("/write", "more")).await.unwrap();
    idle(&handle).await;

    let stats = handle.stats();
    assert_eq!(
        (stats.seen, stats.skipped_filter, stats.mirrored),
        (3, 2, 1),
        "{stats:?}"
    );
    assert_eq!(rec.only().parts.method, Method::GET);
    assert_eq!(
        events.decisions(),
        vec![
            Ev::Skipped(Skip::Filter),
            Ev::Dispatched,
            Ev::Skipped(Skip::Filter)
        ]
    );
    assert_eq!(
        echo.seen.lock().unwrap().len(),
        3,
        "the primary got every request"
    );
    assert_idle(&handle);
}

#[tokio::test]
async fn filter_sees_the_request_head() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).filter(|parts: &http::request::Parts| {
        parts.headers.get("x-no-mirror").is_none() && parts.uri.path().starts_with("/api")
    });
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    send(&mut svc, get("/api/a")).await.unwrap();
    send(&mut svc, get("/static/b")).await.unwrap();
    let req = Request::get("/api/c")
        .header("x-no-mirror", "1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(&mut svc, req).await.unwrap();
    idle(&handle).await;
    assert_eq!(rec.only().parts.uri.path(), "/api/a");
    assert_eq!(handle.stats().skipped_filter, 2);
}
