//! The `shadow_proxy` example serving TLS and mirroring to an https shadow that requires a
//! client certificate, run as a user runs it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use http::Version;
use http_body_util::BodyExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tower::ServiceExt;

use crate::pki::{Ca, LOOPBACK, Leaf};
use crate::server::{H2_AND_HTTP1, TlsServer, server_config};
use crate::{post, seeded_body};
use support::within;

/// The example's binary, built once per test run (with this test's features, so the
/// library is not rebuilt differently).
fn proxy_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        // Tests run from `<target>/<profile>/deps/`; examples land in
        // `<target>/<profile>/examples/`.
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("<target>/<profile>");
        let target_dir = profile_dir.parent().expect("a target directory");
        let features: Vec<&str> = [
            ("istio", cfg!(feature = "istio")),
            ("compare", cfg!(feature = "compare")),
            ("rustls", cfg!(feature = "rustls")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        let mut build = std::process::Command::new(env!("CARGO"));
        build
            .args(["build", "--quiet", "--example", "shadow_proxy"])
            .args(["--no-default-features", "--features", &features.join(",")])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        if let Some(profile) = profile_dir.file_name().and_then(|n| n.to_str())
            && profile != "debug"
        {
            build.args(["--profile", profile]);
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

/// PEM files for the proxy's flags, in a directory removed when dropped.
struct PemFiles(PathBuf);

impl PemFiles {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tower-mirror-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for PemFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Killed (SIGKILL, by its pid) when dropped, whatever path the test takes.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

#[tokio::test]
async fn proxy_serves_tls_and_mirrors_to_an_https_shadow() {
    const REQUESTS: usize = 5;
    let ca = Ca::new("tower-mirror test CA");
    let cert = ca.issue(Leaf::Server(LOOPBACK));
    let client = ca.issue(Leaf::Client("proxy"));
    let primary = TlsServer::start("primary", server_config(&cert, H2_AND_HTTP1, None)).await;
    // The shadow asks for the proxy's client certificate.
    let shadow = TlsServer::start("shadow", server_config(&cert, H2_AND_HTTP1, Some(&ca))).await;
    let files = PemFiles::new("tls-proxy");
    let ca_file = files.write("ca.pem", &ca.pem);
    let (cert_file, key_file) = (
        files.write("server.pem", &cert.cert_pem),
        files.write("server.key", &cert.key_pem),
    );
    let (client_cert, client_key) = (
        files.write("client.pem", &client.cert_pem),
        files.write("client.key", &client.key_pem),
    );

    let mut proxy = Running(
        Command::new(proxy_binary())
            .args(["--listen", "127.0.0.1:0"])
            .args(["--primary", &primary.url("localhost")])
            .args(["--shadow", &shadow.url("127.0.0.1")])
            .args(["--ca-file", &ca_file])
            .args(["--client-cert", &client_cert, "--client-key", &client_key])
            .args(["--tls-cert", &cert_file, "--tls-key", &key_file])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the proxy starts"),
    );
    let mut stdout = BufReader::new(proxy.0.stdout.take().unwrap()).lines();
    let url = within(async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("listening on ") {
                return url.to_owned();
            }
        }
        panic!("the proxy's stdout ended before it listened");
    })
    .await;
    let port = url
        .strip_prefix("https://127.0.0.1:")
        .expect("serves https");

    // The client trusts the test CA, reaches the proxy by name, and offers h2.
    let to_proxy = crate::trusting(&ca, &format!("https://localhost:{port}"));
    let mut sent = Vec::new();
    for i in 0..REQUESTS {
        let body = seeded_body(20_000 + i, i as u64);
        let res = within(
            to_proxy
                .clone()
                .oneshot(post(&format!("/orders/{i}"), &body)),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), Version::HTTP_2, "ALPN picked h2 on --listen");
        assert_eq!(res.headers()["x-served-by"], "primary");
        assert!(within(res.into_body().collect()).await.unwrap().to_bytes() == body);
        sent.push(body);
    }

    let pid = proxy.0.id().expect("still running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut stderr = proxy.0.stderr.take().unwrap();
    let (out, err, status) = within(async {
        let mut out = String::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            out.push_str(&line);
            out.push('\n');
        }
        let mut err = String::new();
        stderr.read_to_string(&mut err).await.unwrap();
        (out, err, proxy.0.wait().await.unwrap())
    })
    .await;
    assert!(status.success(), "{status}; stderr: {err}");
    let n = REQUESTS;
    assert!(
        out.contains(&format!(
            "mirror stats: seen={n} mirrored={n} completed={n} failed=0 timed_out=0"
        )),
        "stdout: {out}; stderr: {err}"
    );

    let bodies = |server: &TlsServer| {
        server
            .seen()
            .into_iter()
            .map(|s| s.body)
            .collect::<Vec<_>>()
    };
    assert!(bodies(&primary) == sent, "the primary got other bytes");
    let mut copies = bodies(&shadow);
    copies.sort_by_key(|b| b.len()); // copies may land in any order
    assert!(copies == sent, "the shadow got other bytes");
    assert!(
        shadow
            .seen()
            .iter()
            .all(|s| s.client_cert.as_ref() == Some(&client.cert)),
        "the proxy presented its client certificate"
    );
}

#[tokio::test]
async fn proxy_refuses_half_an_identity() {
    let files = PemFiles::new("tls-proxy-flags");
    let pem = files.write("only.pem", "not used");
    let out = within(
        Command::new(proxy_binary())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--primary",
                "https://localhost:1",
            ])
            .args(["--client-cert", &pem])
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--client-cert and --client-key go together"),
        "{stderr}"
    );
}
