//! The command line: help, version, flag forms, environment variables, refusals.

use std::process::Stdio;

use http::Request;
use http_body_util::Full;
use support::loopback::{Backend, Reply, client, fetch};
use support::proxy::{Proxy, assert_refused};
use support::within;

use crate::{TempDir, binary, start};

const PRIMARY: &str = "http://127.0.0.1:9";

async fn output(args: &[&str]) -> std::process::Output {
    within(
        tokio::process::Command::new(binary())
            .args(args)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn help_goes_to_stdout_with_every_default_and_exits_0() {
    let out = output(&["--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.starts_with("A shadowing reverse proxy"), "{help}");
    for flag in [
        "--listen <ADDR>",
        "--primary <URL>",
        "--shadow <URL>",
        "--percent <P>",
        "--rules <FILE>",
        "--endpoints <FILE>",
        "--default-host <NAME>",
        "--admin <ADDR>",
        "--timeout <D>",
        "--primary-timeout <D>",
        "--max-body-bytes <N>",
        "--oversize <WHAT>",
        "--stream-window <N>",
        "--max-in-flight <N>",
        "--worker-threads <N>",
        "--ca-file <PEM>",
        "--client-cert <PEM>",
        "--client-key <PEM>",
        "--tls-cert <PEM>",
        "--tls-key <PEM>",
        "--access-log",
        "--compare",
        "--drain-timeout <D>",
    ] {
        assert!(help.contains(flag), "--help does not show {flag}");
    }
    // Each hardening default is shown, with its environment variable.
    for (env, default) in [
        ("HEADER_TIMEOUT", "10s"),
        ("IDLE_TIMEOUT", "60s"),
        ("MAX_CONNECTIONS", "auto"),
        ("MAX_H2_STREAMS", "100"),
        ("MAX_HEADER_BYTES", "65536"),
        ("PRIMARY_TIMEOUT", "30s"),
        ("CONNECT_TIMEOUT", "5s"),
        ("UPSTREAM_MAX_CONNECTIONS", "256"),
        ("UPSTREAM_MAX_IDLE", "128"),
        ("DRAIN_TIMEOUT", "5s"),
    ] {
        let shown = format!("[env: TOWER_MIRROR_PROXY_{env}=] [default: {default}]");
        assert!(help.contains(&shown), "--help does not show {shown}");
    }
}

#[tokio::test]
async fn version_prints_the_crate_version() {
    let out = output(&["--version"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("tower-mirror-proxy {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Sends one request through a proxy started in front of a backend named `primary`, and
/// stops it.
async fn serves_one_request(mut proxy: Proxy) {
    let url = proxy.listening().await;
    let answer = fetch(
        &client(),
        Request::get(format!("{url}/ping"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.served_by(), "primary");
    proxy.terminate();
    let (status, _, stderr) = proxy.exit().await;
    assert!(status.success(), "{status}; stderr: {stderr}");
}

#[tokio::test]
async fn flags_take_equals_signs_and_environment_variables() {
    let primary = Backend::new("primary", Reply::Now);
    let server = primary.start().await;

    let listen_equals = format!("--primary={}", server.url());
    serves_one_request(start(["--listen=127.0.0.1:0", &listen_equals])).await;

    let from_env = Proxy::start_with_env(
        binary(),
        Vec::<&str>::new(),
        &[
            ("TOWER_MIRROR_PROXY_LISTEN", "127.0.0.1:0"),
            ("TOWER_MIRROR_PROXY_PRIMARY", &server.url()),
            ("TOWER_MIRROR_PROXY_PRIMARY_TIMEOUT", "2s"),
        ],
    );
    serves_one_request(from_env).await;
    assert_eq!(primary.received().len(), 2);

    // An environment variable is read as its flag would be.
    assert_refused_with_env(&[("TOWER_MIRROR_PROXY_PRIMARY_TIMEOUT", "soon")], "soon").await;
}

async fn assert_refused_with_env(env: &[(&str, &str)], names: &str) {
    let args = ["--listen", "127.0.0.1:0", "--primary", PRIMARY];
    let (status, _, stderr) = Proxy::start_with_env(binary(), args, env).exit().await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(names), "{stderr}");
}

#[tokio::test]
async fn bad_flags_exit_2_with_the_usage_on_stderr() {
    let listen = "127.0.0.1:0";
    let cases: &[(&[&str], &str)] = &[
        (
            &["--listen", listen, "--primary", PRIMARY, "--bogus", "1"],
            "--bogus",
        ),
        (
            &[
                "--listen",
                listen,
                "--primary",
                PRIMARY,
                "--shadow",
                PRIMARY,
                "--percent",
                "101",
            ],
            "--percent",
        ),
        (
            &["--listen", "not-an-address", "--primary", PRIMARY],
            "--listen",
        ),
        (&["--listen", listen], "--primary"),
        (
            &["--listen", listen, "--primary", "ftp://x"],
            "--primary \"ftp://x\"",
        ),
        (
            &["--listen", listen, "--primary", PRIMARY, "--shadow"],
            "--shadow",
        ),
        (
            &["--listen", listen, "--primary", PRIMARY, "--timeout", "5"],
            "--timeout",
        ),
        (
            &[
                "--listen",
                listen,
                "--primary",
                PRIMARY,
                "--max-header-bytes",
                "100",
            ],
            "at least 8192",
        ),
        (
            &["--listen", listen, "--primary", PRIMARY, "--percent", "5"],
            "--shadow",
        ),
        (
            &[
                "--listen",
                listen,
                "--primary",
                PRIMARY,
                "--client-cert",
                "c.pem",
            ],
            "--client-key",
        ),
        (&["--listen", listen, "--rules", "r.yaml"], "--endpoints"),
        (&["--listen", listen, "--endpoints", "e.yaml"], "--rules"),
        (
            &[
                "--listen",
                listen,
                "--rules",
                "r.yaml",
                "--endpoints",
                "e.yaml",
                "--primary",
                PRIMARY,
            ],
            "cannot be used with",
        ),
    ];
    for &(args, names) in cases {
        assert_refused(binary(), args, names).await;
    }
}

#[tokio::test]
async fn a_bad_endpoints_file_exits_2_with_its_line_and_column() {
    let dir = TempDir::new("bad-endpoints");
    let endpoints = dir.write(
        "endpoints.yaml",
        "httpbin:\n- labels: {version: v1}\n  url: ftp://x\n",
    );
    let rules = support::versions::httpbin_rule_path();
    let (status, _, stderr) = start([
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--rules".as_ref(),
        rules.as_os_str(),
        "--endpoints".as_ref(),
        endpoints.as_os_str(),
    ])
    .exit()
    .await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("httpbin[0].url at line 3, column 8: upstream `ftp://x`: invalid base URL"),
        "{stderr}"
    );
}
