//! Guarantees 2 and 7 under load: whatever the shadow does (answer fast or slowly, hang,
//! refuse connections, error, fail `poll_ready`, panic, cut connections mid-body), the
//! primary's clients get every response byte-identical, with no error and latency close to
//! a run without the layer; the stats add up; and the in-flight and buffered-bytes gauges
//! never pass their limits.
//!
//! Each test runs the same seeded load twice: without the layer (the baseline) and with
//! it. The load is 32 concurrent clients × 300 requests for the in-process primary, with
//! bodies from empty to 64 KiB, half of them streamed in frames without `Content-Length`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use support::load::{LoadReport, Peaks, ReqBody, Sampler, copy_is_intact, drive, echo};
use support::loopback::{RawMode, RawServer, Server, closed_addr};
use support::{ReadyErrorShadow, assert_invariants, fnv1a64};
use tower::{BoxError, Service, ServiceBuilder, service_fn};
use tower_mirror::upstream::HttpUpstream;
use tower_mirror::{MirrorBody, MirrorLayer, MirrorStats};

const CLIENTS: usize = 32;
const PER_CLIENT: usize = 300;
const MAX_IN_FLIGHT: usize = 16;
const MAX_BUFFERED: usize = 256 * 1024;
const SEED: u64 = 0x5EED_FA17;

/// Marks the panics the panicking shadow raises on purpose, so they are not printed.
const PANIC_MARK: &str = "shadow fault:";

/// What a run under fault gave, for the per-mode checks.
#[derive(Debug)]
struct Outcome {
    stats: MirrorStats,
    peaks: Peaks,
}

/// Runs the load without the layer, then with `layer` (given the test limits) over the
/// same primary, and checks what holds whatever the shadow does.
async fn under_fault<M, RB>(mode: &str, layer: MirrorLayer<M>) -> Outcome
where
    M: Service<Request<Full<Bytes>>, Response = Response<RB>> + Clone + Send + Sync + 'static,
    M::Future: Send,
    M::Error: Into<BoxError>,
    RB: Body + Send + 'static,
{
    let baseline = drive(service_fn(echo::<ReqBody>), CLIENTS, PER_CLIENT, SEED).await;
    let layer = layer
        .max_in_flight(MAX_IN_FLIGHT)
        .max_buffered_bytes(MAX_BUFFERED);
    let handle = layer.handle();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(echo::<MirrorBody<ReqBody>>));

    let sampler = Sampler::start(handle.clone());
    let report = drive(svc, CLIENTS, PER_CLIENT, SEED).await;
    tokio::time::timeout(Duration::from_secs(10), handle.wait_idle())
        .await
        .expect("every copy ends within its timeout");
    let peaks = sampler.stop();
    let stats = handle.stats();
    eprintln!(
        "{mode}: {} requests in {:?} (baseline {:?}); p50 {:?} p99 {:?} (baseline p50 {:?} p99 {:?}); \
         peaks in_flight {} / {MAX_IN_FLIGHT}, buffered {} / {MAX_BUFFERED} ({} samples); {stats:?}",
        report.requests,
        report.elapsed,
        baseline.elapsed,
        report.percentile(50.0),
        report.percentile(99.0),
        baseline.percentile(50.0),
        baseline.percentile(99.0),
        peaks.in_flight,
        peaks.buffered_bytes,
        peaks.samples,
    );

    check_clients(mode, &baseline, &report, CLIENTS * PER_CLIENT);
    assert_eq!(
        stats.seen, report.requests as u64,
        "{mode}: every request seen"
    );
    check_gauges(mode, &handle, &stats, &peaks);
    Outcome { stats, peaks }
}

/// No error, every body as the primary made it, latency within a generous factor.
fn check_clients(mode: &str, baseline: &LoadReport, report: &LoadReport, requests: usize) {
    assert_eq!(
        baseline.errors + baseline.wrong_bodies,
        0,
        "{mode}: baseline"
    );
    assert_eq!(report.requests, requests, "{mode}: requests sent");
    assert_eq!(report.errors, 0, "{mode}: primary errors");
    assert_eq!(
        report.wrong_bodies, 0,
        "{mode}: primary bodies not as produced"
    );
    let (p50, base50) = (report.percentile(50.0), baseline.percentile(50.0));
    let (p99, base99) = (report.percentile(99.0), baseline.percentile(99.0));
    assert!(
        p50 <= base50 * 3 + Duration::from_millis(20),
        "{mode}: p50 {p50:?} vs {base50:?} without the layer"
    );
    assert!(
        p99 <= base99 * 5 + Duration::from_millis(100),
        "{mode}: p99 {p99:?} vs {base99:?} without the layer"
    );
}

