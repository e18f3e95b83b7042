//! `--access-log`: one JSON line per request on stdout, matching the requests sent.

use std::collections::HashMap;

use http::Request;
use http_body_util::Full;
use serde_json::Value;
use support::loopback::{Backend, Reply, client, fetch};

use crate::start;

#[tokio::test]
async fn each_request_gets_one_json_line_with_its_mirror_decision() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
    let (primary_server, shadow_server) = (primary.start().await, shadow.start().await);
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--primary",
        &primary_server.url(),
        "--shadow",
        &shadow_server.url(),
        "--max-body-bytes",
        "10",
        "--access-log",
    ]);
    let url = proxy.listening().await;

    let client = client();
    let sent = [
        ("GET", "/a?token=secret", ""),
        ("POST", "/b", "small"),
        ("PUT", "/c", "a body over ten bytes"),
    ];
    for (method, path, body) in sent {
        let req = Request::builder()
            .method(method)
            .uri(format!("{url}{path}"))
            .body(Full::from(body))
            .unwrap();
        let answer = fetch(&client, req).await;
        assert_eq!(answer.status, 200);
    }
    let mut lines = Vec::new();
    for _ in 0..sent.len() {
        let line = proxy.line().await;
        let json: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        lines.push(json);
    }
    let by_path: HashMap<&str, &Value> = lines
        .iter()
        .map(|l| (l["path"].as_str().unwrap(), l))
        .collect();
    let expected = [
        ("/a", "GET", 0, "mirrored"),
        ("/b", "POST", 5, "mirrored"),
        ("/c", "PUT", 21, "skipped_body_too_large"),
    ];
    for (path, method, request_len, decision) in expected {
        let line = by_path
            .get(path)
            .unwrap_or_else(|| panic!("no line for {path}: {lines:?}"));
        assert_eq!(line["method"], method);
        assert_eq!(line["status"], 200);
        assert_eq!(line["client"], "127.0.0.1");
        assert_eq!(line["complete"], true);
        let answer = primary.body_for(request_len);
        assert_eq!(line["bytes"], answer.len() as u64, "{line}");
        let mirror = shadow_server.url();
        assert_eq!(
            line["mirror"],
            serde_json::json!({ mirror: decision }),
            "{line}"
        );
        assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
        let time = line["time"].as_str().unwrap();
        assert!(
            time.ends_with('Z') && time.len() == "2026-11-30T10:00:00.000Z".len(),
            "{time}"
        );
    }
    assert!(
        !lines.iter().any(|l| l.to_string().contains("secret")),
        "the query stays out"
    );
}
