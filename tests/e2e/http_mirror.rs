//! End to end over real HTTP on loopback: a hyper-util server fronting
//! `Mirror<HttpUpstream, HttpUpstream>`, as `shadow_proxy` does, with real primary and shadow
//! servers behind it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::join_all;
use http::{Request, Version};
use http_body_util::{Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::loopback::{Answer, Backend, Reply, Server, client, closed_addr, fetch};
use support::within;
use tokio::sync::Semaphore;
use tower::Layer;
use tower_mirror::upstream::HttpUpstream;
use tower_mirror::{Mirror, MirrorHandle, MirrorLayer};

/// Serves `Mirror<primary, shadow>` on loopback, the layer tuned by `tune`.
async fn mirror_front(
    primary: &Server,
    shadow_url: &str,
    tune: impl FnOnce(MirrorLayer<HttpUpstream>) -> MirrorLayer<HttpUpstream>,
) -> (Server, MirrorHandle) {
    let layer = tune(MirrorLayer::new(shadow_url.parse().unwrap()));
    let handle = layer.handle();
    let svc: Mirror<HttpUpstream, HttpUpstream> = layer.layer(primary.url().parse().unwrap());
    (Server::serve(svc).await, handle)
}

fn get(front: &Server, path: &str) -> Request<Full<Bytes>> {
    support::get(&format!("{}{path}", front.url()))
}

fn assert_from_primary(answer: &Answer, primary: &Backend, len: usize) {
    assert_eq!(answer.status, 200);
    assert_eq!(answer.served_by(), "primary");
    assert_eq!(answer.body, primary.body_for(len));
}

#[tokio::test]
async fn large_post_arrives_byte_identical_at_primary_and_shadow() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let (front, handle) = mirror_front(&primary_server, &shadow_server.url(), |l| l).await;

    // 100 KiB, patterned so a lost, repeated or reordered chunk shows.
    let body: Bytes = (0..100 * 1024u32)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect();
    let answer = fetch(
        &client(),
        Request::post(format!("{}/upload?id=7", front.url()))
            .header("content-type", "application/octet-stream")
            .body(Full::new(body.clone()))
            .unwrap(),
    )
    .await;
    assert_from_primary(&answer, &primary, body.len());
    assert_eq!(answer.headers["content-length"], "21"); // "primary: 102400 bytes"

    within(handle.wait_idle()).await;
    for seen in [&primary.received()[..], &shadow.received()[..]] {
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].uri, "/upload?id=7");
        assert_eq!(seen[0].headers["content-type"], "application/octet-stream");
        assert!(seen[0].body == body, "body differs");
    }
    let stats = handle.stats();
    assert_eq!((stats.mirrored, stats.completed), (1, 1));
}

#[tokio::test]
async fn chunked_post_arrives_whole_at_primary_and_shadow() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let (front, handle) = mirror_front(&primary_server, &shadow_server.url(), |l| l).await;

    // No length known up front: the client sends it chunked.
    let chunks: Vec<Bytes> = (0..16u8)
        .map(|i| Bytes::from(vec![b'a' + i; 1000]))
        .collect();
    let whole: Bytes = chunks.concat().into();
    let frames = chunks
        .into_iter()
        .map(|chunk| Ok::<_, Infallible>(Frame::data(chunk)));
    let body = StreamBody::new(futures_util::stream::iter(frames));
    let chunked = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::post(format!("{}/stream", front.url()))
        .body(body)
        .unwrap();
    let answer = Answer::read(within(chunked.request(request)).await.unwrap()).await;
    assert_from_primary(&answer, &primary, whole.len());

    within(handle.wait_idle()).await;
    assert_eq!(
        primary.received()[0].headers["transfer-encoding"],
        "chunked"
    );
    assert_eq!(primary.received()[0].body, whole);
    assert_eq!(shadow.received()[0].body, whole);
    assert_eq!(handle.stats().completed, 1);
}

#[tokio::test]
async fn each_upstream_sees_its_own_authority_as_host() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let (front, handle) = mirror_front(&primary_server, &shadow_server.url(), |l| l).await;

    let answer = fetch(&client(), get(&front, "/where")).await;
    assert_from_primary(&answer, &primary, 0);
    within(handle.wait_idle()).await;

    assert_eq!(
        primary.received()[0].host(),
        primary_server.addr.to_string()
    );
    assert_eq!(shadow.received()[0].host(), shadow_server.addr.to_string());
}

