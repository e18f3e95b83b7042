//! The main job: Istio's first mirroring rule (`mirror-traffic-to-httbin-v2`) over real HTTP, on loopback.
//!
//! Starts a `version: v1` and a `version: v2` server of `httpbin` on 127.0.0.1 (port 0), reads
//! the rule from `examples/config/mirror-httpbin-v2.yaml` (route v1 weight 100, v2 weight 0,
//! mirror to v2), builds the stack from it with `istio::Router`, sends 1,000 real HTTP
//! requests through it, and prints what each version received. v2 answers slowly, to show
//! that the client never waits for it.
//!
//! ```text
//! cargo run --example demo
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};
use tower_mirror::istio::{Config, Router};
use tower_mirror::route::{Backends, Labels};
use tower_mirror::upstream::HttpUpstream;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Istio's `mirror-traffic-to-httbin-v2` rule, verbatim.
const RULE: &str = include_str!("config/mirror-httpbin-v2.yaml");
const REQUESTS: usize = 1_000;
const CONCURRENCY: usize = 32;
const V2_DELAY: Duration = Duration::from_millis(100);

/// What one version of httpbin received: primary requests and mirrored copies.
#[derive(Default)]
struct Received {
    primary: AtomicUsize,
    copies: AtomicUsize,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let v1 = Arc::new(Received::default());
    let v2 = Arc::new(Received::default());
    let v1_addr = serve(version_server("v1", Duration::ZERO, Arc::clone(&v1))).await?;
    let v2_addr = serve(version_server("v2", V2_DELAY, Arc::clone(&v2))).await?;

    let config = Config::from_yaml(RULE)?;
    // Where the labels of the rule live: the two in-process servers.
    let upstream = |addr: SocketAddr| format!("http://{addr}").parse::<HttpUpstream>();
    let httpbin = Backends::new("httpbin")
        .with(Labels::from([("version", "v1")]), upstream(v1_addr)?)
        .with(Labels::from([("version", "v2")]), upstream(v2_addr)?);
    let router = Router::builder(&config)
        .backends(httpbin)
        .configure_mirrors(|layer| layer.header("x-mirrored-by", "tower-mirror"))
        .build()?;
    let proxy_addr = serve(router.clone()).await?;

    println!("httpbin v1 on {v1_addr}, v2 on {v2_addr} (answers in {V2_DELAY:?})");
    for rule in config.rules() {
        let splits: Vec<String> = rule
            .splits
            .iter()
            .map(|s| format!("{} weight {}", s.labels, s.weight))
            .collect();
        let mut mirrors: Vec<String> = rule
            .mirrors
            .iter()
            .map(|m| format!("{} {} at {}%", m.destination, m.labels, m.percent))
            .collect();
        if mirrors.is_empty() {
            mirrors.push("nothing".to_owned());
        }
        println!(
            "rule {} (precedence {}): {} -> {}; mirror to {}",
            rule.name,
            rule.precedence,
            rule.destination,
            splits.join(", "),
            mirrors.join(", ")
        );
    }
    println!("proxy on {proxy_addr}: sending {REQUESTS} requests, {CONCURRENCY} at a time\n");

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(REQUESTS);
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0;
    let mut ok = 0;
    while sent < REQUESTS || !tasks.is_empty() {
        while sent < REQUESTS && tasks.len() < CONCURRENCY {
            let client = client.clone();
            let request = Request::post(format!("http://{proxy_addr}/anything?n={sent}"))
                .body(Full::from(format!("request {sent}")))?;
            tasks.spawn(async move {
                let t = Instant::now();
                let response = client.request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                Ok::<_, Error>((status.is_success() && body == "v1", t.elapsed()))
            });
            sent += 1;
        }
        if let Some(done) = tasks.join_next().await {
            let (good, latency) = done??;
            ok += usize::from(good);
            latencies.push(latency);
        }
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];

    println!("client: {ok}/{REQUESTS} answered 200 by v1 in {elapsed:.2?}");
    println!(
        "client latency: p50 {:.2?}, p99 {:.2?}, max {:.2?} (v2 takes {V2_DELAY:?})",
        p(0.5),
        p(0.99),
        p(1.0)
    );
    router.wait_idle().await;
    let count = |r: &AtomicUsize| r.load(Ordering::Relaxed);
    println!(
        "\nv1 served {} requests, received {} copies",
        count(&v1.primary),
        count(&v1.copies)
    );
    println!(
        "v2 served {} requests, received {} mirrored copies",
        count(&v2.primary),
        count(&v2.copies)
    );
    for mirror in router.mirrors() {
        let s = mirror.handle.stats();
        println!(
            "\nmirror stats: seen {}, mirrored {}, completed {}, failed {}, timed out {}, dropped {}",
            s.seen, s.mirrored, s.completed, s.failed, s.timed_out, s.dropped_overload
        );
    }
    Ok(())
}

/// One version of httpbin: counts what it receives (copies carry `x-mirrored-by`) and
/// answers with its name after `delay`.
fn version_server(
    name: &'static str,
    delay: Duration,
    received: Arc<Received>,
) -> impl Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |req: Request<Incoming>| {
        let received = Arc::clone(&received);
        async move {
            let counter = if req.headers().contains_key("x-mirrored-by") {
                &received.copies
            } else {
                &received.primary
            };
            counter.fetch_add(1, Ordering::Relaxed);
            // Read the body, as a real service would.
            let _ = req.into_body().collect().await;
            tokio::time::sleep(delay).await;
            Ok(Response::new(Full::from(name)))
        }
    })
}

/// Serves `svc` on 127.0.0.1, port 0, until the process ends; returns the address.
async fn serve<S, B>(svc: S) -> Result<SocketAddr, Error>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<Error>,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Error>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let server = auto::Builder::new(TokioExecutor::new());
        while let Ok((stream, _)) = listener.accept().await {
            let svc = TowerToHyperService::new(svc.clone().map_err(Into::into));
            let connection = server
                .serve_connection(TokioIo::new(stream), svc)
                .into_owned();
            tokio::spawn(connection);
        }
    });
    Ok(addr)
}
