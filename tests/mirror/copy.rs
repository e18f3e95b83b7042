//! Guarantee 3: what the shadow receives. Same method, path and query, end-to-end headers and body
//! bytes; no hop-by-hop headers, no trailers, no extensions; `host_suffix` and extra headers.

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use support::*;
use tower::Layer;
use tower_mirror::MirrorLayer;

async fn copy_of<B>(layer: MirrorLayer<Shadow>, rec: &Recorder, req: Request<B>) -> (Received, Seen)
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<tower::BoxError>,
    tower_mirror::Mirror<Echo, Shadow>:
        tower::Service<Request<B>, Response = http::Response<Full<Bytes>>, Error = tower::BoxError>,
{
    let handle = layer.handle();
    let echo = Echo::new();
    let mut svc = layer.layer(echo.clone());
    send(&mut svc, req).await.unwrap();
    idle(&handle).await;
    assert_idle(&handle);
    (rec.only(), echo.only())
}

fn values<'a>(map: &'a http::HeaderMap, name: &str) -> Vec<&'a str> {
    map.get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[tokio::test]
async fn copy_has_method_path_query_headers_and_body() {
    let rec = Recorder::new();
    let req = Request::builder()
        .method(Method::PUT)
        .uri("http://api.local/items/7?q=a%20b&x=1")
        .header("content-type", "application/json")
        .header("content-length", "11")
        .header("x-custom", "one")
        .header("x-custom", "two")
        .header("user-agent", "test")
        .body(chunked(&[b"hello ", b"world"], None))
        .unwrap();
    let (copy, _) = copy_of(MirrorLayer::new(recording_shadow(&rec)), &rec, req).await;
    assert_eq!(copy.parts.method, Method::PUT);
    assert_eq!(
        copy.parts.uri.path_and_query().map(|p| p.as_str()),
        Some("/items/7?q=a%20b&x=1")
    );
    assert_eq!(values(&copy.parts.headers, "x-custom"), ["one", "two"]);
    assert_eq!(copy.header("content-type"), Some("application/json"));
    assert_eq!(copy.header("content-length"), Some("11"));
    assert_eq!(copy.header("user-agent"), Some("test"));
    assert_eq!(copy.body, Bytes::from_static(b"hello world"));
}

