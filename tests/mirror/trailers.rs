//! Guarantees 3 and 5 with trailers: a request body that ends with trailers is whole, and
//! its copy is sent, without the trailers, though the primary (like hyper's client) stops
//! reading at the trailers frame and never polls for the end. In process, and over real
//! HTTP: a chunked POST with a trailer, through a hyper server fronting
//! `Mirror<HttpUpstream, HttpUpstream>`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::loopback::{Backend, Reply, Server};
use support::within;
use support::{Capture, Recorder, assert_idle, idle, recording_shadow, send, trailers};
use tower::Layer;
use tower_mirror::upstream::HttpUpstream;
use tower_mirror::{Mirror, MirrorLayer};

type Frames =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

fn with_trailers(chunks: &[&'static [u8]], trailers: HeaderMap) -> Frames {
    let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::from_static(c))))
        .collect();
    frames.push(Ok(Frame::trailers(trailers)));
    StreamBody::new(futures_util::stream::iter(frames))
}

#[tokio::test]
async fn a_body_ending_with_trailers_is_mirrored_without_them() {
    let rec = Recorder::new();
    let layer = MirrorLayer::new(recording_shadow(&rec));
    let handle = layer.handle();
    let capture = Capture::new();
    let mut svc = layer.layer(capture.clone());
    let req = Request::post("/upload")
        .header("transfer-encoding", "chunked")
        .header("trailer", "x-checksum")
        .body(with_trailers(
            &[b"hello ", b"trailers"],
            trailers(&[("x-checksum", "abc")]),
        ))
        .unwrap();
    send(&mut svc, req).await.unwrap();

    // Read as hyper's client does: data, then the trailers, then stop (no final `None`).
    let mut body = capture.take().into_body();
    let mut data = Vec::new();
    let mut seen_trailers = None;
    while seen_trailers.is_none() {
        let frame = body.frame().await.expect("a frame").unwrap();
        match frame.into_data() {
            Ok(chunk) => data.extend_from_slice(&chunk),
            Err(frame) => seen_trailers = frame.into_trailers().ok(),
        }
    }
    assert_eq!(data, b"hello trailers");
    assert_eq!(
        seen_trailers.unwrap()["x-checksum"],
        "abc",
        "the primary gets the trailers"
    );
    drop(body);

    idle(&handle).await;
    let copy = rec.only();
    assert_eq!(copy.body, "hello trailers");
    assert_eq!(
        copy.header("x-checksum"),
        None,
        "no trailer reaches the shadow"
    );
    assert_eq!(copy.header("trailer"), None, "nor the header announcing it");
    assert_eq!(copy.header("transfer-encoding"), None);
    let stats = handle.stats();
    assert_eq!(
        (
            stats.mirrored,
            stats.completed,
            stats.skipped_body_incomplete
        ),
        (1, 1, 0)
    );
    assert_idle(&handle);
}

#[tokio::test]
async fn a_chunked_post_with_a_trailer_over_http_is_mirrored() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let layer = MirrorLayer::new(shadow_server.url().parse::<HttpUpstream>().unwrap());
    let handle = layer.handle();
    let svc: Mirror<HttpUpstream, HttpUpstream> =
        layer.layer(primary_server.url().parse().unwrap());
    let front = Server::serve(svc).await;

    // 64 KiB in uneven chunks, patterned so a lost or reordered byte shows.
    let body: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
    let body: &'static [u8] = Box::leak(body.into_boxed_slice());
    let chunks: Vec<&'static [u8]> = vec![&body[..1], &body[1..40_000], &body[40_000..]];
    let client = Client::builder(TokioExecutor::new()).build_http::<Frames>();
    let req = Request::post(format!("{}/upload?id=9", front.url()))
        .header("trailer", "x-checksum")
        .body(with_trailers(
            &chunks,
            trailers(&[("x-checksum", "0xfeed")]),
        ))
        .unwrap();
    let response = within(client.request(req)).await.unwrap();
    assert_eq!(response.status(), 200);
    let answer = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(answer, primary.body_for(body.len()));

    within(handle.wait_idle()).await;
    let copies = shadow.received();
    assert_eq!(copies.len(), 1, "the copy was sent: {:?}", handle.stats());
    let copy = &copies[0];
    assert_eq!(copy.uri, "/upload?id=9");
    assert!(copy.body == body, "the copy's body is byte-identical");
    assert!(copy.headers.get("x-checksum").is_none());
    assert!(copy.headers.get("trailer").is_none());
    assert_eq!(primary.received()[0].body, body);
    let stats = handle.stats();
    assert_eq!(
        (
            stats.mirrored,
            stats.completed,
            stats.skipped_body_incomplete
        ),
        (1, 1, 0)
    );
}
