//! Guarantee 8, the shadow's response body: at most 64 KiB of it is drained (enough for a
//! normal reply to free its connection for reuse; `max_shadow_body_bytes` sets it), within
//! the timeout, and counted in `shadow_body_bytes_drained`. A shadow that keeps sending
//! past that never finished its reply: the copy counts as `failed`, which the circuit
//! breaker counts too. A shadow with an endless body leaves the primary's clients as they
//! were.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::Full;
use support::load::{LoadReport, ReqBody, drive, echo};
use support::*;
use tower::{Layer, ServiceBuilder, service_fn};
use tower_mirror::{MirrorBody, MirrorLayer, MirrorStats};

const DRAIN_LIMIT: usize = 64 * 1024;
static CHUNK: [u8; 16 * 1024] = [b'x'; 16 * 1024];

/// A response body that never ends: 16 KiB frames, always ready. Counts the frames read.
struct Endless {
    frames: Arc<AtomicUsize>,
}

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.frames.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK)))))
    }
}

fn endless_shadow(
    frames: &Arc<AtomicUsize>,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Endless>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ Sync
+ 'static {
    let frames = frames.clone();
    service_fn(move |_: Request<Full<Bytes>>| {
        let frames = frames.clone();
        async move { Ok::<_, Infallible>(Response::new(Endless { frames })) }
    })
}

/// A shadow answering 200 with a body of `len` bytes.
fn sized_shadow(
    len: usize,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ Sync
+ 'static {
    service_fn(move |_: Request<Full<Bytes>>| async move {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(vec![b'r'; len]))))
    })
}

/// The fault suite's bounds: no error, every body right, latency within a generous factor.
fn check_clients(baseline: &LoadReport, report: &LoadReport, requests: usize) {
    assert_eq!(baseline.errors + baseline.wrong_bodies, 0, "baseline");
    assert_eq!(report.requests, requests);
    assert_eq!((report.errors, report.wrong_bodies), (0, 0));
    let (p50, base50) = (report.percentile(50.0), baseline.percentile(50.0));
    let (p99, base99) = (report.percentile(99.0), baseline.percentile(99.0));
    assert!(
        p50 <= base50 * 3 + Duration::from_millis(20),
        "p50 {p50:?} vs {base50:?} without the layer"
    );
    assert!(
        p99 <= base99 * 5 + Duration::from_millis(100),
        "p99 {p99:?} vs {base99:?} without the layer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_shadow_body_fails_the_copy_and_spares_the_primary() {
    const CLIENTS: usize = 32;
    const PER_CLIENT: usize = 100;
    const SEED: u64 = 0xE17D_1E55;
    let frames = Arc::new(AtomicUsize::new(0));
    let baseline = drive(service_fn(echo::<ReqBody>), CLIENTS, PER_CLIENT, SEED).await;
    let layer = MirrorLayer::new(endless_shadow(&frames)).timeout(Duration::from_secs(2));
    let handle = layer.handle();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(echo::<MirrorBody<ReqBody>>));
    let report = drive(svc, CLIENTS, PER_CLIENT, SEED).await;
    idle(&handle).await;
    let stats = handle.stats();
    eprintln!(
        "endless: p50 {:?} p99 {:?} (baseline {:?} {:?}); {} frames read; {stats:?}",
        report.percentile(50.0),
        report.percentile(99.0),
        baseline.percentile(50.0),
        baseline.percentile(99.0),
        frames.load(Ordering::SeqCst),
    );

    check_clients(&baseline, &report, CLIENTS * PER_CLIENT);
    assert!(stats.mirrored > 0, "{stats:?}");
    assert_eq!(
        stats.failed, stats.mirrored,
        "an unfinished reply is a failure: {stats:?}"
    );
    assert_eq!(stats.completed + stats.timed_out, 0, "{stats:?}");
    // Each copy reads the drain allowance and one frame more, no further.
    let per_copy = (DRAIN_LIMIT / CHUNK.len() + 1) as u64;
    assert_eq!(
        frames.load(Ordering::SeqCst) as u64,
        stats.mirrored * per_copy
    );
    assert_eq!(
        stats.shadow_body_bytes_drained,
        stats.mirrored * per_copy * CHUNK.len() as u64,
        "{stats:?}"
    );
    assert_idle(&handle);
}

#[tokio::test(start_paused = true)]
async fn an_endless_shadow_body_trips_the_breaker() {
    let frames = Arc::new(AtomicUsize::new(0));
    let events = Events::new();
    let layer = MirrorLayer::new(endless_shadow(&frames))
        .circuit_breaker(3, Duration::from_secs(60))
        .on_event(events.hook());
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    for _ in 0..10 {
        send(&mut svc, get("/stream")).await.unwrap();
        idle(&handle).await;
    }
    let stats = handle.stats();
    assert_eq!(stats.failed, 3, "{stats:?}");
    assert_eq!(
        stats.dropped_breaker, 7,
        "the breaker opened after 3: {stats:?}"
    );
    let failures: Vec<String> = events
        .outcomes()
        .into_iter()
        .filter_map(|e| match e {
            Ev::Failed(_, error) => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 3);
    assert!(
        failures.iter().all(|e| e.contains("64 KiB")),
        "the error says why: {failures:?}"
    );
    assert_idle(&handle);
}

#[tokio::test]
async fn a_reply_within_the_drain_allowance_completes_and_is_counted() {
    for (len, completed) in [
        (0, true),
        (1000, true),
        (DRAIN_LIMIT, true),
        (DRAIN_LIMIT + 1, false),
    ] {
        let layer = MirrorLayer::new(sized_shadow(len));
        let handle = layer.handle();
        let mut svc = layer.layer(Echo::new());
        send(&mut svc, get("/")).await.unwrap();
        send(&mut svc, get("/")).await.unwrap();
        idle(&handle).await;
        let stats: MirrorStats = handle.stats();
        let expected = if completed { (2, 0) } else { (0, 2) };
        assert_eq!(
            (stats.completed, stats.failed),
            expected,
            "{len} bytes: {stats:?}"
        );
        assert_eq!(
            stats.shadow_body_bytes_drained,
            2 * len as u64,
            "{len} bytes: every byte read is counted"
        );
        assert_idle(&handle);
    }
}

#[tokio::test]
async fn max_shadow_body_bytes_raises_the_allowance() {
    let layer = MirrorLayer::new(sized_shadow(100 * 1024)).max_shadow_body_bytes(128 * 1024);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    send(&mut svc, get("/large-reply")).await.unwrap();
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!((stats.completed, stats.failed), (1, 0), "{stats:?}");
    assert_eq!(stats.shadow_body_bytes_drained, 100 * 1024);

    let layer = MirrorLayer::new(endless_shadow(&Arc::default())).max_shadow_body_bytes(1);
    let handle = layer.handle();
    let mut svc = layer.layer(Echo::new());
    send(&mut svc, get("/endless")).await.unwrap();
    idle(&handle).await;
    let stats = handle.stats();
    assert_eq!(stats.failed, 1, "{stats:?}");
    assert_eq!(
        stats.shadow_body_bytes_drained,
        CHUNK.len() as u64,
        "one frame read"
    );
    assert_idle(&handle);
}
