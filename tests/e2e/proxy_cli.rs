//! The `shadow_proxy` example as a user runs it: its flags, and a real run on loopback ended
//! by SIGTERM.
// The example needs the `istio` feature (on by default).
#![cfg(feature = "istio")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use http::Request;
use http_body_util::Full;
use support::{Backend, Reply, client, send};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The example's binary, built once per test run so it is never stale.
///
/// Cargo does not build examples for `cargo test --test proxy_cli`, nor say where they are:
/// this test runs from `<target>/<profile>/deps/`, and the example lands in
/// `<target>/<profile>/examples/`.
fn proxy_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("tests run from <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("a target directory");
        let mut build = std::process::Command::new(env!("CARGO"));
        build
            .args([
                "build",
                "--quiet",
                "--example",
                "shadow_proxy",
                "--manifest-path",
            ])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some(profile) => {
                build.args(["--profile", profile]);
            }
        }
        // Same features as this test, so the library is not rebuilt differently.
        if cfg!(feature = "istio") {
            build.args(["--features", "istio"]);
        }
        let status = build.status().expect("cargo runs");
        assert!(
            status.success(),
            "cargo build --example shadow_proxy: {status}"
        );
        profile_dir
            .join("examples")
            .join(format!("shadow_proxy{}", std::env::consts::EXE_SUFFIX))
    })
}

/// The running proxy; killed (by its pid) when dropped, whatever path the test takes.
struct Proxy {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Proxy {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(proxy_binary())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the proxy starts");
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, stdout }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("the proxy is still running")
    }

    /// Waits (bounded) for the `listening on URL` line; returns the URL.
    async fn listening(&mut self) -> String {
        let wait = async {
            while let Some(line) = self.stdout.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return url.to_owned();
                }
            }
            panic!("the proxy's stdout ended before it listened");
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the proxy listens within 10 s")
    }

    /// Waits (bounded) for the proxy to exit; returns its status, the rest of its stdout,
    /// and its stderr.
    async fn exit(mut self) -> (ExitStatus, String, String) {
        let mut stderr = self.child.stderr.take().unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        let exited = tokio::time::timeout(Duration::from_secs(10), async {
            let read_out = async {
                while let Some(line) = self.stdout.next_line().await.unwrap() {
                    out.push_str(&line);
                    out.push('\n');
                }
            };
            let (_, read_err, status) =
                tokio::join!(read_out, stderr.read_to_string(&mut err), self.child.wait());
            read_err.unwrap();
            status.unwrap()
        })
        .await;
        match exited {
            Ok(status) => (status, out, err),
            // `self` drops on the way out: the proxy is killed.
            Err(_) => panic!("the proxy did not exit within 10 s; stdout: {out}; stderr: {err}"),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGKILL by pid; an error only means it already exited.
        let _ = self.child.start_kill();
    }
}

/// Runs the proxy with `args`, which must be refused: exit code 2 and a usage message on
/// stderr that names `names`.
async fn assert_refused(args: &[&str], names: &str) {
    let (status, _, stderr) = Proxy::start(args).exit().await;
    assert_eq!(
        status.code(),
        Some(2),
        "{args:?}: {status}; stderr: {stderr}"
    );
    assert!(
        stderr.contains(names),
        "{args:?}: stderr does not name {names}: {stderr}"
    );
    assert!(
        stderr.contains("usage: shadow_proxy"),
        "{args:?}: no usage: {stderr}"
    );
}

const PRIMARY: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn bad_flags_exit_2_with_usage() {
    let listen = "127.0.0.1:0";
    let cases: &[(&[&str], &str)] = &[
        (
            &["--listen", listen, "--primary", PRIMARY, "--bogus", "1"],
            "--bogus",
        ),
        (
            &["--listen", listen, "--primary", PRIMARY, "--percent", "101"],
            "--percent",
        ),
        (
            &["--listen", "not-an-address", "--primary", PRIMARY],
            "--listen",
        ),
        (&["--listen", listen], "--primary"),
        (&["--listen", listen, "--primary", "ftp://x"], "--primary"),
        (
            &["--listen", listen, "--primary", PRIMARY, "--shadow"],
            "--shadow",
        ),
    ];
    for &(args, names) in cases {
        assert_refused(args, names).await;
    }
}

#[tokio::test]
async fn proxies_mirrors_and_prints_stats_on_sigterm() {
    const REQUESTS: usize = 20;
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let (primary_url, shadow_url) = (primary_server.url(), shadow_server.url());
    let mut proxy = Proxy::start(&[
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &primary_url,
        "--shadow",
        &shadow_url,
    ]);

    let url = proxy.listening().await;

    let client = client();
    for i in 0..REQUESTS {
        let body = format!("order {i}");
        let answer = send(
            &client,
            Request::post(format!("{url}/orders/{i}"))
                .body(Full::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.served_by(), "primary");
        assert_eq!(answer.body, primary.body_for(body.len()));
    }

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &proxy.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let (status, stdout, stderr) = proxy.exit().await;
    assert!(status.success(), "{status}; stderr: {stderr}");
    assert!(
        stdout.contains("mirror stats: seen=20 mirrored=20 completed=20 failed=0 timed_out=0"),
        "stdout: {stdout}"
    );
    assert!(
        stdout.contains("copies cut at shutdown: 0"),
        "stdout: {stdout}"
    );
    assert_eq!(primary.received().len(), REQUESTS);
    let mut copies: Vec<_> = shadow.received().iter().map(|r| r.body.clone()).collect();
    copies.sort();
    let mut sent: Vec<_> = (0..REQUESTS).map(|i| format!("order {i}")).collect();
    sent.sort();
    assert_eq!(copies, sent);
}
