//! `HttpUpstream` against loopback servers: request rewriting, bodies, errors.

use std::convert::Infallible;
use std::error::Error as _;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use support::loopback::{Echoed, Proto, Server, closed_addr};
use support::{get, within};
use tokio::sync::{mpsc, oneshot};
use tower::{Service, ServiceExt, service_fn};
use tower_mirror::BoxError;
use tower_mirror::upstream::{HttpUpstream, UpstreamError};

#[test]
fn service_bounds() {
    fn service<S, B>()
    where
        S: Service<Request<B>, Response = Response<Incoming>, Error = UpstreamError>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + Sync + 'static,
    {
    }
    fn error<E: std::error::Error + Send + Sync + 'static>() {}

    // As a shadow, as a proxy of incoming requests, and with a boxed body.
    service::<HttpUpstream, Full<Bytes>>();
    service::<HttpUpstream, Incoming>();
    service::<HttpUpstream, UnsyncBoxBody<Bytes, BoxError>>();
    error::<UpstreamError>();
}

#[tokio::test]
async fn keeps_path_and_query_and_rewrites_host() {
    let server = Server::echo(Proto::Auto).await;
    let upstream: HttpUpstream = server.url().parse().unwrap();
    let req = Request::post("http://client-facing.example/v1/items?q=1&r=two")
        .header("host", "client-facing.example")
        .header("x-app", "kept")
        .body(Full::from("hi"))
        .unwrap();

    let echoed = Echoed::read(within(upstream.oneshot(req)).await.unwrap()).await;

    assert_eq!(echoed.method, "POST");
    assert_eq!(echoed.uri, "/v1/items?q=1&r=two");
    assert_eq!(echoed.header("host"), [server.addr.to_string()]);
    assert_eq!(echoed.header("x-app"), ["kept"]);
    assert_eq!(echoed.body, "hi");
}

#[tokio::test]
async fn joins_the_base_path_prefix() {
    let server = Server::echo(Proto::Auto).await;
    for base in [
        format!("{}/api", server.url()),
        format!("{}/api/", server.url()),
    ] {
        let upstream = HttpUpstream::new(base.parse().unwrap());
        let res = within(upstream.oneshot(get("/v1/x?q=1"))).await.unwrap();
        assert_eq!(Echoed::read(res).await.uri, "/api/v1/x?q=1", "base {base}");
    }
}

#[tokio::test]
async fn strips_hop_by_hop_headers() {
    let server = Server::echo(Proto::Auto).await;
    let upstream: HttpUpstream = server.url().parse().unwrap();
    let mut req = get("/");
    for (name, value) in [
        ("connection", "keep-alive, x-conn-named"),
        ("x-conn-named", "dropped"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
        ("proxy-authenticate", "Basic"),
        ("proxy-authorization", "Basic Zm9vOmJhcg=="),
        ("te", "trailers"),
        ("trailer", "x-checksum"),
        ("upgrade", "websocket"),
        ("x-end-to-end", "kept"),
    ] {
        req.headers_mut().append(name, value.parse().unwrap());
    }

    let echoed = Echoed::read(within(upstream.oneshot(req)).await.unwrap()).await;

    let mut names: Vec<&str> = echoed.headers.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["host", "x-end-to-end"], "{:?}", echoed.headers);
}

#[tokio::test]
async fn sends_http2_requests_as_http11() {
    let server = Server::echo(Proto::Auto).await;
    let upstream: HttpUpstream = server.url().parse().unwrap();
    // What an HTTP/2 server hands a handler: absolute URI, no `Host` header.
    let req = Request::get("https://client-facing.example/h2?x=1")
        .version(Version::HTTP_2)
        .body(Empty::<Bytes>::new())
        .unwrap();

    let echoed = Echoed::read(within(upstream.oneshot(req)).await.unwrap()).await;

    assert_eq!(echoed.version, "HTTP/1.1");
    assert_eq!(echoed.uri, "/h2?x=1");
    assert_eq!(echoed.header("host"), [server.addr.to_string()]);
}

#[tokio::test]
async fn large_streamed_body_arrives_byte_identical() {
    let server = Server::echo(Proto::Auto).await;
    let upstream: HttpUpstream = server.url().parse().unwrap();
    let payload: Vec<u8> = (0..100 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    // Unknown length, in uneven chunks: sent with chunked transfer-encoding.
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = payload
        .chunks(7_777)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(chunks));
    let req = Request::post("/upload").body(body).unwrap();

    let echoed = Echoed::read(within(upstream.oneshot(req)).await.unwrap()).await;

    assert_eq!(echoed.body.len(), payload.len());
    assert!(echoed.body == payload, "body bytes differ");
}

