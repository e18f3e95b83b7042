//! A shadowing reverse proxy built only from tower-mirror's parts and hyper-util's server.
//!
//! ```text
//! cargo run --release --example shadow_proxy -- --listen 127.0.0.1:8080 \
//!     --primary http://127.0.0.1:9001 [--shadow http://127.0.0.1:9002] [--percent 100] \
//!     [--max-body-bytes 1048576] [--max-in-flight 1024] [--timeout-ms 5000] \
//!     [--worker-threads N] [--no-circuit-breaker] [--compare] [--admin ADDR] \
//!     [--ca-file PEM] [--client-cert PEM --client-key PEM] [--tls-cert PEM --tls-key PEM]
//! cargo run --release --example shadow_proxy -- --listen 127.0.0.1:8080 \
//!     --rules examples/config/mirror-httpbin-v2.yaml --endpoints endpoints.yaml [...]
//! ```
//!
//! `--compare` (feature `compare`) diffs the shadow's answers against the primary's and
//! prints the report on exit; `--admin ADDR` serves `GET /stats` and `GET /report` (JSON).
//!
//! Without `--shadow` it is the same proxy without mirroring (the benchmarks' baseline).
//!
//! TLS: `--tls-cert PEM --tls-key PEM` serve TLS on `--listen` (ALPN `h2`, `http/1.1`).
//! `https` primaries and shadows need the `rustls` feature
//! (`cargo run --features rustls --example shadow_proxy -- ...`); they trust the public web
//! roots plus `--ca-file`'s, and present `--client-cert`/`--client-key` to servers that
//! ask for a client certificate.
//!
//! `--rules FILE --endpoints FILE` replace `--primary`/`--shadow`: the rules are Istio YAML
//! (a file, or a directory of files such as a mounted ConfigMap)
//! (`RouteRule`, `VirtualService` + `DestinationRule`), the endpoints map each destination
//! to its labeled instances:
//!
//! ```yaml
//! httpbin:
//! - labels: {version: v1}
//!   url: http://127.0.0.1:9001
//! - labels: {version: v2}
//!   url: http://127.0.0.1:9002
//! ```
//!
//! Each request goes to the first rule that matches it (404 when none does), is split by
//! weight and copied to the rule's mirrors, each mirror with the limits, timeout and circuit
//! breaker set by the flags. On exit one line per mirror is printed
//! (`mirror <rule> -> <destination> <labels>: seen=...`), after a `mirror stats: ...` line
//! for the first mirror, which is also the one `--admin`'s `/stats` shows. A bad rules or
//! endpoints file exits with status 2 and the error's file, line and column.
//! It serves HTTP/1.1 with keep-alive and HTTP/2 (detected per connection), logs with
//! `RUST_LOG`, and on Ctrl-C or SIGTERM stops accepting, finishes in-flight requests, waits
//! for in-flight copies up to a deadline and prints the mirror stats.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_mirror::istio::{Config, Endpoints, MirrorInfo, Router};
use tower_mirror::upstream::{Builder, HttpUpstream};
use tower_mirror::{BoxError, MirrorHandle, MirrorLayer, MirrorStats};

const USAGE: &str = "usage: shadow_proxy --listen ADDR --primary URL [--shadow URL] [--percent P] \
[--max-body-bytes N] [--max-in-flight N] [--timeout-ms MS] [--worker-threads N] [--no-circuit-breaker] \
[--compare] [--admin ADDR] [--ca-file PEM] [--client-cert PEM --client-key PEM] \
[--tls-cert PEM --tls-key PEM]
   or: shadow_proxy --listen ADDR --rules FILE --endpoints FILE [--max-body-bytes N] \
[--max-in-flight N] [--timeout-ms MS] [--worker-threads N] [--no-circuit-breaker] [--admin ADDR] \
[--tls-cert PEM --tls-key PEM]";

