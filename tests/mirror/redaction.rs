//! Redaction: `remove_header`, `strip_credentials` and `map_request` change the copy only.

use bytes::Bytes;
use http::{Method, Request, request::Parts};
use http_body_util::Full;
use support::*;
use tower::Layer;
use tower_mirror::MirrorLayer;

fn secret_request() -> Request<Full<Bytes>> {
    Request::post("/account?user=1")
        .header("authorization", "Bearer a")
        .header("authorization", "Bearer b")
        .header("proxy-authorization", "Basic cA==")
        .header("cookie", "session=1")
        .header("cookie", "theme=dark")
        .header("x-secret", "s3cr3t")
        .header("x-other", "keep")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap()
}

async fn run(layer: MirrorLayer<Shadow>, rec: &Recorder) -> (Received, Seen) {
    let handle = layer.handle();
    let echo = Echo::new();
    let mut svc = layer.layer(echo.clone());
    send(&mut svc, secret_request()).await.unwrap();
    idle(&handle).await;
    assert_idle(&handle);
    (rec.only(), echo.only())
}

fn assert_primary_untouched(seen: &Seen) {
    let direct = secret_request();
    assert_eq!(
        seen.parts.headers,
        *direct.headers(),
        "the primary's headers changed"
    );
    assert_eq!(seen.parts.uri, *direct.uri());
    assert_eq!(seen.parts.method, Method::POST);
    assert_eq!(seen.body, Bytes::from_static(b"payload"));
}

#[tokio::test]
async fn remove_header_drops_every_value_from_the_copy_only() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .remove_header("authorization")
        .remove_header("X-Secret");
    let (copy, seen) = run(layer, &rec).await;
    assert!(copy.parts.headers.get("authorization").is_none());
    assert!(
        copy.parts.headers.get("x-secret").is_none(),
        "names are case-insensitive"
    );
    assert_eq!(copy.parts.headers.get_all("cookie").iter().count(), 2);
    assert_eq!(copy.header("x-other"), Some("keep"));
    assert_eq!(copy.body, Bytes::from_static(b"payload"));
    assert_primary_untouched(&seen);
}

#[tokio::test]
async fn strip_credentials_removes_authorization_proxy_authorization_and_cookie() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).strip_credentials();
    let (copy, seen) = run(layer, &rec).await;
    for name in ["authorization", "proxy-authorization", "cookie"] {
        assert!(
            copy.parts.headers.get(name).is_none(),
            "{name} reached the shadow"
        );
    }
    assert_eq!(copy.header("x-secret"), Some("s3cr3t"));
    assert_eq!(copy.header("x-other"), Some("keep"));
    assert_primary_untouched(&seen);
}

#[tokio::test]
async fn map_request_rewrites_the_copy_only() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).map_request(|parts: &mut Parts| {
        parts.method = Method::PUT;
        parts.uri = "/v2/account?user=1&shadow=1".parse().unwrap();
        parts.headers.remove("x-secret");
        parts.headers.insert("x-shadow", "1".parse().unwrap());
    });
    let (copy, seen) = run(layer, &rec).await;
    assert_eq!(copy.parts.method, Method::PUT);
    assert_eq!(
        copy.parts.uri.path_and_query().unwrap(),
        "/v2/account?user=1&shadow=1"
    );
    assert!(copy.parts.headers.get("x-secret").is_none());
    assert_eq!(copy.header("x-shadow"), Some("1"));
    assert_eq!(copy.body, Bytes::from_static(b"payload"));
    assert_primary_untouched(&seen);
    assert!(seen.parts.headers.get("x-shadow").is_none());
}

#[tokio::test]
async fn redaction_applies_to_every_copy() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec)).strip_credentials();
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for _ in 0..5 {
        send(&mut svc, secret_request()).await.unwrap();
    }
    idle(&handle).await;
    let copies = rec.all();
    assert_eq!(copies.len(), 5);
    for copy in copies {
        assert!(copy.parts.headers.get("authorization").is_none());
        assert!(copy.parts.headers.get("cookie").is_none());
    }
}