#[tokio::test]
async fn host_suffix_reaches_a_shadow_that_preserves_host() {
    // Envoy's behaviour: the shadow sees the client's Host with `-shadow` appended.
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let shadow_upstream = HttpUpstream::builder()
        .preserve_host()
        .build(shadow_server.url().parse().unwrap())
        .unwrap();
    let layer = MirrorLayer::new(shadow_upstream).host_suffix("-shadow");
    let handle = layer.handle();
    let svc: Mirror<HttpUpstream, HttpUpstream> =
        layer.layer(primary_server.url().parse().unwrap());
    let front = Server::serve(svc).await;

    let request = Request::get(format!("{}/where", front.url()))
        .header("host", "httpbin:8000")
        .body(Full::default())
        .unwrap();
    let answer = fetch(&client(), request).await;
    assert_from_primary(&answer, &primary, 0);
    within(handle.wait_idle()).await;

    // The primary (default upstream) sees its own authority; the shadow keeps the
    // suffixed Host of the copy.
    assert_eq!(
        primary.received()[0].host(),
        primary_server.addr.to_string()
    );
    assert_eq!(shadow.received()[0].host(), "httpbin-shadow:8000");
}

#[tokio::test]
async fn shadow_down_leaves_clients_untouched_and_counts_failed() {
    let primary = Backend::new("primary", Reply::Now);
    let primary_server = primary.start().await;
    // A port nobody listens on any more: connections are refused.
    let shadow_url = format!("http://{}", closed_addr());
    let (front, handle) = mirror_front(&primary_server, &shadow_url, |l| l).await;

    let client = client();
    for i in 0..5 {
        let answer = fetch(&client, get(&front, &format!("/n/{i}"))).await;
        assert_from_primary(&answer, &primary, 0);
    }
    within(handle.wait_idle()).await;
    let stats = handle.stats();
    assert_eq!(
        (
            stats.mirrored,
            stats.failed,
            stats.completed,
            stats.timed_out
        ),
        (5, 5, 0, 0)
    );
}

#[tokio::test]
async fn hung_shadow_times_out_off_the_critical_path() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Never);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let (front, handle) = mirror_front(&primary_server, &shadow_server.url(), |l| {
        l.timeout(TIMEOUT)
    })
    .await;

    let client = client();
    let start = Instant::now();
    for i in 0..5 {
        let answer = fetch(&client, get(&front, &format!("/n/{i}"))).await;
        assert_from_primary(&answer, &primary, 0);
    }
    // Had any request waited for its copy, this alone would have taken the timeout.
    let elapsed = start.elapsed();
    assert!(elapsed < TIMEOUT, "5 requests took {elapsed:?}");

    within(handle.wait_idle()).await;
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.timed_out, stats.completed),
        (5, 5, 0)
    );
    assert_eq!(handle.in_flight(), 0);
}

#[tokio::test]
async fn slow_shadow_does_not_slow_the_client() {
    const REQUESTS: usize = 20;
    const SHADOW_DELAY: Duration = Duration::from_millis(300);
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::After(SHADOW_DELAY));
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let upstream: HttpUpstream = primary_server.url().parse().unwrap();
    let baseline_front = Server::serve(upstream).await;
    let (mirror_front, handle) = mirror_front(&primary_server, &shadow_server.url(), |l| l).await;

    let client = client();
    let mut p50 = Vec::new();
    for front in [&baseline_front, &mirror_front] {
        let mut latencies = Vec::new();
        for i in 0..REQUESTS {
            let start = Instant::now();
            let answer = fetch(&client, get(front, &format!("/n/{i}"))).await;
            latencies.push(start.elapsed());
            assert_from_primary(&answer, &primary, 0);
        }
        latencies.sort();
        p50.push(latencies[REQUESTS / 2]);
    }
    let (baseline, mirrored) = (p50[0], p50[1]);
    assert!(
        mirrored < baseline * 4 + Duration::from_millis(50),
        "p50 {mirrored:?} with a slow shadow, {baseline:?} without"
    );

    within(handle.wait_idle()).await;
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.completed),
        (REQUESTS as u64, REQUESTS as u64)
    );
}