/// How long shutdown waits for open requests, then for copies in flight.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);
/// How long a client may take over its TLS handshake (`--tls-cert`).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One boxed body type for every mode (plain, mirror, compare, rules, error pages).
type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;
/// Errors never reach hyper: `boxed` turns them into 502s.
type App = BoxCloneSyncService<Request<Incoming>, Response<ProxyBody>, Infallible>;

#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    upstreams: Upstreams,
    percent: f64,
    max_body_bytes: usize,
    max_in_flight: usize,
    timeout: Duration,
    worker_threads: Option<usize>,
    circuit_breaker: bool,
    compare: bool,
    admin: Option<SocketAddr>,
    /// `--tls-cert`/`--tls-key`: serve TLS on `--listen`.
    serve_tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

/// Where requests go: given on the command line, or read from Istio rules.
#[derive(Debug)]
enum Upstreams {
    Direct {
        primary: HttpUpstream,
        shadow: Option<HttpUpstream>,
    },
    Rules {
        rules: PathBuf,
        endpoints: PathBuf,
    },
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut listen = None;
    let mut primary = None;
    let mut shadow = None;
    let mut rules = None;
    let mut endpoints = None;
    let mut percent = None;
    let mut max_body_bytes = 1 << 20;
    let mut max_in_flight = 1024;
    let mut timeout_ms = 5000;
    let mut worker_threads = None;
    let mut circuit_breaker = true;
    let mut compare = false;
    let mut admin = None;
    let mut tls = TlsFiles::default();
    while let Some(flag) = args.next() {
        if flag == "--no-circuit-breaker" {
            circuit_breaker = false;
            continue;
        }
        if flag == "--compare" {
            if cfg!(not(feature = "compare")) {
                return Err("--compare needs the `compare` feature: \
                    cargo run --features compare --example shadow_proxy -- ..."
                    .into());
            }
            compare = true;
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
            "--admin" => {
                admin = Some(value.parse().map_err(|_| {
                    format!("--admin {value:?}: expected an address like 127.0.0.1:9901")
                })?)
            }
            "--primary" => primary = Some(value),
            "--shadow" => shadow = Some(value),
            "--ca-file" => tls.ca_file = Some(PathBuf::from(value)),
            "--client-cert" => tls.client_cert = Some(PathBuf::from(value)),
            "--client-key" => tls.client_key = Some(PathBuf::from(value)),
            "--tls-cert" => tls.serve_cert = Some(PathBuf::from(value)),
            "--tls-key" => tls.serve_key = Some(PathBuf::from(value)),
            "--rules" => rules = Some(PathBuf::from(value)),
            "--endpoints" => endpoints = Some(PathBuf::from(value)),
            "--percent" => {
                percent = Some(
                    value
                        .parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=100.0).contains(p))
                        .ok_or_else(|| {
                            format!("--percent {value:?}: expected a number in 0..=100")
                        })?,
                )
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
    let upstreams = match (rules, endpoints) {
        (None, None) => {
            let builder = tls.upstream_builder()?;
            let primary = primary
                .ok_or("--primary is required (or --rules FILE --endpoints FILE instead)")?;
            Upstreams::Direct {
                primary: upstream(&builder, "--primary", &primary)?,
                shadow: match shadow {
                    Some(url) => Some(upstream(&builder, "--shadow", &url)?),
                    None => None,
                },
            }
        }
        (Some(rules), Some(endpoints)) => {
            if primary.is_some() || shadow.is_some() {
                return Err(
                    "--rules/--endpoints replace --primary/--shadow: give one or the \
                            other, not both"
                        .into(),
                );
            }
            if percent.is_some() {
                return Err("--percent goes with --shadow; with --rules each mirror's \
                            percentage comes from the rules"
                    .into());
            }
            if compare {
                return Err("--compare works with --primary/--shadow only".into());
            }
            if tls.ca_file.is_some() || tls.client_cert.is_some() || tls.client_key.is_some() {
                return Err(
                    "--ca-file/--client-cert/--client-key work with --primary/--shadow \
                     only; the endpoints file's https URLs trust the public roots"
                        .into(),
                );
            }
            Upstreams::Rules { rules, endpoints }
        }
        (Some(_), None) => return Err("--rules needs --endpoints FILE too".into()),
        (None, Some(_)) => return Err("--endpoints needs --rules FILE too".into()),
    };
    Ok(Args {
        listen: listen.ok_or("--listen is required")?,
        upstreams,
        percent: percent.unwrap_or(100.0),
        max_body_bytes,
        max_in_flight,
        timeout: Duration::from_millis(timeout_ms as u64),
        worker_threads,
        circuit_breaker,
        compare,
        admin,
        serve_tls: tls.server_config()?,
    })
}

fn upstream(builder: &Builder, flag: &str, value: &str) -> Result<HttpUpstream, String> {
    let uri = value
        .parse()
        .map_err(|e| format!("{flag} {value:?}: not a URL ({e})"))?;
    builder
        .clone()
        .build(uri)
        .map_err(|e| format!("{flag} {value:?}: {e}"))
}

/// The TLS flags' files.
#[derive(Debug, Default)]
struct TlsFiles {
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    serve_cert: Option<PathBuf>,
    serve_key: Option<PathBuf>,
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{flag} {}: cannot read it: {e}", path.display()))
}

impl TlsFiles {
    /// How `--primary` and `--shadow` are built: with `--ca-file` and the client identity.
    fn upstream_builder(&self) -> Result<Builder, String> {
        let builder = HttpUpstream::builder();
        if self.ca_file.is_none() && self.client_cert.is_none() && self.client_key.is_none() {
            return Ok(builder);
        }
        #[cfg(not(feature = "rustls"))]
        return Err(
            "--ca-file/--client-cert/--client-key need the `rustls` feature: \
             cargo run --features rustls --example shadow_proxy -- ..."
                .into(),
        );
        #[cfg(feature = "rustls")]
        {
            let mut builder = builder;
            if let Some(path) = &self.ca_file {
                builder = builder
                    .add_root_certificates_pem(read("--ca-file", path)?)
                    .map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
            }
            match (&self.client_cert, &self.client_key) {
                (Some(cert), Some(key)) => {
                    builder = builder
                        .client_identity_pem(
                            read("--client-cert", cert)?,
                            read("--client-key", key)?,
                        )
                        .map_err(|e| format!("--client-cert/--client-key: {e}"))?;
                }
                (None, None) => {}
                _ => return Err("--client-cert and --client-key go together".into()),
            }
            Ok(builder)
        }
    }

