//! `--admin`: health, every mirror's counters, the config in force, the compare report.

use std::ffi::OsStr;
use std::time::Duration;

use http::Request;
use http_body_util::Full;
use serde_json::Value;
use support::loopback::{Backend, Reply, client, closed_addr, fetch};
use support::versions::httpbin_rule_path;

use crate::{TempDir, admin, admin_url, get_json, httpbin_endpoints, start};

#[tokio::test]
async fn stats_show_every_mirror_with_every_counter() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let down = format!("http://{}", closed_addr());
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--primary",
        &primary_server.url(),
        "--shadow",
        &shadow_server.url(),
        "--shadow",
        &down,
    ]);
    let url = proxy.listening().await;
    let admin_url = admin_url(&mut proxy).await;

    let health = admin(&admin_url, "GET", "/healthz").await;
    assert_eq!(
        (health.status.as_u16(), &health.body[..]),
        (200, &b"ok\n"[..])
    );
    for i in 0..3 {
        let req = Request::get(format!("{url}/{i}"))
            .body(Full::default())
            .unwrap();
        assert_eq!(fetch(&client(), req).await.status, 200);
    }
    let stats = loop {
        let stats = get_json(&admin_url, "/stats").await;
        let finished = |i: usize| {
            let s = &stats["mirrors"][i]["stats"];
            s["completed"].as_u64().unwrap() + s["failed"].as_u64().unwrap() == 3
        };
        if finished(0) && finished(1) {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mirrors = stats["mirrors"].as_array().unwrap();
    assert_eq!(mirrors.len(), 2, "{stats}");
    assert_eq!(mirrors[0]["name"], shadow_server.url());
    assert_eq!(mirrors[1]["name"], down);
    assert_eq!(mirrors[0]["stats"]["completed"], 3);
    assert_eq!(mirrors[1]["stats"]["failed"], 3);
    for mirror in mirrors {
        let counters = mirror["stats"].as_object().unwrap();
        for name in [
            "seen",
            "mirrored",
            "skipped_no_runtime",
            "skipped_paused",
            "dropped_in_flight",
            "dropped_bytes",
            "dropped_breaker",
            "compared",
            "compare_skipped",
        ] {
            assert!(counters.contains_key(name), "{name} missing: {mirror}");
        }
        assert_eq!(mirror["stats"]["seen"], 3);
        assert_eq!(mirror["in_flight"], 0);
        assert_eq!(mirror["paused"], false);
        assert_eq!(mirror["sample_percent"], 100.0);
    }

    let refused = admin(&admin_url, "POST", "/stats").await;
    assert_eq!(refused.status, 405);
    assert_eq!(refused.headers["allow"], "GET");
    assert_eq!(admin(&admin_url, "GET", "/nothing").await.status, 404);
}

#[tokio::test]
async fn config_shows_the_rules_in_force_and_when_they_were_loaded() {
    let (v1, v2) = (
        Backend::new("v1", Reply::Now),
        Backend::new("v2", Reply::Now),
    );
    let (v1_server, v2_server) = (v1.start().await, v2.start().await);
    let dir = TempDir::new("admin-config");
    let endpoints = dir.write(
        "endpoints.yaml",
        &httpbin_endpoints(&v1_server.url(), &v2_server.url()),
    );
    let rules = httpbin_rule_path();
    let mut proxy = start([
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--admin"),
        OsStr::new("0"),
        OsStr::new("--rules"),
        rules.as_os_str(),
        OsStr::new("--endpoints"),
        endpoints.as_os_str(),
    ]);
    proxy.listening().await;
    let admin_url = admin_url(&mut proxy).await;
    assert!(
        admin_url.starts_with("http://127.0.0.1:"),
        "a bare port is loopback: {admin_url}"
    );

    let config = get_json(&admin_url, "/config").await;
    let rule = &config["rules"][0];
    assert_eq!(rule["name"], "mirror-traffic-to-httbin-v2");
    assert_eq!(rule["destination"], "httpbin");
    assert_eq!(rule["routes"][0]["labels"], "version=v1");
    assert_eq!(rule["routes"][0]["weight"], 100);
    assert_eq!(rule["mirrors"][0]["labels"], "version=v2");
    assert_eq!(rule["mirrors"][0]["percent"], 100.0);
    assert_eq!(
        config["mirrors"],
        serde_json::json!(["mirror-traffic-to-httbin-v2->httpbin{version=v2}"])
    );
    assert_eq!(config["files"].as_array().unwrap().len(), 2);
    assert!(config["loaded_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(config["reload"]["reloaded"], 0);
    assert_eq!(config["reload"]["refusal"], Value::Null);
}

#[cfg(feature = "compare")]
#[tokio::test]
async fn report_shows_the_compare_report_of_each_comparing_mirror() {
    let primary = Backend::new("same", Reply::Now);
    let shadow = Backend::new("other", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--primary",
        &primary_server.url(),
        "--shadow",
        &shadow_server.url(),
        "--compare",
    ]);
    let url = proxy.listening().await;
    let admin_url = admin_url(&mut proxy).await;
    let req = Request::get(format!("{url}/x"))
        .body(Full::default())
        .unwrap();
    assert_eq!(fetch(&client(), req).await.status, 200);
    let report = loop {
        let report = get_json(&admin_url, "/report").await;
        if report["mirrors"][0]["report"]["compared"] == 1 {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(report["mirrors"][0]["name"], shadow_server.url());
    // The backends answer with their names: the bodies differ.
    assert_eq!(report["mirrors"][0]["report"]["differed"], 1, "{report}");

    // A browser gets the same report as one HTML page.
    let req = Request::get(format!("{admin_url}/report"))
        .header("accept", "text/html,application/xhtml+xml")
        .body(Full::default())
        .unwrap();
    let page = fetch(&client(), req).await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        page.headers
    );
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"),
        "{html}"
    );
    assert!(html.contains("/x"), "the page lists the route: {html}");
}