#[tokio::test]
async fn streams_the_response_body() {
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = std::sync::Arc::new(std::sync::Mutex::new(Some(release_rx)));
    let server = Server::serve(service_fn(move |_req: Request<Incoming>| {
        let release = release_rx.lock().unwrap().take().expect("one request");
        async move {
            let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
            tokio::spawn(async move {
                tx.send(Ok(Frame::data(Bytes::from("first"))))
                    .await
                    .unwrap();
                // The rest only once the client has seen the first chunk.
                release.await.unwrap();
                tx.send(Ok(Frame::data(Bytes::from("second"))))
                    .await
                    .unwrap();
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|frame| (frame, rx))
            });
            Ok::<_, Infallible>(Response::new(StreamBody::new(stream)))
        }
    }))
    .await;
    let upstream: HttpUpstream = server.url().parse().unwrap();

    let res = within(upstream.oneshot(get("/stream"))).await.unwrap();
    assert!(res.headers().get("content-length").is_none());
    let mut body = res.into_body();
    let first = within(body.frame()).await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "first");

    release_tx.send(()).unwrap();
    let second = within(body.frame()).await.unwrap().unwrap();
    assert_eq!(second.into_data().unwrap(), "second");
    assert!(within(body.frame()).await.is_none());
}

#[tokio::test]
async fn connection_refused_is_a_clear_connect_error() {
    let port = closed_addr().port();
    let upstream: HttpUpstream = format!("http://127.0.0.1:{port}").parse().unwrap();

    let err = within(upstream.oneshot(get("/"))).await.unwrap_err();

    assert!(err.is_connect(), "{err:?}");
    assert!(!err.is_timeout());
    assert_eq!(
        err.to_string(),
        format!("upstream http://127.0.0.1:{port}: connection refused")
    );
    assert!(err.source().is_some());
}

#[test]
fn calls_outside_a_runtime_fail_instead_of_panicking() {
    let upstream: HttpUpstream = "http://127.0.0.1:1".parse().unwrap();
    let err = upstream
        .oneshot(get("/"))
        .now_or_never()
        .expect("fails at once")
        .unwrap_err();
    assert!(err.is_no_runtime(), "{err:?}");
    assert!(err.to_string().contains("no Tokio runtime"), "{err}");
}

#[test]
fn from_str_refuses_bad_base_urls_with_reasons() {
    let cases = [
        (
            "127.0.0.1:9001",
            "upstream `127.0.0.1:9001`: invalid base URL: it has no scheme; \
             write it as `http://127.0.0.1:9001`",
        ),
        (
            "ftp://files.example/pub",
            "upstream `ftp://files.example/pub`: invalid base URL: \
             the scheme must be `http` or `https`, not `ftp`",
        ),
        (
            "http://",
            "upstream `http://`: invalid base URL: it has no host",
        ),
        (
            "http:///x",
            "upstream `http:///x`: invalid base URL: it has no host",
        ),
        (
            "http://:80",
            "upstream `http://:80`: invalid base URL: it has no host",
        ),
        (
            "/just/a/path",
            "upstream `/just/a/path`: invalid base URL: it has no scheme and host; \
             write it as `http:///just/a/path`",
        ),
        (
            "http://h:1/?x=1",
            "upstream `http://h:1/?x=1`: invalid base URL: a base URL cannot have a query",
        ),
    ];
    for (input, want) in cases {
        let err = input.parse::<HttpUpstream>().unwrap_err();
        assert!(err.is_invalid_url(), "{input}: {err:?}");
        assert_eq!(err.to_string(), want, "{input}");
    }
}

#[test]
#[should_panic(expected = "the scheme must be `http` or `https`, not `ftp`")]
fn new_panics_on_a_bad_base_url() {
    let _ = HttpUpstream::new(http::Uri::from_static("ftp://files.example"));
}

#[tokio::test]
async fn works_as_a_proxy_of_incoming_requests() {
    // A front server whose handler forwards its `Request<Incoming>` through the upstream.
    let backend = Server::echo(Proto::Auto).await;
    let upstream: HttpUpstream = backend.url().parse().unwrap();
    let front = Server::serve(service_fn(move |req: Request<Incoming>| {
        let upstream = upstream.clone();
        async move {
            let res = upstream.oneshot(req).await.unwrap();
            Ok::<_, Infallible>(res.map(|b| b.map_err(|e| -> Infallible { panic!("{e}") })))
        }
    }))
    .await;
    let client: HttpUpstream = front.url().parse().unwrap();

    let req = Request::put("/via/front?z=9")
        .body(Full::from("proxied body"))
        .unwrap();
    let echoed = Echoed::read(within(client.oneshot(req)).await.unwrap()).await;

    assert_eq!(echoed.method, "PUT");
    assert_eq!(echoed.uri, "/via/front?z=9");
    assert_eq!(echoed.header("host"), [backend.addr.to_string()]);
    assert_eq!(echoed.body, "proxied body");
}
