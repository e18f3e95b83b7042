//! Peak memory of one large copy: how much resident memory a 60 MiB request body costs
//! the process when it is mirrored, next to what the byte budget accounts for it.
//!
//!     cargo bench --bench copy_peak
//!
//! Each case runs in a child process of its own (the peak, `VmHWM` in `/proc/self/status`,
//! only ever grows): a 60 MiB body arrives in 64 KiB frames, each a fresh allocation as a
//! server's read buffer would give; the primary reads every frame and drops it; the shadow
//! receives the copy, reads its length and drops it. Printed per case: the rise of the peak
//! over the resident memory before the request, the budget's peak (`buffered_bytes()`,
//! sampled), and their ratio to the body. Linux only (it reads `/proc`).

use std::convert::Infallible;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tower::{Layer, ServiceExt, service_fn};
use tower_mirror::{MirrorBody, MirrorLayer};

const BODY: usize = 60 << 20;
const FRAME: usize = 64 << 10;
const CASES: [&str; 2] = ["content-length", "chunked"];

fn main() {
    // `cargo bench` passes `--bench`; a child gets its case.
    match std::env::args().skip(1).find(|a| !a.starts_with("--")) {
        Some(case) if CASES.contains(&case.as_str()) => run_case(&case),
        _ => {
            let exe = std::env::current_exe().expect("the bench's own path");
            println!("one {} MiB copy in {} KiB frames:", BODY >> 20, FRAME >> 10);
            for case in CASES {
                let out = Command::new(&exe).arg(case).output().expect("run a case");
                assert!(out.status.success(), "{case}: {out:?}");
                print!("{}", String::from_utf8_lossy(&out.stdout));
            }
        }
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

fn run_case(case: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let received = Arc::new(AtomicUsize::new(0));
        let shadow = {
            let received = Arc::clone(&received);
            service_fn(move |req: Request<Full<Bytes>>| {
                let received = Arc::clone(&received);
                async move {
                    let body = req.into_body().collect().await?.to_bytes();
                    received.store(body.len(), Ordering::SeqCst);
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
                }
            })
        };
        let layer = MirrorLayer::new(shadow)
            .max_body_bytes(BODY)
            .max_buffered_bytes(BODY + (1 << 20));
        let handle = layer.handle();
        let primary = service_fn(|req: Request<MirrorBody<_>>| async move {
            // Reads each frame and drops it, as a proxy forwarding it would.
            let mut body = req.into_body();
            let mut read = 0;
            while let Some(frame) = body.frame().await {
                let frame: Frame<Bytes> = frame?;
                read += frame.data_ref().map_or(0, Bytes::len);
            }
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(read.to_string()))))
        });
        let svc = layer.layer(primary);

        let frames = (0..BODY / FRAME).map(|i| {
            // A fresh allocation per frame, filled so its pages are really touched.
            Ok::<_, Infallible>(Frame::data(Bytes::from(vec![(i % 251) as u8; FRAME])))
        });
        let mut request = Request::post("http://primary.test/upload")
            .body(StreamBody::new(futures_util::stream::iter(frames)))
            .expect("a request");
        if case == "content-length" {
            request
                .headers_mut()
                .insert(http::header::CONTENT_LENGTH, BODY.into());
        }

        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (stop, handle) = (Arc::clone(&stop), handle.clone());
            std::thread::spawn(move || {
                let mut peak = 0;
                while !stop.load(Ordering::Acquire) {
                    peak = peak.max(handle.buffered_bytes());
                    std::thread::sleep(Duration::from_micros(200));
                }
                peak
            })
        };
        let before = status_kib("VmRSS:");
        let response = svc.oneshot(request).await.expect("the primary answers");
        let read = response.into_body().collect().await.expect("a body").to_bytes();
        assert_eq!(read, BODY.to_string(), "the primary read every byte");
        handle.wait_idle().await;
        stop.store(true, Ordering::Release);
        let budget_peak = sampler.join().expect("the sampler");
        let peak = status_kib("VmHWM:");
        let stats = handle.stats();
        assert_eq!(stats.completed, 1, "{stats:?}");
        assert_eq!(received.load(Ordering::SeqCst), BODY, "the shadow got every byte");

        let rise = (peak - before) as f64 / 1024.0;
        let body_mib = (BODY >> 20) as f64;
        println!(
            "  {case:>14}: peak RSS rise {rise:.1} MiB ({:.2}x the body); budget peak {:.1} MiB ({:.2}x)",
            rise / body_mib,
            budget_peak as f64 / f64::from(1 << 20),
            budget_peak as f64 / BODY as f64,
        );
    });
}
