//! The `shadow_proxy` example with `--rules` and `--endpoints`: the httpbin mirroring rule's
//! YAML in front of two real loopback servers, stopped with SIGTERM, prints per-mirror
//! stats.

use std::ffi::OsStr;
use std::path::PathBuf;

use http::Request;
use http_body_util::Full;
use support::loopback::{Backend, Reply, client, fetch};
use support::shadow_proxy::{Proxy, assert_refused};
use support::versions::httpbin_rule_path;

const REQUESTS: usize = 20;

/// Removes a temporary file when the test ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn rules_and_endpoints_route_to_v1_mirror_to_v2_and_print_stats_on_sigterm() {
    let (v1, v2) = (
        Backend::new("v1", Reply::Now),
        Backend::new("v2", Reply::Now),
    );
    let (v1_server, v2_server) = (v1.start().await, v2.start().await);

    let endpoints = TempFile(std::env::temp_dir().join(format!(
        "tower-mirror-proxy-rules-{}-{}.yaml",
        std::process::id(),
        v1_server.addr.port()
    )));
    std::fs::write(
        &endpoints.0,
        format!(
            "httpbin:\n- labels: {{version: v1}}\n  url: {}\n\
             - labels: {{version: v2}}\n  url: {}\n",
            v1_server.url(),
            v2_server.url()
        ),
    )
    .unwrap();
    let rules = httpbin_rule_path();

    let mut proxy = Proxy::start([
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--rules"),
        rules.as_os_str(),
        OsStr::new("--endpoints"),
        endpoints.0.as_os_str(),
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
    assert!(
        status.success(),
        "shadow_proxy exited with {status}; stderr: {stderr}"
    );
    let output: Vec<&str> = stdout.lines().collect();

    let expected = format!(
        "seen={REQUESTS} mirrored={REQUESTS} completed={REQUESTS} failed=0 timed_out=0 \
         dropped_overload=0"
    );
    let line = |prefix: &str| {
        *output
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

    assert_eq!(v1.received().len(), REQUESTS, "v1 served every request");
    assert_eq!(
        v2.received().len(),
        REQUESTS,
        "v2 got every copy, no primary"
    );
}

#[tokio::test]
async fn a_bad_endpoints_file_exits_2_with_its_line_and_column() {
    let endpoints = TempFile(std::env::temp_dir().join(format!(
        "tower-mirror-proxy-rules-bad-{}.yaml",
        std::process::id()
    )));
    std::fs::write(
        &endpoints.0,
        "httpbin:\n- labels: {version: v1}\n  url: ftp://x\n",
    )
    .unwrap();
    let rules = httpbin_rule_path();
    let (status, _, stderr) = Proxy::start([
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--rules"),
        rules.as_os_str(),
        OsStr::new("--endpoints"),
        endpoints.0.as_os_str(),
    ])
    .exit()
    .await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("httpbin[0].url at line 3, column 8: upstream `ftp://x`: invalid base URL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn rules_without_endpoints_or_with_primary_are_usage_errors() {
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
        let args = [&["--listen", "127.0.0.1:0"], args].concat();
        assert_refused(&args, message).await;
    }
}
