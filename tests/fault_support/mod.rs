//! Load, faulty shadows and gauges for the fault tests: an in-process echo primary, a
//! seeded request mix (sizes from empty to 64 KiB, half of them streamed without a
//! `Content-Length`), concurrent clients that check every response byte, a sampler thread
//! that records the peaks of `in_flight()` and `buffered_bytes()`, and raw loopback servers
//! that hang or cut connections.

#![allow(dead_code)] // each test file uses a different part

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};
use tower_mirror::{MirrorHandle, MirrorStats};

/// The request body of every generated request: `Full` or a multi-frame stream. (Its error
/// type is a plain type, not `BoxError`, whose lifetime trips `Send` inference in `drive`.)
pub type ReqBody = BoxBody<Bytes, Infallible>;

/// Header naming where in [`pool`] the body comes from (`offset+len`), so a shadow can
/// check its copy byte for byte.
pub const BODY_SOURCE: &str = "x-body-source";

/// Largest generated body.
pub const MAX_BODY: usize = 64 * 1024;

/// 128 KiB of seeded bytes that every body is a slice of (cheap to make, even unoptimized).
pub fn pool() -> &'static Bytes {
    static POOL: OnceLock<Bytes> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut rng = Rng::new(0xB0D1E5);
        let bytes: Vec<u8> = (0..2 * MAX_BODY / 8)
            .flat_map(|_| rng.next_u64().to_le_bytes())
            .collect();
        Bytes::from(bytes)
    })
}

/// SplitMix64: the tests' only randomness, always seeded.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// One generated request: its id, body and how the body is framed.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: u64,
    pub body: Bytes,
    /// Where the body starts in [`pool`].
    pub offset: usize,
    /// 0: one `Full` frame with `Content-Length`; n: n frames, no length (chunked on a wire).
    pub chunks: usize,
}

impl Spec {
    /// Sizes: 20% empty, 30% up to 100 B, 30% 1–8 KiB, 20% 16–64 KiB.
    pub fn random(rng: &mut Rng, id: u64) -> Self {
        let size = match rng.below(10) {
            0 | 1 => 0,
            2..=4 => 1 + rng.below(100) as usize,
            5..=7 => 1024 + rng.below(7 * 1024) as usize,
            _ => 16 * 1024 + rng.below(48 * 1024) as usize,
        };
        let offset = rng.below(MAX_BODY as u64) as usize;
        let chunks = if size > 1 && rng.below(2) == 0 {
            2 + rng.below(6) as usize
        } else {
            0
        };
        Self {
            id,
            body: pool().slice(offset..offset + size),
            offset,
            chunks,
        }
    }

    pub fn path(&self) -> String {
        format!("/echo/{}", self.id)
    }

    pub fn request(&self) -> Request<ReqBody> {
        let builder = Request::post(format!("http://primary.test{}", self.path()))
            .header(BODY_SOURCE, format!("{}+{}", self.offset, self.body.len()));
        if self.chunks == 0 {
            return builder
                .header(http::header::CONTENT_LENGTH, self.body.len())
                .body(Full::new(self.body.clone()).boxed())
                .unwrap();
        }
        let step = self.body.len().div_ceil(self.chunks);
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..self.body.len())
            .step_by(step)
            .map(|at| {
                let end = (at + step).min(self.body.len());
                Ok(Frame::data(self.body.slice(at..end)))
            })
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(frames));
        builder
            .header(http::header::TRANSFER_ENCODING, "chunked")
            .body(body.boxed())
            .unwrap()
    }

    /// What [`echo`] answers to this request.
    pub fn expected(&self) -> Bytes {
        let mut out = format!("POST {} {}\n", self.path(), self.body.len()).into_bytes();
        out.extend_from_slice(&self.body);
        Bytes::from(out)
    }
}

/// The primary: reads the whole body and answers `METHOD PATH LEN\n` + the body.
pub async fn echo<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .expect("the test bodies never fail")
        .to_bytes();
    let mut out = format!("{} {} {}\n", parts.method, parts.uri.path(), body.len()).into_bytes();
    out.extend_from_slice(&body);
    Ok(Response::new(Full::new(Bytes::from(out))))
}

/// Whether a copy's body is exactly the one its head names.
pub fn copy_is_intact(headers: &http::HeaderMap, body: &[u8]) -> bool {
    let source = headers.get(BODY_SOURCE).and_then(|v| v.to_str().ok());
    let Some((offset, len)) = source.and_then(|v| v.split_once('+')) else {
        return false;
    };
    match (offset.parse::<usize>(), len.parse::<usize>()) {
        (Ok(offset), Ok(len)) => pool().get(offset..offset + len) == Some(body),
        _ => false,
    }
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub requests: usize,
    pub errors: usize,
    pub wrong_bodies: usize,
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
}

impl LoadReport {
    /// The `p`-th percentile (0..=100) of the latencies.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank]
    }
}

/// Pause between a client's requests.
pub const THINK_TIME: Duration = Duration::from_millis(1);

