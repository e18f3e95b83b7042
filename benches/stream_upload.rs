//! A 100 MiB upload mirrored through a streaming layer: the process's resident memory
//! growth, and the primary's upload time with and without mirroring, side by side.
//!
//!     cargo bench --bench stream_upload
//!
//! Each run is a child process of its own (the peak, `VmHWM` in `/proc/self/status`, only
//! ever grows). In it, a primary and a shadow server on loopback read request bodies as
//! they come and count them; a front server serves `Mirror<HttpUpstream,
//! StreamingShadow<HttpUpstream>>` in front of them, as a proxy does; a client uploads
//! to the front over loopback, its body made of 64 KiB frames. One small request first
//! warms every connection pool, as in a proxy already serving. Cases: `none` (the front
//! serves the primary's `HttpUpstream` without the layer), `stream` (the layer, default
//! 64 KiB window, `stream_bodies`) and `stream-8m` (an 8 MiB window), with the client
//! uploading as fast as loopback goes; then `none@100` and `stream@100`, the client paced
//! at 100 MiB/s (a fast client on a 1 Gbit/s link), and `stream-8m@100`. Three rounds,
//! the cases interleaved; printed per case: the median upload time, the primary's
//! throughput as a ratio to its `none` case's (1.00x: no cost), the largest peak RSS rise
//! over the resident memory before the upload (the servers' and client's buffers are in
//! it: compare with `none`), how many copies reached the shadow whole, and the median of
//! what the shadow read. Linux only (it reads `/proc`).

use std::convert::Infallible;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tower::Layer;
use tower_mirror::MirrorLayer;
use tower_mirror::upstream::HttpUpstream;

const BODY: usize = 100 << 20;
const FRAME: usize = 64 << 10;
const CASES: [&str; 6] = [
    "none",
    "stream",
    "stream-8m",
    "none@100",
    "stream@100",
    "stream-8m@100",
];
/// The paced cases' upload rate (`@100`): 100 MiB/s, a fast client on a 1 Gbit/s link.
const PACE: f64 = (100 << 20) as f64;
const ROUNDS: usize = 3;

fn main() {
    // `cargo bench` passes `--bench`; a child gets its case.
    match std::env::args().skip(1).find(|a| !a.starts_with("--")) {
        Some(case) if CASES.contains(&case.as_str()) => run_case(&case),
        _ => parent(),
    }
}

/// One child's figures: upload seconds, RSS rise in KiB, whether the shadow got it whole,
/// and how much of it the shadow read.
struct Figures {
    secs: f64,
    rise_kib: usize,
    whole: bool,
    shadow_read: usize,
}

fn parent() {
    let exe = std::env::current_exe().expect("the bench's own path");
    println!(
        "a {} MiB upload in {} KiB frames, loopback primary and shadow, {ROUNDS} rounds:",
        BODY >> 20,
        FRAME >> 10
    );
    let mut figures: Vec<Vec<Figures>> = CASES.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (i, case) in CASES.iter().enumerate() {
            let out = Command::new(&exe).arg(case).output().expect("run a case");
            assert!(out.status.success(), "{case}: {out:?}");
            let line = String::from_utf8_lossy(&out.stdout);
            let mut fields = line.split_whitespace();
            let mut next = || fields.next().expect("four figures");
            figures[i].push(Figures {
                secs: next().parse().expect("seconds"),
                rise_kib: next().parse().expect("KiB"),
                whole: next() == "whole",
                shadow_read: next().parse().expect("bytes"),
            });
        }
    }
    let median = |f: &[Figures]| {
        let mut secs: Vec<f64> = f.iter().map(|f| f.secs).collect();
        secs.sort_by(f64::total_cmp);
        secs[secs.len() / 2]
    };
    let (full, paced) = (median(&figures[0]), median(&figures[3]));
    for (case, f) in CASES.iter().zip(&figures) {
        let secs = median(f);
        let base = if case.ends_with("@100") { paced } else { full };
        let rise = f.iter().map(|f| f.rise_kib).max().unwrap_or(0) as f64 / 1024.0;
        let whole = f.iter().filter(|f| f.whole).count();
        let mut read: Vec<usize> = f.iter().map(|f| f.shadow_read).collect();
        read.sort_unstable();
        println!(
            "  {case:>13}: upload {:.0} ms (median), {:.2}x no-mirror throughput; \
             peak RSS rise {rise:.2} MiB (largest); shadow got it whole {whole}/{} \
             (median {:.1} MiB read)",
            secs * 1000.0,
            base / secs,
            f.len(),
            read[read.len() / 2] as f64 / f64::from(1 << 20),
        );
    }
}

