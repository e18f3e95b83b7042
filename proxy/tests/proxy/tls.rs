//! TLS (feature `rustls`): serving TLS on --listen and mirroring to an https shadow that
//! requires a client certificate.

use std::path::Path;

use bytes::Bytes;
use http::{Request, Version};
use http_body_util::{BodyExt, Full};
use support::tls::{Ca, H2_AND_HTTP1, LOOPBACK, Leaf, TlsServer, server_config};
use support::within;
use tower::ServiceExt;
use tower_mirror::upstream::HttpUpstream;

use crate::{TempDir, start};

/// `len` bytes from a seeded xorshift: every byte value, no repeating pattern.
fn seeded_body(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<_>>()
        .into()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test]
async fn serves_tls_and_mirrors_to_an_https_shadow_with_a_client_certificate() {
    const REQUESTS: usize = 5;
    let ca = Ca::new("tower-mirror test CA");
    let cert = ca.issue(Leaf::Server(LOOPBACK));
    let client = ca.issue(Leaf::Client("proxy"));
    let primary = TlsServer::start("primary", server_config(&cert, H2_AND_HTTP1, None)).await;
    // The shadow asks for the proxy's client certificate.
    let shadow = TlsServer::start("shadow", server_config(&cert, H2_AND_HTTP1, Some(&ca))).await;
    let files = TempDir::new("tls");
    let ca_file = files.write("ca.pem", &ca.pem);
    let (cert_file, key_file) = (
        files.write("server.pem", &cert.cert_pem),
        files.write("server.key", &cert.key_pem),
    );
    let (client_cert, client_key) = (
        files.write("client.pem", &client.cert_pem),
        files.write("client.key", &client.key_pem),
    );

    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &primary.url("localhost"),
        "--shadow",
        &shadow.url("127.0.0.1"),
        "--ca-file",
        path_str(&ca_file),
        "--client-cert",
        path_str(&client_cert),
        "--client-key",
        path_str(&client_key),
        "--tls-cert",
        path_str(&cert_file),
        "--tls-key",
        path_str(&key_file),
    ]);
    let url = proxy.listening().await;
    let port = url
        .strip_prefix("https://127.0.0.1:")
        .expect("serves https");

    // The client trusts the test CA, reaches the proxy by name, and offers h2.
    let to_proxy = HttpUpstream::builder()
        .add_root_certificates_pem(&ca.pem)
        .unwrap()
        .only_custom_roots()
        .build(format!("https://localhost:{port}").parse().unwrap())
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..REQUESTS {
        let body = seeded_body(20_000 + i, i as u64);
        let req = Request::post(format!("/orders/{i}"))
            .body(Full::new(body.clone()))
            .unwrap();
        let res = within(to_proxy.clone().oneshot(req)).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), Version::HTTP_2, "ALPN picked h2 on --listen");
        assert_eq!(res.headers()["x-served-by"], "primary");
        assert!(within(res.into_body().collect()).await.unwrap().to_bytes() == body);
        sent.push(body);
    }

    proxy.terminate();
    let (status, stdout, stderr) = proxy.exit().await;
    assert!(status.success(), "{status}; stderr: {stderr}");
    let n = REQUESTS;
    assert!(
        stdout.contains(&format!(
            ": seen={n} mirrored={n} completed={n} failed=0 timed_out=0"
        )),
        "stdout: {stdout}; stderr: {stderr}"
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
async fn a_tls_handshake_that_never_starts_is_cut_at_the_header_timeout() {
    let ca = Ca::new("tower-mirror test CA");
    let cert = ca.issue(Leaf::Server(LOOPBACK));
    let files = TempDir::new("tls-handshake");
    let (cert_file, key_file) = (
        files.write("server.pem", &cert.cert_pem),
        files.write("server.key", &cert.key_pem),
    );
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        "http://127.0.0.1:9",
        "--tls-cert",
        path_str(&cert_file),
        "--tls-key",
        path_str(&key_file),
        "--header-timeout",
        "500ms",
    ]);
    let url = proxy.listening().await;
    let started = std::time::Instant::now();
    let answer = crate::raw_exchange(&url, b"", std::time::Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert!(answer.is_empty());
    assert!(took >= std::time::Duration::from_millis(450), "{took:?}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}