/// `clients` concurrent tasks, each sending `per_client` generated requests in turn and
/// checking every response body against [`Spec::expected`]. The same seed gives the same
/// requests, so a run with the layer and a run without it see the same load.
pub async fn drive<S, RB>(svc: S, clients: usize, per_client: usize, seed: u64) -> LoadReport
where
    S: Service<Request<ReqBody>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug + Send,
    RB: Body + Send + 'static,
    RB::Data: Send,
    RB::Error: std::fmt::Debug,
{
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let svc = svc.clone();
        let mut rng = Rng::new(seed ^ (client as u64).wrapping_mul(0xA24B_AED4_963E_E407));
        tasks.spawn(async move {
            let mut report = LoadReport::default();
            for i in 0..per_client {
                let spec = Spec::random(&mut rng, (client * per_client + i) as u64);
                let sent = Instant::now();
                let result = svc.clone().oneshot(spec.request()).await;
                report.requests += 1;
                match result {
                    Ok(response) => match response.into_body().collect().await {
                        Ok(body) => {
                            report.latencies.push(sent.elapsed());
                            if body.to_bytes() != spec.expected() {
                                report.wrong_bodies += 1;
                            }
                        }
                        Err(_) => report.errors += 1,
                    },
                    Err(_) => report.errors += 1,
                }
                // A short think time: the load lasts several shadow timeouts (so held
                // copies turn over), and in-process calls, which never wait on I/O, cannot
                // run a client's requests in one poll and starve every other task.
                tokio::time::sleep(THINK_TIME).await;
            }
            report
        });
    }
    let mut total = LoadReport::default();
    while let Some(report) = tasks.join_next().await {
        let report = report.expect("a client task panicked");
        total.requests += report.requests;
        total.errors += report.errors;
        total.wrong_bodies += report.wrong_bodies;
        total.latencies.extend(report.latencies);
    }
    total.elapsed = start.elapsed();
    total
}

/// Peaks of the handle's gauges while the sampler ran.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peaks {
    pub in_flight: usize,
    pub buffered_bytes: usize,
    pub samples: u64,
}

/// Polls `in_flight()` and `buffered_bytes()` about every millisecond on its own thread
/// (not a runtime task, so a busy runtime cannot starve it).
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Peaks>,
}

impl Sampler {
    pub fn start(handle: MirrorHandle) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peaks = Peaks::default();
            loop {
                peaks.in_flight = peaks.in_flight.max(handle.in_flight());
                peaks.buffered_bytes = peaks.buffered_bytes.max(handle.buffered_bytes());
                peaks.samples += 1;
                if flag.load(Ordering::Acquire) {
                    return peaks;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Self { stop, thread }
    }

    pub fn stop(self) -> Peaks {
        self.stop.store(true, Ordering::Release);
        self.thread.join().expect("the sampler thread panicked")
    }
}

/// The stats invariants of the design, once idle.
pub fn assert_invariants(s: &MirrorStats) {
    let skipped = s.skipped_sampling
        + s.skipped_filter
        + s.skipped_body_too_large
        + s.skipped_body_incomplete
        + s.skipped_upgrade
        + s.skipped_no_runtime
        + s.skipped_shutdown;
    assert_eq!(
        s.seen,
        s.mirrored + skipped + s.dropped_overload,
        "seen == mirrored + skipped_* + dropped_overload: {s:?}"
    );
    assert_eq!(
        s.mirrored,
        s.completed + s.failed + s.timed_out,
        "mirrored == completed + failed + timed_out: {s:?}"
    );
}

/// Waits for `cond` (checked every millisecond), failing after `limit`: for conditions set
/// by background tasks that have no notification of their own.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A real hyper server (HTTP/1.1 and HTTP/2) running [`echo`] on 127.0.0.1 port 0;
/// dropping it aborts it and its connections.
pub struct EchoServer {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl EchoServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let service = hyper::service::service_fn(echo::<hyper::body::Incoming>);
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self { url, task }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback address where nothing listens: bound, read, then closed.
pub async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// How a [`RawServer`] treats each connection.
#[derive(Debug, Clone, Copy)]
pub enum RawMode {
    /// Reads everything, forever; never answers.
    Hung,
    /// Alternates: reads part of the request then closes (a reset when unread bytes are
    /// left), or answers `Content-Length: 1000` with 7 bytes of body, then closes.
    Resetting,
}

/// A raw TCP server on 127.0.0.1 port 0; dropping it aborts it and its connections.
pub struct RawServer {
    pub url: String,
    open: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    pub async fn start(mode: RawMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let open = Arc::new(AtomicUsize::new(0));
        let counter = open.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            let mut n = 0u64;
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                n += 1;
                let cut_early = n % 2 == 0;
                let open = OpenConnection::new(&counter);
                connections.spawn(async move {
                    let _open = open;
                    let mut buf = vec![0u8; 4096];
                    match mode {
                        RawMode::Hung => {
                            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                        }
                        RawMode::Resetting if cut_early => {
                            let _ = stream.read(&mut buf[..64]).await;
                        }
                        RawMode::Resetting => {
                            let _ = stream.read(&mut buf).await;
                            let _ = stream
                                .write_all(
                                    b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial",
                                )
                                .await;
                        }
                    }
                });
                // Keep finished connections from piling up in the set.
                while connections.try_join_next().is_some() {}
            }
        });
        Self { url, open, task }
    }

    /// Connections open now (the server has not seen them end).
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// Counts one open connection of a [`RawServer`] while alive.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
