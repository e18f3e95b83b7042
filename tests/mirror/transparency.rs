//! Guarantee 1: with the layer on, the primary sees exactly what it would see without it, and the
//! client gets the primary's response (or error) unchanged.

use std::{
    fmt,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use support::*;
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_mirror::{MirrorBody, MirrorHandle, MirrorLayer, Oversize};

fn rich_request() -> Request<ScriptBody> {
    let mut req = Request::builder()
        .method(Method::PATCH)
        .uri("http://example.com:8080/a/b?x=1&y=%20z")
        .version(Version::HTTP_11)
        .header("host", "example.com:8080")
        .header("content-type", "application/json")
        .header("accept", "text/plain")
        .header("accept", "application/json")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "1")
        .header("te", "trailers")
        .header("trailer", "x-checksum")
        .header("transfer-encoding", "chunked")
        .header("authorization", "Bearer secret")
        .header("cookie", "session=1")
        .body(chunked(
            &[b"{\"a\":", b"", b"1}"],
            Some(trailers(&[("x-checksum", "abc"), ("x-checksum", "def")])),
        ))
        .unwrap();
    req.extensions_mut().insert(Marker(42));
    req
}

fn http2_request() -> Request<Empty<Bytes>> {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri("https://example.com/h2?q")
        .version(Version::HTTP_2)
        .header("x-request-id", "abc")
        .body(Empty::new())
        .unwrap();
    req.extensions_mut().insert(Marker(2));
    req
}

/// Everything observable on both sides of one exchange.
#[derive(Debug)]
struct Exchange {
    seen: Seen,
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
    marker: Option<Marker>,
}

async fn exchange<S, R>(mut svc: S, echo: &Echo, req: R) -> Exchange
where
    S: Service<R, Response = Response<Full<Bytes>>, Error = BoxError>,
{
    let res = send(&mut svc, req).await.expect("primary answers");
    let (parts, body) = res.into_parts();
    Exchange {
        seen: echo.only(),
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
        marker: parts.extensions.get::<Marker>().cloned(),
    }
}

fn assert_same(name: &str, direct: &Exchange, layered: &Exchange) {
    let (d, l) = (&direct.seen, &layered.seen);
    assert_eq!(d.parts.method, l.parts.method, "{name}: method");
    assert_eq!(d.parts.uri, l.parts.uri, "{name}: uri");
    assert_eq!(d.parts.version, l.parts.version, "{name}: version");
    assert_eq!(d.parts.headers, l.parts.headers, "{name}: headers");
    assert_eq!(
        d.parts.extensions.get::<Marker>(),
        l.parts.extensions.get::<Marker>(),
        "{name}: extension"
    );
    assert_eq!(
        d.parts.extensions.len(),
        l.parts.extensions.len(),
        "{name}: number of extensions"
    );
    assert_eq!(d.body, l.body, "{name}: body");
    assert_eq!(d.trailers, l.trailers, "{name}: trailers");

    assert_eq!(direct.status, layered.status, "{name}: response status");
    assert_eq!(direct.version, layered.version, "{name}: response version");
    assert_eq!(direct.headers, layered.headers, "{name}: response headers");
    assert_eq!(direct.body, layered.body, "{name}: response body");
    assert_eq!(direct.marker, layered.marker, "{name}: response extension");
}

/// Layers covering every path a request can take: mirrored, rewritten copy, skipped for
/// several reasons, headers-only, failing shadow.
fn layers() -> Vec<(&'static str, MirrorLayer<Shadow>)> {
    let rec = Recorder::new();
    vec![
        ("default", MirrorLayer::new(recording_shadow(&rec))),
        (
            "every copy knob",
            MirrorLayer::new(recording_shadow(&rec))
                .host_suffix("-shadow")
                .header("x-mirrored-by", "tower-mirror")
                .strip_credentials()
                .remove_header("accept")
                .map_request(|parts: &mut http::request::Parts| {
                    parts.method = Method::PUT;
                    parts.uri = "/rewritten".parse().unwrap();
                    parts.headers.insert("x-rewritten", "1".parse().unwrap());
                    parts.extensions.insert(Marker(99));
                })
                .timeout(Duration::from_secs(1))
                .circuit_breaker(2, Duration::from_secs(1))
                .seed(3),
        ),
        (
            "sampled out",
            MirrorLayer::new(recording_shadow(&rec)).sample_percent(0.0),
        ),
        (
            "filtered out",
            MirrorLayer::new(recording_shadow(&rec)).filter(|_: &http::request::Parts| false),
        ),
        (
            "oversize skip",
            MirrorLayer::new(recording_shadow(&rec)).max_body_bytes(3),
        ),
        (
            "oversize headers only",
            MirrorLayer::new(recording_shadow(&rec))
                .max_body_bytes(3)
                .on_oversize(Oversize::HeadersOnly),
        ),
        (
            "tiny buffer budget",
            MirrorLayer::new(recording_shadow(&rec)).max_buffered_bytes(1),
        ),
        ("failing shadow", MirrorLayer::new(failing_shadow(&rec))),
    ]
}

#[tokio::test]
async fn primary_sees_the_same_request_and_client_the_same_response() {
    let echo = Echo::new();
    let direct = exchange(echo.clone(), &echo, rich_request()).await;
    assert_eq!(direct.seen.body, Bytes::from_static(b"{\"a\":1}"));
    assert!(direct.seen.trailers.is_some());

    for (name, layer) in layers() {
        let handle: MirrorHandle = layer.handle();
        let echo = Echo::new();
        let layered = exchange(layer.layer(echo.clone()), &echo, rich_request()).await;
        assert_same(name, &direct, &layered);
        idle(&handle).await;
        assert_eq!(handle.stats().seen, 1, "{name}: the layer saw the request");
        assert_idle(&handle);
    }
}

