//! `HttpUpstream`'s shared connection pool, and HTTP/2 with prior knowledge.

use bytes::Bytes;
use futures_util::future::join_all;
use http::Request;
use http_body_util::{BodyExt, Empty};
use support::loopback::{Echoed, Proto, Server};
use support::{get, within};
use tower::ServiceExt;
use tower_mirror::upstream::HttpUpstream;

#[tokio::test]
async fn sequential_requests_reuse_pooled_connections() {
    let server = Server::echo(Proto::Auto).await;
    let upstream: HttpUpstream = server.url().parse().unwrap();

    for i in 0..200 {
        // Alternate clones: they must share one pool.
        let svc = upstream.clone();
        let res = within(svc.oneshot(get(&format!("/n/{i}")))).await.unwrap();
        // Reading the body to its end hands the connection back to the pool.
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(body.starts_with(format!("method GET\nuri /n/{i}\n").as_bytes()));
    }

    let accepted = server.accepted();
    assert!(accepted <= 5, "200 requests opened {accepted} connections");
}

#[tokio::test]
async fn pool_max_idle_zero_disables_reuse() {
    let server = Server::echo(Proto::Auto).await;
    let upstream = HttpUpstream::builder()
        .pool_max_idle_per_host(0)
        .build(server.url().parse().unwrap())
        .unwrap();

    for _ in 0..5 {
        let res = within(upstream.clone().oneshot(get("/"))).await.unwrap();
        res.into_body().collect().await.unwrap();
    }

    assert_eq!(server.accepted(), 5);
}

#[tokio::test]
async fn http2_prior_knowledge_multiplexes_on_one_connection() {
    let server = Server::echo(Proto::Http2Only).await;
    let upstream = HttpUpstream::builder()
        .http2_prior_knowledge()
        .build(format!("{}/api", server.url()).parse().unwrap())
        .unwrap();

    // The first request opens the connection; the rest share it concurrently.
    let first = within(upstream.clone().oneshot(get("/warm")))
        .await
        .unwrap();
    assert_eq!(Echoed::read(first).await.version, "HTTP/2.0");

    let calls = (0..20).map(|i| {
        let upstream = upstream.clone();
        async move {
            let req = Request::get(format!("/c/{i}?q={i}"))
                .header("host", "client-facing.example")
                .body(Empty::<Bytes>::new())
                .unwrap();
            Echoed::read(upstream.oneshot(req).await.unwrap()).await
        }
    });
    let echoed = within(join_all(calls)).await;

    for (i, e) in echoed.iter().enumerate() {
        assert_eq!(e.version, "HTTP/2.0");
        // The authority travels in `:authority`; the client's `Host` is not forwarded.
        assert_eq!(e.uri, format!("{}/api/c/{i}?q={i}", server.url()));
        assert!(e.header("host").is_empty(), "{:?}", e.headers);
    }
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn http11_upstream_cannot_talk_to_an_http2_only_server() {
    // Guards the test above: without prior knowledge the client really speaks HTTP/1.1.
    let server = Server::echo(Proto::Http2Only).await;
    let upstream: HttpUpstream = server.url().parse().unwrap();

    let err = within(upstream.oneshot(get("/"))).await.unwrap_err();

    assert!(!err.is_connect(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("upstream {}: request failed: ", server.url())),
        "{err}"
    );
}
