//! The `shadow_proxy` example with `--rules` and `--endpoints`: the seed's YAML in front of
//! two real loopback servers, stopped with SIGTERM, prints per-mirror stats.
#![cfg(all(unix, feature = "istio"))]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

const REQUESTS: usize = 20;
/// Bounds every wait on the child, so a broken proxy fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(30);

/// The example binary next to this test's own (`target/<profile>/examples/shadow_proxy`),
/// built first if missing.
fn shadow_proxy_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/proxy_rules-<hash> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    let binary = profile_dir.join("examples").join("shadow_proxy");
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "shadow_proxy"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "cargo build --example shadow_proxy failed"
        );
    }
    binary
}

/// Kills the child by its PID when the test ends, however it ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a proxy that must exit on its own (a refused start); returns its exit code and
/// stderr. Killed at the deadline.
fn run_to_exit(command: &mut Command) -> (Option<i32>, String) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shadow_proxy starts");
    let mut child = ChildGuard(child);
    let mut stderr = child.0.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let status = wait_with_deadline(&mut child.0);
    (status.code(), reader.join().unwrap())
}

fn wait_with_deadline(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "shadow_proxy did not exit in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes a temporary file when the test ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A loopback server on port 0 that counts requests and answers with `name`.
async fn version_server(name: &'static str, count: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = Arc::clone(&count);
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let count = Arc::clone(&count);
                async move {
                    let _ = req.into_body().collect().await;
                    count.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, hyper::Error>(Response::new(Full::<Bytes>::from(name)))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[test]
fn rules_and_endpoints_route_to_v1_mirror_to_v2_and_print_stats_on_sigterm() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let v1_count = Arc::new(AtomicUsize::new(0));
    let v2_count = Arc::new(AtomicUsize::new(0));
    let (v1, v2) = runtime.block_on(async {
        (
            version_server("v1", Arc::clone(&v1_count)).await,
            version_server("v2", Arc::clone(&v2_count)).await,
        )
    });

    let endpoints = TempFile(std::env::temp_dir().join(format!(
        "tower-mirror-proxy-rules-{}-{}.yaml",
        std::process::id(),
        v1.port()
    )));
    std::fs::write(
        &endpoints.0,
        format!(
            "httpbin:\n- labels: {{version: v1}}\n  url: http://{v1}\n\
             - labels: {{version: v2}}\n  url: http://{v2}\n"
        ),
    )
    .unwrap();
    let rules =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/config/mirror-httpbin-v2.yaml");

    let child = Command::new(shadow_proxy_binary())
        .args(["--listen", "127.0.0.1:0", "--rules"])
        .arg(&rules)
        .arg("--endpoints")
        .arg(&endpoints.0)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("shadow_proxy starts");
    let mut child = ChildGuard(child);
    let pid = child.0.id();

    // Stdout lines, read on a thread so every wait below can have a deadline.
    let stdout = child.0.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines
        .recv_timeout(DEADLINE)
        .expect("the proxy prints its address");
    let proxy: SocketAddr = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .parse()
        .unwrap();

    runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        for i in 0..REQUESTS {
            let req = Request::post(format!("http://{proxy}/anything/{i}"))
                .body(Full::from(format!("request {i}")))
                .unwrap();
            let response = tokio::time::timeout(DEADLINE, client.request(req))
                .await
                .expect("the proxy answers in time")
                .unwrap();
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, "v1", "request {i} is served by v1");
        }
    });

    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // The proxy waits for copies in flight before printing, then exits.
    let status = wait_with_deadline(&mut child.0);
    assert!(status.success(), "shadow_proxy exited with {status}");
    let output: Vec<String> = lines.iter().collect();

    let expected = format!(
        "seen={REQUESTS} mirrored={REQUESTS} completed={REQUESTS} failed=0 timed_out=0 \
         dropped_overload=0"
    );
    let line = |prefix: &str| {
        output
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in {output:#?}"))
    };
    assert!(
        line("mirror stats: ").starts_with(&format!("mirror stats: {expected}")),
        "{output:#?}"
    );
    assert!(
        line("mirror mirror-traffic-to-httbin-v2 -> httpbin version=v2: ").ends_with(&format!(
            ": {expected} skipped_sampling=0 skipped_filter=0 \
                 skipped_body_too_large=0 skipped_body_incomplete=0 skipped_upgrade=0 \
                 skipped_shutdown=0 truncated=0"
        )),
        "{output:#?}"
    );
    assert_eq!(
        line("copies cut at shutdown: "),
        "copies cut at shutdown: 0"
    );

    assert_eq!(
        v1_count.load(Ordering::SeqCst),
        REQUESTS,
        "v1 served every request"
    );
    assert_eq!(
        v2_count.load(Ordering::SeqCst),
        REQUESTS,
        "v2 got every copy, no primary"
    );
}

#[test]
fn a_bad_endpoints_file_exits_2_with_its_line_and_column() {
    let endpoints = TempFile(std::env::temp_dir().join(format!(
        "tower-mirror-proxy-rules-bad-{}.yaml",
        std::process::id()
    )));
    std::fs::write(
        &endpoints.0,
        "httpbin:\n- labels: {version: v1}\n  url: ftp://x\n",
    )
    .unwrap();
    let rules =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/config/mirror-httpbin-v2.yaml");
    let (code, stderr) = run_to_exit(
        Command::new(shadow_proxy_binary())
            .args(["--listen", "127.0.0.1:0", "--rules"])
            .arg(&rules)
            .arg("--endpoints")
            .arg(&endpoints.0),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("httpbin[0].url at line 3, column 8: upstream `ftp://x`: invalid base URL"),
        "{stderr}"
    );
}

#[test]
fn rules_without_endpoints_or_with_primary_are_usage_errors() {
    let binary = shadow_proxy_binary();
    let cases: [(&[&str], &str); 3] = [
        (&["--rules", "r.yaml"], "--rules needs --endpoints FILE too"),
        (
            &["--endpoints", "e.yaml"],
            "--endpoints needs --rules FILE too",
        ),
        (
            &[
                "--rules",
                "r.yaml",
                "--endpoints",
                "e.yaml",
                "--primary",
                "http://127.0.0.1:1",
            ],
            "--rules/--endpoints replace --primary/--shadow",
        ),
    ];
    for (args, message) in cases {
        let (code, stderr) = run_to_exit(
            Command::new(&binary)
                .args(["--listen", "127.0.0.1:0"])
                .args(args),
        );
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: shadow_proxy"), "{args:?}: {stderr}");
    }
}
