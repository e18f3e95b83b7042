//! A shadowing reverse proxy built only from tower-mirror's parts and hyper-util's server.
//!
//! ```text
//! cargo run --release --example shadow_proxy -- --listen 127.0.0.1:8080 \
//!     --primary http://127.0.0.1:9001 [--shadow http://127.0.0.1:9002] [--percent 100] \
//!     [--max-body-bytes 1048576] [--max-in-flight 1024] [--timeout-ms 5000] \
//!     [--worker-threads N] [--no-circuit-breaker]
//! ```
//!
//! Without `--shadow` it is the same proxy without mirroring (the benchmarks' baseline).
//! It serves HTTP/1.1 with keep-alive and HTTP/2 (detected per connection), logs with
//! `RUST_LOG`, and on Ctrl-C or SIGTERM stops accepting, finishes in-flight requests, waits
//! for in-flight copies up to a deadline and prints the mirror stats.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_mirror::upstream::HttpUpstream;
use tower_mirror::{MirrorHandle, MirrorLayer, MirrorStats};

const USAGE: &str = "usage: shadow_proxy --listen ADDR --primary URL [--shadow URL] [--percent P] \
[--max-body-bytes N] [--max-in-flight N] [--timeout-ms MS] [--worker-threads N] [--no-circuit-breaker]";

/// How long shutdown waits for open requests, then for copies in flight.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

type ProxyBody = Either<Incoming, Full<Bytes>>;
/// Errors never reach hyper: `boxed` turns them into 502s.
type App = BoxCloneSyncService<Request<Incoming>, Response<ProxyBody>, Infallible>;

#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    primary: HttpUpstream,
    shadow: Option<HttpUpstream>,
    percent: f64,
    max_body_bytes: usize,
    max_in_flight: usize,
    timeout: Duration,
    worker_threads: Option<usize>,
    circuit_breaker: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut listen = None;
    let mut primary = None;
    let mut shadow = None;
    let mut percent = 100.0;
    let mut max_body_bytes = 1 << 20;
    let mut max_in_flight = 1024;
    let mut timeout_ms = 5000;
    let mut worker_threads = None;
    let mut circuit_breaker = true;
    while let Some(flag) = args.next() {
        if flag == "--no-circuit-breaker" {
            circuit_breaker = false;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag} {value:?}: expected {what}"))
        };
        match flag.as_str() {
            "--listen" => {
                listen = Some(value.parse().map_err(|_| {
                    format!("--listen {value:?}: expected an address like 127.0.0.1:8080")
                })?)
            }
            "--primary" => primary = Some(upstream(&flag, &value)?),
            "--shadow" => shadow = Some(upstream(&flag, &value)?),
            "--percent" => {
                percent = value
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=100.0).contains(p))
                    .ok_or_else(|| format!("--percent {value:?}: expected a number in 0..=100"))?
            }
            "--max-body-bytes" => max_body_bytes = number("a byte count")?,
            "--max-in-flight" => max_in_flight = number("a count")?,
            "--timeout-ms" => timeout_ms = number("milliseconds")?,
            "--worker-threads" => {
                worker_threads = Some(number("a thread count")?)
                    .filter(|&n| n > 0)
                    .map(Some)
                    .ok_or_else(|| format!("--worker-threads {value:?}: expected at least 1"))?
            }
            _ => return Err(format!("unknown flag {flag:?}")),
        }
    }
    Ok(Args {
        listen: listen.ok_or("--listen is required")?,
        primary: primary.ok_or("--primary is required")?,
        shadow,
        percent,
        max_body_bytes,
        max_in_flight,
        timeout: Duration::from_millis(timeout_ms as u64),
        worker_threads,
        circuit_breaker,
    })
}

fn upstream(flag: &str, value: &str) -> Result<HttpUpstream, String> {
    value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("shadow_proxy: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.worker_threads {
        runtime.worker_threads(n);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("shadow_proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shadow_proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (app, handle) = build_app(&args);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr()?;
    // The line tests and scripts wait for (with the real port when --listen asks for 0).
    println!("listening on http://{local}");
    tracing::info!(%local, primary = args.primary.base(), shadow = args.shadow.as_ref().map(|s| s.base()), "proxy ready");

    let server = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone());
                let connection = server.serve_connection(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing open requests");
    if tokio::time::timeout(DRAIN_DEADLINE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open requests still running after {DRAIN_DEADLINE:?}; closing them");
    }
    if let Some(handle) = handle {
        let abandoned = handle.shutdown(DRAIN_DEADLINE).await;
        println!("mirror stats: {}", format_stats(&handle.stats()));
        println!("copies cut at shutdown: {abandoned}");
    }
    Ok(())
}

fn build_app(args: &Args) -> (App, Option<MirrorHandle>) {
    let Some(shadow) = args.shadow.clone() else {
        return (boxed(args.primary.clone()), None);
    };
    let mut layer = MirrorLayer::new(shadow)
        .sample_percent(args.percent)
        .max_body_bytes(args.max_body_bytes)
        .max_in_flight(args.max_in_flight)
        .timeout(args.timeout);
    if args.circuit_breaker {
        layer = layer.circuit_breaker(5, Duration::from_secs(10));
    }
    let handle = layer.handle();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(args.primary.clone());
    (boxed(svc), Some(handle))
}

/// Turns upstream errors into `502 Bad Gateway`, so hyper always has a response to send.
fn boxed<S>(svc: S) -> App
where
    S: Service<Request<Incoming>, Response = Response<Incoming>> + Clone + Send + Sync + 'static,
    S::Error: std::fmt::Display + Send,
    S::Future: Send,
{
    BoxCloneSyncService::new(tower::service_fn(move |req| {
        let svc = svc.clone();
        async move {
            Ok(match svc.oneshot(req).await {
                Ok(response) => response.map(Either::Left),
                Err(e) => {
                    tracing::debug!(error = %e, "primary failed");
                    let mut response = Response::new(Either::Right(Full::from(format!("{e}\n"))));
                    *response.status_mut() = StatusCode::BAD_GATEWAY;
                    response
                }
            })
        }
    }))
}

fn format_stats(s: &MirrorStats) -> String {
    format!(
        "seen={} mirrored={} completed={} failed={} timed_out={} dropped_overload={} \
         skipped_sampling={} skipped_filter={} skipped_body_too_large={} \
         skipped_body_incomplete={} skipped_upgrade={} skipped_shutdown={} truncated={}",
        s.seen,
        s.mirrored,
        s.completed,
        s.failed,
        s.timed_out,
        s.dropped_overload,
        s.skipped_sampling,
        s.skipped_filter,
        s.skipped_body_too_large,
        s.skipped_body_incomplete,
        s.skipped_upgrade,
        s.skipped_shutdown,
        s.truncated
    )
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
