//! Mirroring end to end: a primary and its shadows, or Istio rules with an endpoints file,
//! in front of real loopback servers; stopped with SIGTERM, which prints each mirror's
//! stats.

use std::ffi::OsStr;

use http::Request;
use http_body_util::Full;
use support::loopback::{Backend, Proto, Reply, client, fetch};
use support::versions::httpbin_rule_path;

use crate::{TempDir, start};

const REQUESTS: usize = 20;

/// The stats line a mirror prints at exit, up to the drop counters.
fn counted(mirror: &str, n: usize) -> String {
    format!(
        "mirror {mirror}: seen={n} mirrored={n} completed={n} failed=0 timed_out=0 dropped_overload=0 "
    )
}

#[tokio::test]
async fn proxies_mirrors_to_every_shadow_and_prints_stats_on_sigterm() {
    let primary = Backend::new("primary", Reply::Now);
    let (shadow_a, shadow_b) = (
        Backend::new("shadow-a", Reply::Now),
        Backend::new("shadow-b", Reply::Now),
    );
    let servers = (
        primary.start().await,
        shadow_a.start().await,
        shadow_b.start().await,
    );
    let (a_url, b_url) = (servers.1.url(), servers.2.url());
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &servers.0.url(),
        "--shadow",
        &a_url,
        "--shadow",
        &b_url,
    ]);
    let url = proxy.listening().await;

    let client = client();
    for i in 0..REQUESTS {
        let body = format!("order {i}");
        let answer = fetch(
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

    proxy.terminate();
    let (status, stdout, stderr) = proxy.exit().await;
    assert!(status.success(), "{status}; stderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one line per mirror: {stdout}");
    assert!(lines[0].starts_with(&counted(&a_url, REQUESTS)), "{stdout}");
    assert!(lines[1].starts_with(&counted(&b_url, REQUESTS)), "{stdout}");
    for line in lines {
        assert!(line.ends_with(" cut_at_shutdown=0"), "{line}");
        assert!(line.contains(" skipped_no_runtime=0 "), "{line}");
    }
    assert_eq!(primary.received().len(), REQUESTS);
    let sent: Vec<String> = (0..REQUESTS).map(|i| format!("order {i}")).collect();
    for shadow in [&shadow_a, &shadow_b] {
        let mut copies: Vec<String> = shadow
            .received()
            .iter()
            .map(|r| String::from_utf8(r.body.to_vec()).unwrap())
            .collect();
        copies.sort();
        let mut expected = sent.clone();
        expected.sort();
        assert_eq!(copies, expected);
    }
}

#[tokio::test]
async fn rules_and_endpoints_route_to_v1_mirror_to_v2_and_print_stats_on_sigterm() {
    let (v1, v2) = (
        Backend::new("v1", Reply::Now),
        Backend::new("v2", Reply::Now),
    );
    let (v1_server, v2_server) = (v1.start().await, v2.start().await);
    let dir = TempDir::new("rules-endpoints");
    let endpoints = dir.write(
        "endpoints.yaml",
        &format!(
            "httpbin:\n- labels: {{version: v1}}\n  url: {}\n\
             - labels: {{version: v2}}\n  url: {}\n",
            v1_server.url(),
            v2_server.url()
        ),
    );
    let rules = httpbin_rule_path();
    let mut proxy = start([
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--rules"),
        rules.as_os_str(),
        OsStr::new("--endpoints"),
        endpoints.as_os_str(),
    ]);
    let url = proxy.listening().await;

    let client = client();
    for i in 0..REQUESTS {
        let body = format!("request {i}");
        let answer = fetch(
            &client,
            Request::post(format!("{url}/anything/{i}"))
                .body(Full::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.served_by(), "v1", "request {i} is served by v1");
        assert_eq!(answer.body, v1.body_for(body.len()));
    }

    proxy.terminate();
    // The proxy waits for copies in flight before printing, then exits.
    let (status, stdout, stderr) = proxy.exit().await;
    assert!(status.success(), "{status}; stderr: {stderr}");
    let mirror = "mirror-traffic-to-httbin-v2->httpbin{version=v2}";
    assert!(
        stdout.starts_with(&counted(mirror, REQUESTS)),
        "stdout: {stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert_eq!(v1.received().len(), REQUESTS, "v1 served every request");
    assert_eq!(
        v2.received().len(),
        REQUESTS,
        "v2 got every copy, no primary"
    );
}

/// Sends `REQUESTS` POSTs through a proxy mirroring to an HTTP/2-only shadow, with `extra`
/// flags; returns the proxy's stdout and what the shadow received on how many connections.
async fn mirror_to_h2_only_shadow(extra: &[&str]) -> (String, usize, usize) {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (
        primary.start().await,
        shadow.start_with(Proto::Http2Only).await,
    );
    let (primary_url, shadow_url) = (primary_server.url(), shadow_server.url());
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &primary_url,
        "--shadow",
        &shadow_url,
    ];
    args.extend_from_slice(extra);
    let mut proxy = start(args);
    let url = proxy.listening().await;
    let client = client();
    for i in 0..REQUESTS {
        let body = format!("order {i}");
        let answer = fetch(
            &client,
            Request::post(format!("{url}/orders/{i}"))
                .body(Full::from(body))
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.served_by(), "primary");
    }
    proxy.terminate();
    let (status, stdout, stderr) = proxy.exit().await;
    assert!(status.success(), "{status}; stderr: {stderr}");
    let copies = shadow.received();
    for copy in &copies {
        assert!(copy.uri.path().starts_with("/orders/"), "{copy:?}");
    }
    (stdout, copies.len(), shadow_server.accepted())
}

#[tokio::test]
async fn shadow_http2_mirrors_to_an_h2c_shadow_on_one_connection() {
    let (stdout, copies, connections) = mirror_to_h2_only_shadow(&["--shadow-http2"]).await;
    assert_eq!(copies, REQUESTS, "{stdout}");
    assert_eq!(connections, 1, "copies multiplexed on one connection");
    assert!(
        stdout.contains(&format!(" completed={REQUESTS} ")),
        "{stdout}"
    );
}

#[tokio::test]
async fn without_shadow_http2_an_h2c_only_shadow_gets_nothing() {
    let (stdout, copies, _) = mirror_to_h2_only_shadow(&["--no-circuit-breaker"]).await;
    assert_eq!(copies, 0, "{stdout}");
    assert!(stdout.contains(&format!(" failed={REQUESTS} ")), "{stdout}");
}
