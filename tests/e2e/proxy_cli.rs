//! The `shadow_proxy` example as a user runs it: its flags, and a real run on loopback ended
//! by SIGTERM.

use http::Request;
use http_body_util::Full;
use support::loopback::{Backend, Reply, client, fetch};
use support::shadow_proxy::{Proxy, assert_refused};

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