#[tokio::test]
async fn http2_request_with_empty_body_is_unchanged() {
    let echo = Echo::new();
    let direct = exchange(echo.clone(), &echo, http2_request()).await;
    for (name, layer) in layers() {
        let handle = layer.handle();
        let echo = Echo::new();
        let layered = exchange(layer.layer(echo.clone()), &echo, http2_request()).await;
        assert_same(name, &direct, &layered);
        idle(&handle).await;
        assert_eq!(handle.stats().seen, 1, "{name}");
    }
}

#[tokio::test]
async fn frames_reach_the_primary_one_to_one() {
    let rec = Recorder::new();
    let capture = Capture::new();
    let mut svc = MirrorLayer::new(recording_shadow(&rec)).layer(capture.clone());
    let t = trailers(&[("x-sum", "1")]);
    let req = Request::post("/")
        .body(chunked(&[b"ab", b"cde", b"f"], Some(t.clone())))
        .unwrap();
    send(&mut svc, req).await.unwrap();
    let mut body = capture.take().into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.unwrap());
    }
    assert_eq!(frames.len(), 4);
    for (frame, want) in frames.iter().zip([&b"ab"[..], b"cde", b"f"]) {
        assert_eq!(frame.data_ref().map(|d| &d[..]), Some(want));
    }
    assert_eq!(frames[3].trailers_ref(), Some(&t));
}

#[tokio::test]
async fn size_hint_and_end_of_stream_pass_through() {
    let rec = Recorder::new();

    // Full: exact hint, not at end until its frame is read, then at end.
    let capture = Capture::<MirrorBody<Full<Bytes>>>::new();
    let mut svc = MirrorLayer::new(recording_shadow(&rec)).layer(capture.clone());
    send(&mut svc, post("/", "hello")).await.unwrap();
    let mut body = capture.take().into_body();
    let inner = Full::new(Bytes::from_static(b"hello"));
    assert_eq!(body.size_hint().exact(), inner.size_hint().exact());
    assert_eq!(body.size_hint().exact(), Some(5));
    assert!(!body.is_end_stream());
    assert_eq!(read_data(&mut body).await, 5);
    assert!(body.is_end_stream());

    // Empty: at end from the start.
    let capture = Capture::<MirrorBody<Empty<Bytes>>>::new();
    let mut svc = MirrorLayer::new(recording_shadow(&rec)).layer(capture.clone());
    send(&mut svc, Request::new(Empty::<Bytes>::new()))
        .await
        .unwrap();
    let body = capture.take().into_body();
    assert!(body.is_end_stream());
    assert_eq!(body.size_hint().exact(), Some(0));

    // Stream: unknown length stays unknown.
    let capture = Capture::<MirrorBody<ScriptBody>>::new();
    let mut svc = MirrorLayer::new(recording_shadow(&rec)).layer(capture.clone());
    send(&mut svc, Request::new(chunked(&[b"x"], None)))
        .await
        .unwrap();
    let body = capture.take().into_body();
    let inner = chunked(&[b"x"], None);
    assert_eq!(body.size_hint().lower(), inner.size_hint().lower());
    assert_eq!(body.size_hint().upper(), inner.size_hint().upper());
    assert!(!body.is_end_stream());
}

#[derive(Debug, PartialEq, Eq)]
struct PrimaryError(&'static str);

impl fmt::Display for PrimaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for PrimaryError {}

#[tokio::test]
async fn primary_errors_pass_through_unchanged() {
    let rec = Recorder::new();
    let primary = tower::service_fn(|req: Request<MirrorBody<Full<Bytes>>>| async move {
        // Read the body so a copy is dispatched before the error.
        req.into_body().collect().await.unwrap();
        Err::<Response<Full<Bytes>>, _>(PrimaryError("database down"))
    });
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(primary);
    let err: PrimaryError = send(&mut svc, post("/", "x")).await.unwrap_err();
    assert_eq!(err, PrimaryError("database down"));
    idle(&handle).await;
    // The copy is independent of the primary's outcome.
    assert_eq!(rec.only().body, Bytes::from_static(b"x"));
}

/// A primary whose readiness fails.
#[derive(Clone)]
struct NotReadyPrimary;

impl<B> Service<Request<B>> for NotReadyPrimary {
    type Response = Response<Full<Bytes>>;
    type Error = PrimaryError;
    type Future = std::future::Ready<Result<Self::Response, PrimaryError>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), PrimaryError>> {
        Poll::Ready(Err(PrimaryError("overloaded")))
    }
    fn call(&mut self, _: Request<B>) -> Self::Future {
        unreachable!("never ready")
    }
}

#[tokio::test]
async fn primary_readiness_errors_pass_through_unchanged() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let mut svc = layer.layer(NotReadyPrimary);
    let err = ServiceExt::<Request<Full<Bytes>>>::ready(&mut svc)
        .await
        .err()
        .expect("readiness error passes through");
    assert_eq!(err, PrimaryError("overloaded"));
    idle(&handle).await;
    assert!(rec.is_empty());
    assert_eq!(handle.stats().seen, 0, "no request was called");
}