    /// `--tls-cert`/`--tls-key`: the TLS server config for `--listen`.
    fn server_config(&self) -> Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>, String> {
        use tokio_rustls::rustls::{self, pki_types::pem::PemObject};
        let (cert, key) = match (&self.serve_cert, &self.serve_key) {
            (Some(cert), Some(key)) => (cert, key),
            (None, None) => return Ok(None),
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        let chain = rustls::pki_types::CertificateDer::pem_slice_iter(&read("--tls-cert", cert)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&read("--tls-key", key)?)
            .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(Arc::new(config)))
    }
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
    // Logs go to stderr: stdout carries the lines scripts read (address, stats).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    // One worker: a current-thread runtime does the same work without the work-stealing
    // scheduler's synchronisation.
    let mut runtime = match args.worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            runtime.worker_threads(n);
            runtime
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("shadow_proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Built inside the runtime's context, before serving, so a bad file exits at once.
    let built = {
        let _context = runtime.enter();
        build_app(&args)
    };
    let (app, mirrors) = match built {
        Ok(built) => built,
        Err(message) => {
            eprintln!("shadow_proxy: {message}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args, app, mirrors)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shadow_proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    args: Args,
    app: App,
    mirrors: Mirrors,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr()?;
    // The line tests and scripts wait for (with the real port when --listen asks for 0).
    let scheme = if args.serve_tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listening on {scheme}://{local}");
    match &args.upstreams {
        Upstreams::Direct { primary, shadow } => {
            tracing::info!(%local, primary = primary.base(), shadow = shadow.as_ref().map(|s| s.base()), "proxy ready")
        }
        Upstreams::Rules { rules, endpoints } => {
            tracing::info!(%local, rules = %rules.display(), endpoints = %endpoints.display(), "proxy ready")
        }
    }

    if let Some(addr) = args.admin {
        let admin = serve_admin(addr, mirrors.first(), args.compare)
            .await
            .map_err(|e| format!("cannot listen on {addr} (--admin): {e}"))?;
        println!("admin on http://{admin} (/stats, /report)");
    }

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
                let (app, server, watcher) = (app.clone(), server.clone(), graceful.watcher());
                let tls = args.serve_tls.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_connection(stream, tls, app, server, watcher).await {
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
    match mirrors {
        Mirrors::None => {}
        Mirrors::One(handle) => {
            let abandoned = handle.shutdown(DRAIN_DEADLINE).await;
            println!("mirror stats: {}", format_stats(&handle.stats()));
            println!("copies cut at shutdown: {abandoned}");
            #[cfg(feature = "compare")]
            if args.compare {
                print!("compare report:\n{}", handle.compare_report());
            }
        }
        Mirrors::Rules(mirrors) => {
            // All mirrors drain together, under one deadline.
            let cut = futures_util::future::join_all(
                mirrors.iter().map(|m| m.handle.shutdown(DRAIN_DEADLINE)),
            )
            .await;
            if let Some(first) = mirrors.first() {
                println!("mirror stats: {}", format_stats(&first.handle.stats()));
            }
            for m in &mirrors {
                let labels = if m.labels.is_empty() {
                    "(all)"
                } else {
                    &m.labels
                };
                println!(
                    "mirror {} -> {} {labels}: {}",
                    m.rule,
                    m.destination,
                    format_stats(&m.handle.stats())
                );
            }
            println!("copies cut at shutdown: {}", cut.iter().sum::<usize>());
        }
    }
    Ok(())
}

/// Serves one accepted connection, after a TLS handshake with `--tls-cert` (on the
/// connection's own task, never holding up accepts).
async fn serve_connection(
    stream: tokio::net::TcpStream,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    app: App,
    server: auto::Builder<TokioExecutor>,
    watcher: Watcher,
) -> Result<(), BoxError> {
    let service = TowerToHyperService::new(app);
    let Some(tls) = tls else {
        let connection = server.serve_connection(TokioIo::new(stream), service);
        return watcher.watch(connection.into_owned()).await;
    };
    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
    let stream = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await??;
    let connection = server.serve_connection(TokioIo::new(stream), service);
    watcher.watch(connection.into_owned()).await
}

/// The mirrors the proxy runs, for stats and shutdown.
enum Mirrors {
    None,
    /// `--shadow`.
    One(MirrorHandle),
    /// Every mirror of every rule, in rule order.
    Rules(Vec<MirrorInfo>),
}

impl Mirrors {
    /// The handle `--admin` reports on: the only mirror, or the first rule's first.
    fn first(&self) -> Option<MirrorHandle> {
        match self {
            Mirrors::None => None,
            Mirrors::One(handle) => Some(handle.clone()),
            Mirrors::Rules(mirrors) => mirrors.first().map(|m| m.handle.clone()),
        }
    }
}

/// `--admin`: `GET /stats` (counters as JSON) and, in compare mode, `GET /report`.
async fn serve_admin(
    addr: SocketAddr,
    handle: Option<MirrorHandle>,
    #[cfg_attr(not(feature = "compare"), allow(unused_variables))] compare: bool,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let admin = tower::service_fn(move |req: Request<Incoming>| {
        let handle = handle.clone();
        async move {
            let response = match (req.uri().path(), &handle) {
                ("/stats", Some(handle)) => json(stats_json(&handle.stats())),
                #[cfg(feature = "compare")]
                ("/report", Some(handle)) if compare => json(handle.compare_report().to_json()),
                _ => text(
                    StatusCode::NOT_FOUND,
                    "try /stats or, with --compare, /report\n".into(),
                ),
            };
            Ok::<_, Infallible>(response)
        }
    });
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(admin.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    Ok(local)
}

fn json(body: String) -> Response<ProxyBody> {
    let mut response = text(StatusCode::OK, body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn stats_json(s: &MirrorStats) -> String {
    let fields = format_stats(s)
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect::<Vec<_>>();
    format!("{{{}}}", fields.join(","))
}

/// The proxy's service; an error (a bad rules or endpoints file) says what to fix.
fn build_app(args: &Args) -> Result<(App, Mirrors), String> {
    let (primary, shadow) = match &args.upstreams {
        Upstreams::Rules { rules, endpoints } => return build_router(args, rules, endpoints),
        Upstreams::Direct { primary, shadow } => (primary, shadow),
    };
    let Some(shadow) = shadow.clone() else {
        return Ok((boxed(primary.clone()), Mirrors::None));
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
    #[cfg(feature = "compare")]
    if args.compare {
        let layer = layer.compare(tower_mirror::compare::CompareConfig::new());
        let svc = ServiceBuilder::new().layer(layer).service(primary.clone());
        return Ok((boxed(svc), Mirrors::One(handle)));
    }
    let svc = ServiceBuilder::new().layer(layer).service(primary.clone());
    Ok((boxed(svc), Mirrors::One(handle)))
}

/// `--rules` + `--endpoints`: an `istio::Router` with the flags' limits on every mirror.
fn build_router(args: &Args, rules: &Path, endpoints: &Path) -> Result<(App, Mirrors), String> {
    let read = |flag: &str, path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| format!("{flag} {}: cannot read it: {e}", path.display()))
    };
    // A directory (a ConfigMap mounted as one) holds one file per key.
    let config = if rules.is_dir() {
        Config::from_dir(rules)
    } else {
        Config::from_files([rules])
    }
    .map_err(|e| e.to_string())?;
    for warning in config.warnings() {
        // Each names its file.
        eprintln!("shadow_proxy: warning: {warning}");
    }
    let instances = Endpoints::from_yaml(&read("--endpoints", endpoints)?)
        .map_err(|e| format!("{}: {e}", endpoints.display()))?;

    let (max_body_bytes, max_in_flight, timeout) =
        (args.max_body_bytes, args.max_in_flight, args.timeout);
    let circuit_breaker = args.circuit_breaker;
    let router = instances
        .backends()
        .into_iter()
        .fold(Router::builder(&config), |builder, backends| {
            builder.backends(backends)
        })
        .configure_mirrors(move |layer| {
            let layer = layer
                .max_body_bytes(max_body_bytes)
                .max_in_flight(max_in_flight)
                .timeout(timeout);
            if circuit_breaker {
                layer.circuit_breaker(5, Duration::from_secs(10))
            } else {
                layer
            }
        })
        .build()
        .map_err(|e| {
            format!(
                "{e} (--rules {}, --endpoints {})",
                rules.display(),
                endpoints.display()
            )
        })?;
    let mirrors = router.mirrors().to_vec();
    Ok((boxed(router), Mirrors::Rules(mirrors)))
}

/// Boxes the response body and turns errors into `502 Bad Gateway`, so hyper always has a
/// response to send.
fn boxed<S, B>(svc: S) -> App
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Error: std::fmt::Display + Send,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(tower::service_fn(move |req| {
        let svc = svc.clone();
        async move {
            Ok(match svc.oneshot(req).await {
                Ok(response) => response.map(|body| body.map_err(Into::into).boxed_unsync()),
                Err(e) => {
                    tracing::debug!(error = %e, "primary failed");
                    text(StatusCode::BAD_GATEWAY, format!("{e}\n"))
                }
            })
        }
    }))
}

fn text(status: StatusCode, body: String) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::from(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
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