#[tokio::test]
async fn shadow_connections_are_pooled_and_reused() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let (front, handle) = mirror_front(&primary_server, &shadow_server.url(), |l| l).await;

    let client = client();
    for i in 0..200 {
        let answer = fetch(&client, get(&front, &format!("/n/{i}"))).await;
        assert_from_primary(&answer, &primary, 0);
    }
    within(handle.wait_idle()).await;
    assert_eq!(handle.stats().completed, 200);
    assert_eq!(shadow.received().len(), 200);

    // Copies overlap a little (they run beside the next request), so allow a few.
    let accepted = shadow_server.accepted();
    assert!(
        accepted <= 10,
        "200 copies opened {accepted} shadow connections"
    );
}

#[tokio::test]
async fn http2_client_streams_are_served_while_the_shadow_is_slow() {
    const STREAMS: usize = 50;
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::After(Duration::from_millis(300)));
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let (front, handle) = mirror_front(&primary_server, &shadow_server.url(), |l| l).await;

    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let calls = (0..STREAMS).map(|i| {
        let body = Bytes::from(vec![b'x'; i]);
        let request = Request::post(format!("{}/s/{i}", front.url()))
            .body(Full::new(body))
            .unwrap();
        let h2 = h2.clone();
        async move {
            let response = h2.request(request).await.unwrap();
            assert_eq!(response.version(), Version::HTTP_2);
            (i, Answer::read(response).await)
        }
    });
    for (i, answer) in within(join_all(calls)).await {
        assert_from_primary(&answer, &primary, i);
    }
    // One HTTP/2 connection carried every stream.
    assert_eq!(front.accepted(), 1);

    within(handle.wait_idle()).await;
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.completed),
        (STREAMS as u64, STREAMS as u64)
    );
    let mut sizes: Vec<_> = shadow.received().iter().map(|r| r.body.len()).collect();
    sizes.sort();
    assert_eq!(sizes, (0..STREAMS).collect::<Vec<_>>());
}

#[tokio::test]
async fn shutdown_waits_for_a_copy_that_finishes_in_time() {
    let primary = Backend::new("primary", Reply::Now);
    let gate = Arc::new(Semaphore::new(0));
    let shadow = Backend::new("shadow", Reply::When(Arc::clone(&gate)));
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let (front, handle) = mirror_front(&primary_server, &shadow_server.url(), |l| l).await;

    let client = client();
    let answer = fetch(&client, get(&front, "/before")).await;
    assert_from_primary(&answer, &primary, 0);
    assert_eq!(handle.in_flight(), 1); // sent at `call` (no body), held by the gate

    // `join!` polls in order: shutdown has begun before the shadow is let go.
    let (abandoned, ()) = within(async {
        tokio::join!(handle.shutdown(Duration::from_secs(5)), async {
            gate.add_permits(1)
        })
    })
    .await;
    assert_eq!(abandoned, 0);
    let stats = handle.stats();
    assert_eq!((stats.completed, stats.timed_out), (1, 0));

    // After shutdown the primary still serves; nothing more is mirrored.
    let answer = fetch(&client, get(&front, "/after")).await;
    assert_from_primary(&answer, &primary, 0);
    within(handle.wait_idle()).await;
    assert_eq!(handle.stats().skipped_shutdown, 1);
    assert_eq!(shadow.received().len(), 1);
}

#[tokio::test]
async fn shutdown_cuts_a_copy_still_running_at_the_deadline() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Never);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    // A timeout far past the deadline, so the deadline is what ends the copy.
    let (front, handle) = mirror_front(&primary_server, &shadow_server.url(), |l| {
        l.timeout(Duration::from_secs(60))
    })
    .await;

    let answer = fetch(&client(), get(&front, "/")).await;
    assert_from_primary(&answer, &primary, 0);

    let start = Instant::now();
    let abandoned = within(handle.shutdown(Duration::from_millis(300))).await;
    assert_eq!(abandoned, 1);
    assert!(start.elapsed() >= Duration::from_millis(300));
    let stats = handle.stats();
    assert_eq!(
        (stats.mirrored, stats.timed_out, stats.completed),
        (1, 1, 0)
    );
    assert_eq!(handle.in_flight(), 0);
}