fn status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Serves on loopback, reading each body frame by frame and counting what it read.
async fn counting_server(read: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let read = Arc::clone(&read);
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let read = Arc::clone(&read);
                async move {
                    let mut body = req.into_body();
                    let mut n = 0;
                    while let Some(Ok(frame)) = body.frame().await {
                        n += frame.data_ref().map_or(0, Bytes::len);
                    }
                    read.store(n, Ordering::SeqCst);
                    Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    format!("http://{addr}")
}

type Upload = UnsyncBoxBody<Bytes, Infallible>;

/// `len` bytes in fresh 64 KiB frames, filled so their pages are really touched; with
/// `paced`, no faster than [`PACE`].
fn upload(front: &str, len: usize, paced: bool) -> Request<Upload> {
    let start = tokio::time::Instant::now();
    let frames = futures_util::stream::unfold(0usize, move |i| async move {
        let sent = i * FRAME;
        if sent >= len {
            return None;
        }
        if paced {
            tokio::time::sleep_until(start + Duration::from_secs_f64(sent as f64 / PACE)).await;
        }
        let n = FRAME.min(len - sent);
        let frame = Frame::data(Bytes::from(vec![(i % 251) as u8; n]));
        Some((Ok::<_, Infallible>(frame), i + 1))
    });
    Request::post(format!("{front}/upload"))
        .header(http::header::CONTENT_LENGTH, len)
        .body(StreamBody::new(frames).boxed_unsync())
        .expect("a request")
}

/// Serves `svc` on loopback (HTTP/1.1), as a proxy's front.
async fn front<S, B>(svc: S) -> String
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tower::BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<tower::BoxError>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    format!("http://{addr}")
}

fn run_case(case: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (primary_read, shadow_read) = (Arc::default(), Arc::default());
        let primary: HttpUpstream = counting_server(Arc::clone(&primary_read))
            .await
            .parse()
            .expect("a URL");
        let shadow: HttpUpstream = counting_server(Arc::clone(&shadow_read))
            .await
            .parse()
            .expect("a URL");
        let window = if case.contains("-8m") {
            8 << 20
        } else {
            64 << 10
        };
        let layer = MirrorLayer::streaming(shadow)
            .stream_bodies()
            .stream_window(window)
            .timeout(Duration::from_secs(120));
        let handle = layer.handle();

        let front = if case.starts_with("none") {
            front(primary).await
        } else {
            front(layer.layer(primary)).await
        };
        let client = Client::builder(TokioExecutor::new()).build_http::<Upload>();
        // Warms the pools: client to front, front to primary and to shadow.
        let warm = client
            .request(upload(&front, 1024, false))
            .await
            .expect("an answer");
        assert_eq!(warm.status(), 200);
        handle.wait_idle().await;

        let before = status_kib("VmRSS:");
        let start = Instant::now();
        let response = client
            .request(upload(&front, BODY, case.ends_with("@100")))
            .await;
        let status = response.expect("the primary answers").status();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(status, 200);
        assert_eq!(
            primary_read.load(Ordering::SeqCst),
            BODY,
            "the primary read it all"
        );
        handle.wait_idle().await;
        let rise = status_kib("VmHWM:").saturating_sub(before);
        let whole = shadow_read.load(Ordering::SeqCst) == BODY && handle.stats().completed == 2;
        println!(
            "{secs:.4} {rise} {} {}",
            if whole { "whole" } else { "not-whole" },
            shadow_read.load(Ordering::SeqCst)
        );
    });
}