/// Limits never passed; all released once idle; the stats add up.
fn check_gauges(
    mode: &str,
    handle: &tower_mirror::MirrorHandle,
    stats: &MirrorStats,
    peaks: &Peaks,
) {
    assert!(peaks.samples > 0);
    assert!(
        peaks.in_flight <= MAX_IN_FLIGHT,
        "{mode}: in_flight peaked at {}",
        peaks.in_flight
    );
    assert!(
        peaks.buffered_bytes <= MAX_BUFFERED,
        "{mode}: buffered_bytes peaked at {}",
        peaks.buffered_bytes
    );
    assert_eq!(handle.in_flight(), 0, "{mode}: in_flight once idle");
    assert_eq!(
        handle.buffered_bytes(),
        0,
        "{mode}: buffered_bytes once idle"
    );
    assert_invariants(stats);
    assert!(
        stats.mirrored > 0,
        "{mode}: some copies were sent: {stats:?}"
    );
}

/// Counts the copies a shadow received and those whose body did not match their head.
#[derive(Clone, Default)]
struct Received {
    copies: Arc<AtomicUsize>,
    broken: Arc<AtomicUsize>,
}

impl Received {
    async fn record(&self, req: Request<Full<Bytes>>) {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        self.copies.fetch_add(1, Ordering::SeqCst);
        if !copy_is_intact(&parts.headers, &body) {
            self.broken.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn empty() -> Response<Empty<Bytes>> {
    Response::new(Empty::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_shadow() {
    let received = Received::default();
    let shadow = {
        let received = received.clone();
        service_fn(move |req: Request<Full<Bytes>>| {
            let received = received.clone();
            async move {
                received.record(req).await;
                Ok::<_, Infallible>(empty())
            }
        })
    };
    let out = under_fault(
        "fast",
        MirrorLayer::new(shadow).timeout(Duration::from_secs(2)),
    )
    .await;
    let s = out.stats;
    assert_eq!(s.completed, s.mirrored, "{s:?}");
    assert_eq!(received.copies.load(Ordering::SeqCst) as u64, s.completed);
    assert_eq!(
        received.broken.load(Ordering::SeqCst),
        0,
        "copies with a wrong body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_shadow() {
    let received = Received::default();
    let shadow = {
        let received = received.clone();
        service_fn(move |req: Request<Full<Bytes>>| {
            let received = received.clone();
            // 50–200 ms, fixed per request path.
            let delay = 50 + fnv1a64(req.uri().path().as_bytes()) % 151;
            async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                received.record(req).await;
                Ok::<_, Infallible>(empty())
            }
        })
    };
    let out = under_fault(
        "slow",
        MirrorLayer::new(shadow).timeout(Duration::from_secs(2)),
    )
    .await;
    let s = out.stats;
    assert_eq!(s.completed, s.mirrored, "{s:?}");
    assert!(
        s.dropped_overload > 0,
        "a slow shadow fills max_in_flight: {s:?}"
    );
    assert_eq!(out.peaks.in_flight, MAX_IN_FLIGHT, "the limit was reached");
    assert_eq!(
        received.broken.load(Ordering::SeqCst),
        0,
        "copies with a wrong body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_shadow() {
    let shadow = service_fn(|_: Request<Full<Bytes>>| {
        std::future::pending::<Result<Response<Empty<Bytes>>, Infallible>>()
    });
    let out = under_fault(
        "hung",
        MirrorLayer::new(shadow).timeout(Duration::from_millis(100)),
    )
    .await;
    let s = out.stats;
    assert_eq!(s.timed_out, s.mirrored, "{s:?}");
    assert!(s.dropped_overload > 0, "{s:?}");
    assert_eq!(out.peaks.in_flight, MAX_IN_FLIGHT, "the limit was reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_shadow() {
    let shadow = HttpUpstream::new(format!("http://{}", closed_addr()).parse().unwrap());
    let out = under_fault(
        "refusing",
        MirrorLayer::new(shadow).timeout(Duration::from_secs(2)),
    )
    .await;
    let s = out.stats;
    assert_eq!(s.failed, s.mirrored, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erroring_shadow() {
    let shadow = service_fn(|_: Request<Full<Bytes>>| async {
        Err::<Response<Empty<Bytes>>, BoxError>("shadow fault: internal error".into())
    });
    let out = under_fault("erroring", MirrorLayer::new(shadow)).await;
    let s = out.stats;
    assert_eq!(s.failed, s.mirrored, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_failing_poll_ready() {
    let shadow = ReadyErrorShadow::default();
    let out = under_fault("not ready", MirrorLayer::new(shadow.clone())).await;
    let s = out.stats;
    assert_eq!(s.failed, s.mirrored, "{s:?}");
    assert_eq!(
        shadow.calls.load(Ordering::SeqCst),
        0,
        "never ready, never called"
    );
}

/// Keeps the deliberate panics out of the test output; any other panic prints as usual.
fn quiet_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !message.is_some_and(|m| m.starts_with(PANIC_MARK)) {
                default(info);
            }
        }));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_shadow() {
    quiet_deliberate_panics();
    let panics = Arc::new(AtomicUsize::new(0));
    let counter = panics.clone();
    let shadow = service_fn(move |req: Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        // Half panic in `call`, half in the future it returns.
        if fnv1a64(req.uri().path().as_bytes()).is_multiple_of(2) {
            panic!("{PANIC_MARK} panic in call");
        }
        async move {
            if req.method() == http::Method::POST {
                panic!("{PANIC_MARK} panic in the response future");
            }
            Ok::<_, Infallible>(empty())
        }
    });
    let out = under_fault("panicking", MirrorLayer::new(shadow)).await;
    let s = out.stats;
    assert_eq!(s.failed, s.mirrored, "{s:?}");
    assert_eq!(panics.load(Ordering::SeqCst) as u64, s.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_resetting_connections_mid_body() {
    let server = RawServer::start(RawMode::Resetting).await;
    let shadow = HttpUpstream::new(server.url.parse().unwrap());
    let out = under_fault(
        "resetting",
        MirrorLayer::new(shadow).timeout(Duration::from_secs(2)),
    )
    .await;
    let s = out.stats;
    assert_eq!(s.completed, 0, "no copy got a whole answer: {s:?}");
    assert_eq!(s.failed + s.timed_out, s.mirrored, "{s:?}");
    assert!(s.failed > 0, "{s:?}");
}

/// The same over loopback: a real hyper echo server as the primary behind `HttpUpstream`,
/// a shadow server that reads requests and never answers; fewer requests, each a real
/// round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_primary_with_hung_shadow() {
    const CLIENTS: usize = 16;
    const PER_CLIENT: usize = 100;
    let primary_server = Server::serve(service_fn(echo::<Incoming>)).await;
    let primary = HttpUpstream::new(primary_server.url().parse().unwrap());
    let shadow_server = RawServer::start(RawMode::Hung).await;
    let shadow = HttpUpstream::new(shadow_server.url.parse().unwrap());

    let baseline = drive(primary.clone(), CLIENTS, PER_CLIENT, SEED).await;
    let layer = MirrorLayer::new(shadow)
        .timeout(Duration::from_millis(100))
        .max_in_flight(MAX_IN_FLIGHT)
        .max_buffered_bytes(MAX_BUFFERED);
    let handle = layer.handle();
    let svc = ServiceBuilder::new().layer(layer).service(primary);
    let sampler = Sampler::start(handle.clone());
    let report = drive(svc, CLIENTS, PER_CLIENT, SEED).await;
    tokio::time::timeout(Duration::from_secs(10), handle.wait_idle())
        .await
        .expect("every copy ends within its timeout");
    let peaks = sampler.stop();
    let stats = handle.stats();
    eprintln!(
        "loopback hung: {} requests in {:?} (baseline {:?}); p50 {:?} p99 {:?} (baseline p50 {:?} \
         p99 {:?}); peaks in_flight {}, buffered {}; {stats:?}",
        report.requests,
        report.elapsed,
        baseline.elapsed,
        report.percentile(50.0),
        report.percentile(99.0),
        baseline.percentile(50.0),
        baseline.percentile(99.0),
        peaks.in_flight,
        peaks.buffered_bytes,
    );
    check_clients("loopback hung", &baseline, &report, CLIENTS * PER_CLIENT);
    check_gauges("loopback hung", &handle, &stats, &peaks);
    assert_eq!(stats.timed_out, stats.mirrored, "{stats:?}");
    assert_eq!(peaks.in_flight, MAX_IN_FLIGHT, "the limit was reached");
}
