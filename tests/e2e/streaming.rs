//! Streamed copies end to end: a hyper-util server fronting
//! `Mirror<HttpUpstream, StreamingShadow<HttpUpstream>>`, real primary and shadow servers
//! behind it, and uploads over `max_body_bytes` that reach the shadow whole.

use std::convert::Infallible;

use bytes::Bytes;
use http::Request;
use http_body_util::{Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::loopback::{Answer, Backend, Reply, Server, client, fetch};
use support::within;
use tower::Layer;
use tower_mirror::upstream::HttpUpstream;
use tower_mirror::{Mirror, MirrorHandle, MirrorLayer, StreamingShadow};

const MIB: usize = 1 << 20;

/// Serves the streaming mirror on loopback. The window is as large as the uploads, so that
/// these tests do not depend on which of two sockets is faster; the window's own rule is
/// tested in process.
async fn streaming_front(primary: &Server, shadow: &Server) -> (Server, MirrorHandle) {
    let shadow: HttpUpstream = shadow.url().parse().unwrap();
    let layer = MirrorLayer::streaming(shadow)
        .max_body_bytes(MIB)
        .stream_window(8 * MIB)
        .max_buffered_bytes(64 * MIB);
    let handle = layer.handle();
    let svc: Mirror<HttpUpstream, StreamingShadow<HttpUpstream>> =
        layer.layer(primary.url().parse().unwrap());
    (Server::serve(svc).await, handle)
}

/// `len` patterned bytes: a lost, repeated or reordered chunk shows.
fn patterned(len: usize) -> Bytes {
    (0..len as u32)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

#[tokio::test]
async fn an_8_mib_upload_reaches_the_shadow_byte_identical_through_http_upstream() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let (front, handle) = streaming_front(&primary_server, &shadow_server).await;

    let body = patterned(8 * MIB);
    let answer = fetch(
        &client(),
        Request::post(format!("{}/upload", front.url()))
            .body(Full::new(body.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, primary.body_for(body.len()));

    within(handle.wait_idle()).await;
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.completed), (1, 1), "{stats:?}");
    assert_eq!(stats.skipped_body_too_large, 0);
    assert_eq!(handle.buffered_bytes(), 0);
    let got = shadow.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["content-length"], body.len().to_string());
    assert!(got[0].body == body, "the shadow's body differs");
}

#[tokio::test]
async fn a_chunked_upload_past_the_cap_reaches_the_shadow_whole() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let (front, handle) = streaming_front(&primary_server, &shadow_server).await;

    // 3 MiB without a length: buffered up to the cap, then streamed.
    let whole = patterned(3 * MIB);
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = whole
        .chunks(64 << 10)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let chunked = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::post(format!("{}/chunked", front.url()))
        .body(StreamBody::new(futures_util::stream::iter(frames)))
        .unwrap();
    let answer = Answer::read(within(chunked.request(request)).await.unwrap()).await;
    assert_eq!(answer.status, 200);

    within(handle.wait_idle()).await;
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.completed), (1, 1), "{stats:?}");
    let got = shadow.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["transfer-encoding"], "chunked");
    assert!(got[0].body == whole, "the shadow's body differs");
    assert!(primary.received()[0].body == whole);
}