#[tokio::test]
async fn custom_methods_are_copied() {
    let rec = Recorder::new();
    let req = Request::builder()
        .method(Method::from_bytes(b"PURGE").unwrap())
        .uri("/cache/x")
        .body(Full::new(Bytes::from_static(b"")))
        .unwrap();
    let (copy, _) = copy_of(MirrorLayer::new(recording_shadow(&rec)), &rec, req).await;
    assert_eq!(copy.parts.method.as_str(), "PURGE");
    assert_eq!(copy.parts.uri.path(), "/cache/x");
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_copied() {
    let rec = Recorder::new();
    let hop = [
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "x-hop-one",
        "x-hop-two",
        "x-hop-three",
    ];
    let req = Request::post("/submit")
        .header("connection", "keep-alive, x-hop-one,X-Hop-Two")
        .header("connection", "x-hop-three")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("proxy-connection", "keep-alive")
        .header("te", "trailers")
        .header("trailer", "x-checksum")
        .header("transfer-encoding", "chunked")
        .header("x-hop-one", "1")
        .header("x-hop-two", "2")
        .header("x-hop-three", "3")
        .header("x-keep", "yes")
        .header("accept", "*/*")
        .body(chunked(&[b"abc"], None))
        .unwrap();
    let (copy, primary) = copy_of(MirrorLayer::new(recording_shadow(&rec)), &rec, req).await;
    for name in hop {
        assert!(
            copy.parts.headers.get(name).is_none(),
            "hop-by-hop header {name} reached the shadow"
        );
        assert!(
            primary.parts.headers.get(name).is_some(),
            "the primary lost {name}"
        );
    }
    assert_eq!(copy.header("x-keep"), Some("yes"));
    assert_eq!(copy.header("accept"), Some("*/*"));
    assert_eq!(copy.body, Bytes::from_static(b"abc"));
}

#[tokio::test]
async fn every_proxy_star_header_is_not_copied() {
    // Guarantee 3 lists `proxy-*` among the hop-by-hop headers: the whole family, not
    // only the registered `proxy-authorization`, `proxy-authenticate` and `proxy-connection`.
    let rec = Recorder::new();
    let req = Request::get("/")
        .header("proxy-authenticate", "Basic")
        .header("proxy-foo", "bar")
        .header("proxy-client-ip", "10.0.0.1")
        .header("x-proxy-kept", "yes")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (copy, primary) = copy_of(MirrorLayer::new(recording_shadow(&rec)), &rec, req).await;
    for name in ["proxy-authenticate", "proxy-foo", "proxy-client-ip"] {
        assert!(
            copy.parts.headers.get(name).is_none(),
            "{name} (proxy-*) reached the shadow"
        );
        assert!(primary.parts.headers.get(name).is_some());
    }
    assert_eq!(copy.header("x-proxy-kept"), Some("yes"));
}

#[tokio::test]
async fn upgrade_header_never_reaches_the_shadow() {
    // `Upgrade` without `Connection: upgrade` is not an upgrade in HTTP/1.1; the request may be
    // mirrored or skipped as an upgrade, but a copy must not carry the header.
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    let req = Request::get("/")
        .header("upgrade", "h2c")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(&mut svc, req).await.unwrap();
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!(stats.mirrored + stats.skipped_upgrade, 1, "{stats:?}");
    for copy in rec.all() {
        assert!(copy.parts.headers.get("upgrade").is_none());
    }
}

async fn host_case(host: Option<&str>, uri: &str) -> (Received, Seen) {
    let rec = Recorder::new();
    let mut req = Request::get(uri);
    if let Some(host) = host {
        req = req.header("host", host);
    }
    let req = req.body(Full::new(Bytes::new())).unwrap();
    let layer = MirrorLayer::new(recording_shadow(&rec)).host_suffix("-shadow");
    copy_of(layer, &rec, req).await
}

#[tokio::test]
async fn host_suffix_rewrites_the_host_header() {
    let (copy, primary) = host_case(Some("httpbin:8000"), "/status/200").await;
    assert_eq!(copy.header("host"), Some("httpbin-shadow:8000"));
    assert_eq!(
        primary.parts.headers.get("host").unwrap(),
        "httpbin:8000",
        "the primary keeps its Host"
    );
    assert_eq!(copy.parts.uri.path(), "/status/200");

    let (copy, _) = host_case(Some("httpbin"), "/").await;
    assert_eq!(copy.header("host"), Some("httpbin-shadow"));
}

#[tokio::test]
async fn host_suffix_rewrites_the_authority_without_a_host_header() {
    let (copy, primary) = host_case(None, "http://httpbin:8000/get?a=1").await;
    assert_eq!(
        copy.parts.uri.authority().map(|a| a.as_str()),
        Some("httpbin-shadow:8000")
    );
    assert_eq!(copy.parts.uri.path_and_query().unwrap(), "/get?a=1");
    assert_eq!(primary.parts.uri, "http://httpbin:8000/get?a=1");

    let (copy, _) = host_case(None, "http://httpbin/get").await;
    assert_eq!(
        copy.parts.uri.authority().map(|a| a.as_str()),
        Some("httpbin-shadow")
    );
}

#[tokio::test]
async fn host_suffix_without_any_host_changes_nothing() {
    let (copy, _) = host_case(None, "/only/a/path").await;
    assert_eq!(copy.parts.uri.path(), "/only/a/path");
    assert!(copy.parts.uri.authority().is_none());
    assert!(copy.parts.headers.get("host").is_none());
}

#[tokio::test]
async fn extra_headers_go_on_the_copy_only() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec))
        .header("x-mirrored-by", "tower-mirror")
        .header("x-env", "shadow");
    let (copy, primary) = copy_of(layer, &rec, post("/", "b")).await;
    assert_eq!(copy.header("x-mirrored-by"), Some("tower-mirror"));
    assert_eq!(copy.header("x-env"), Some("shadow"));
    assert!(primary.parts.headers.get("x-mirrored-by").is_none());
    assert!(primary.parts.headers.get("x-env").is_none());
}

#[tokio::test]
async fn trailers_are_not_sent_to_the_shadow() {
    let rec = Recorder::new();
    let req = Request::post("/upload")
        .header("trailer", "x-checksum")
        .body(chunked(
            &[b"part1", b"part2"],
            Some(trailers(&[("x-checksum", "c0ffee")])),
        ))
        .unwrap();
    let (copy, primary) = copy_of(MirrorLayer::new(recording_shadow(&rec)), &rec, req).await;
    assert_eq!(copy.body, Bytes::from_static(b"part1part2"));
    assert!(
        copy.parts.headers.get("x-checksum").is_none(),
        "trailers must not be folded into the copy's headers"
    );
    assert!(copy.parts.headers.get("trailer").is_none());
    assert_eq!(
        primary.trailers,
        Some(trailers(&[("x-checksum", "c0ffee")])),
        "the primary still gets its trailers"
    );
}

#[tokio::test]
async fn copy_never_carries_the_primarys_extensions() {
    let rec = Recorder::new();
    let mut req = post("/", "x");
    req.extensions_mut().insert(Marker(42));
    let (copy, primary) = copy_of(MirrorLayer::new(recording_shadow(&rec)), &rec, req).await;
    assert!(copy.parts.extensions.get::<Marker>().is_none());
    assert_eq!(primary.parts.extensions.get::<Marker>(), Some(&Marker(42)));
}

#[tokio::test]
async fn each_request_gets_its_own_copy() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for i in 0..5 {
        let req = Request::post(format!("/n/{i}"))
            .body(Full::new(Bytes::from(format!("body-{i}"))))
            .unwrap();
        send(&mut svc, req).await.unwrap();
    }
    idle(&handle).await;
    let mut copies: Vec<(String, Bytes)> = rec
        .all()
        .into_iter()
        .map(|c| (c.parts.uri.path().to_owned(), c.body))
        .collect();
    copies.sort();
    let want: Vec<(String, Bytes)> = (0..5)
        .map(|i| (format!("/n/{i}"), Bytes::from(format!("body-{i}"))))
        .collect();
    assert_eq!(copies, want);
}
