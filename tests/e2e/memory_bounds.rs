//! Guarantee 7: a shadow that never answers, under load, holds no more than `max_in_flight`
//! calls and `max_buffered_bytes` of copied bodies, at every moment (a sampler thread
//! polls the gauges every millisecond); the bytes held are exactly those of the copies the
//! shadow is sitting on; and `shutdown(deadline)` releases everything and reports as cut
//! exactly the copies that were still running.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use support::load::{MAX_BODY, ReqBody, Sampler, Spec, drive, echo};
use support::loopback::{RawMode, RawServer, Server};
use support::{Rng, assert_invariants, eventually};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_mirror::upstream::HttpUpstream;
use tower_mirror::{MirrorBody, MirrorHandle, MirrorLayer};

const CLIENTS: usize = 32;
const PER_CLIENT: usize = 200;
const SEED: u64 = 0x3E3_B0B5;
/// Long enough that no copy times out during a test: every one is held until shutdown.
const NEVER: Duration = Duration::from_secs(120);

/// An in-process shadow that never answers; it counts the calls it holds and the bytes
/// their copies hold in the budget (body, and head as the crate docs count it).
#[derive(Clone, Default)]
struct Hung {
    calls: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
}

impl Hung {
    fn service(
        &self,
    ) -> impl Service<
        Request<Full<Bytes>>,
        Response = Response<Empty<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + Sync
    + 'static {
        let hung = self.clone();
        service_fn(move |req: Request<Full<Bytes>>| {
            let len = req.body().size_hint().exact().expect("a Full body");
            hung.bytes
                .fetch_add(len as usize + head_cost(&req), Ordering::SeqCst);
            hung.calls.fetch_add(1, Ordering::SeqCst);
            std::future::pending()
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn bytes(&self) -> usize {
        self.bytes.load(Ordering::SeqCst)
    }
}

/// What the budget counts for a copy's head: the URI's length, and for each header its
/// name, its value and 128 bytes for the map entry.
fn head_cost<B>(req: &Request<B>) -> usize {
    let uri = req.uri();
    let uri_len = uri.scheme_str().map_or(0, str::len)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    uri_len
        + req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 128)
            .sum::<usize>()
}

/// Shuts down with a short deadline and checks that exactly the `held` running copies were
/// cut and everything was released.
async fn shutdown_cuts(handle: &MirrorHandle, held: usize) {
    let before = handle.stats();
    assert_eq!(
        before.completed + before.failed + before.timed_out,
        0,
        "{before:?}"
    );
    let abandoned = tokio::time::timeout(
        Duration::from_secs(10),
        handle.shutdown(Duration::from_millis(50)),
    )
    .await
    .expect("shutdown ends soon after its deadline");
    assert_eq!(abandoned, held, "cut = copies running at the deadline");
    assert_eq!(handle.in_flight(), 0, "in_flight after shutdown");
    assert_eq!(handle.buffered_bytes(), 0, "buffered_bytes after shutdown");
    tokio::time::timeout(Duration::from_secs(1), handle.wait_idle())
        .await
        .expect("idle after shutdown");
    let after = handle.stats();
    assert_eq!(
        after.timed_out, abandoned as u64,
        "cut copies count as timed_out"
    );
    assert_eq!(after.mirrored, abandoned as u64, "{after:?}");
    assert_invariants(&after);
}

/// One more request after shutdown: served as usual, not mirrored.
async fn after_shutdown<S>(svc: S, handle: &MirrorHandle)
where
    S: Service<Request<ReqBody>, Response = Response<Full<Bytes>>, Error = Infallible>,
{
    let before = handle.stats();
    let mut rng = Rng::new(1);
    let spec = Spec::random(&mut rng, 1_000_000);
    let response = svc.oneshot(spec.request()).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, spec.expected());
    let after = handle.stats();
    assert_eq!(after.skipped_shutdown, before.skipped_shutdown + 1);
    assert_eq!(after.mirrored, before.mirrored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_shadow_is_held_to_max_in_flight() {
    const MAX_IN_FLIGHT: usize = 16;
    const MAX_BUFFERED: usize = 256 * 1024;
    let hung = Hung::default();
    let layer = MirrorLayer::new(hung.service())
        .timeout(NEVER)
        .max_in_flight(MAX_IN_FLIGHT)
        .max_buffered_bytes(MAX_BUFFERED);
    let handle = layer.handle();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(echo::<MirrorBody<ReqBody>>));

    let sampler = Sampler::start(handle.clone());
    let report = drive(svc.clone(), CLIENTS, PER_CLIENT, SEED).await;
    // Dispatched copies reach the shadow on their task's first poll.
    eventually(
        Duration::from_secs(5),
        "the shadow holds every copy in flight",
        || hung.calls() == handle.in_flight(),
    )
    .await;
    let peaks = sampler.stop();
    let stats = handle.stats();
    eprintln!(
        "max_in_flight: {} requests; held {} calls, {} bytes; peaks in_flight {} / {MAX_IN_FLIGHT}, \
         buffered {} / {MAX_BUFFERED} ({} samples); {stats:?}",
        report.requests,
        hung.calls(),
        hung.bytes(),
        peaks.in_flight,
        peaks.buffered_bytes,
        peaks.samples
    );

    assert_eq!((report.errors, report.wrong_bodies), (0, 0));
    assert_eq!(report.requests, CLIENTS * PER_CLIENT);
    assert!(peaks.in_flight <= MAX_IN_FLIGHT, "{peaks:?}");
    assert!(peaks.buffered_bytes <= MAX_BUFFERED, "{peaks:?}");
    // Nothing ever ends, so the first 16 copies hold their slots and every later one is
    // dropped.
    assert_eq!(handle.in_flight(), MAX_IN_FLIGHT);
    assert_eq!(stats.mirrored, MAX_IN_FLIGHT as u64, "{stats:?}");
    assert_eq!(stats.seen, report.requests as u64);
    assert_eq!(
        stats.dropped_overload,
        stats.seen - stats.mirrored,
        "{stats:?}"
    );
    assert_eq!(
        handle.buffered_bytes(),
        hung.bytes(),
        "the bytes held are those of the copies the shadow sits on"
    );

    shutdown_cuts(&handle, MAX_IN_FLIGHT).await;
    after_shutdown(svc, &handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_shadow_is_held_to_max_buffered_bytes() {
    const MAX_IN_FLIGHT: usize = 1 << 16;
    const MAX_BUFFERED: usize = 256 * 1024;
    let hung = Hung::default();
    let layer = MirrorLayer::new(hung.service())
        .timeout(NEVER)
        .max_in_flight(MAX_IN_FLIGHT)
        .max_buffered_bytes(MAX_BUFFERED);
    let handle = layer.handle();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(echo::<MirrorBody<ReqBody>>));

    let sampler = Sampler::start(handle.clone());
    let report = drive(svc.clone(), CLIENTS, PER_CLIENT, SEED).await;
    eventually(
        Duration::from_secs(5),
        "the shadow holds every copy in flight",
        || hung.calls() == handle.in_flight(),
    )
    .await;
    let peaks = sampler.stop();
    let stats = handle.stats();
    let held = handle.in_flight();
    eprintln!(
        "max_buffered_bytes: {} requests; held {} calls, {} bytes; peaks in_flight {}, \
         buffered {} / {MAX_BUFFERED} ({} samples); {stats:?}",
        report.requests,
        hung.calls(),
        hung.bytes(),
        peaks.in_flight,
        peaks.buffered_bytes,
        peaks.samples
    );

    assert_eq!((report.errors, report.wrong_bodies), (0, 0));
    assert!(peaks.buffered_bytes <= MAX_BUFFERED, "{peaks:?}");
    assert!(
        stats.dropped_overload > 0,
        "the byte budget ran out: {stats:?}"
    );
    // Copies are dropped only once the budget is nearly full: a body of at most 64 KiB
    // (and its head, well under 1 KiB) did not fit in what was left.
    assert!(
        hung.bytes() > MAX_BUFFERED - MAX_BODY - 1024,
        "held {} bytes when copies started being dropped",
        hung.bytes()
    );
    assert_eq!(handle.buffered_bytes(), hung.bytes());
    assert_eq!(stats.mirrored, held as u64, "{stats:?}");

    shutdown_cuts(&handle, held).await;
    after_shutdown(svc, &handle).await;
}

/// Over loopback: a real hyper primary behind `HttpUpstream`, a shadow server that reads
/// requests and never answers, and `HttpUpstream` as the shadow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_shadow_server_over_loopback() {
    const MAX_IN_FLIGHT: usize = 16;
    const MAX_BUFFERED: usize = 256 * 1024;
    let primary_server = Server::serve(service_fn(echo::<Incoming>)).await;
    let primary = HttpUpstream::new(primary_server.url().parse().unwrap());
    let shadow_server = RawServer::start(RawMode::Hung).await;
    let shadow = HttpUpstream::new(shadow_server.url.parse().unwrap());
    let layer = MirrorLayer::new(shadow)
        .timeout(NEVER)
        .max_in_flight(MAX_IN_FLIGHT)
        .max_buffered_bytes(MAX_BUFFERED);
    let handle = layer.handle();
    let svc = ServiceBuilder::new().layer(layer).service(primary);

    let sampler = Sampler::start(handle.clone());
    let report = drive(svc, 16, 100, SEED).await;
    let peaks = sampler.stop();
    let stats = handle.stats();
    eprintln!(
        "loopback: {} requests; peaks in_flight {} / {MAX_IN_FLIGHT}, buffered {} / \
         {MAX_BUFFERED} ({} samples); {stats:?}",
        report.requests, peaks.in_flight, peaks.buffered_bytes, peaks.samples
    );
    assert_eq!((report.errors, report.wrong_bodies), (0, 0));
    assert!(peaks.in_flight <= MAX_IN_FLIGHT, "{peaks:?}");
    assert!(peaks.buffered_bytes <= MAX_BUFFERED, "{peaks:?}");
    assert_eq!(handle.in_flight(), MAX_IN_FLIGHT);
    assert!(handle.buffered_bytes() <= MAX_BUFFERED);
    assert_eq!(
        stats.dropped_overload,
        stats.seen - stats.mirrored,
        "{stats:?}"
    );

    shutdown_cuts(&handle, MAX_IN_FLIGHT).await;
}
