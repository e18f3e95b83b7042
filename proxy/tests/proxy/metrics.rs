//! `GET /metrics` (feature `metrics`): every mirror's series in Prometheus text, the same
//! counts as `/stats`, after a run with a fast, a failing and a hung shadow.

use std::collections::HashMap;
use std::time::Duration;

use http::Request;
use http_body_util::Full;
use support::loopback::{Backend, RawMode, RawServer, Reply, client, closed_addr, fetch};

use crate::{admin, admin_url, get_json, start};

/// `name{labels} value` lines, by `name{labels}`.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_what_stats_count_for_each_mirror() {
    const REQUESTS: u64 = 4;
    let primary = Backend::new("primary", Reply::Now);
    let fast = Backend::new("fast", Reply::Now);
    let (primary_server, fast_server) = (primary.start().await, fast.start().await);
    let hung = RawServer::start(RawMode::Hung).await;
    let failing = format!("http://{}", closed_addr());
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--primary",
        &primary_server.url(),
        "--shadow",
        &fast_server.url(),
        "--shadow",
        &failing,
        "--shadow",
        &hung.url,
        "--timeout",
        "300ms",
        "--no-circuit-breaker",
    ]);
    let url = proxy.listening().await;
    let admin_url = admin_url(&mut proxy).await;
    for i in 0..REQUESTS {
        let req = Request::get(format!("{url}/{i}"))
            .body(Full::default())
            .unwrap();
        assert_eq!(fetch(&client(), req).await.status, 200);
    }
    let stats = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let stats = get_json(&admin_url, "/stats").await;
            let done = stats["mirrors"].as_array().unwrap().iter().all(|m| {
                let s = &m["stats"];
                let ended = ["completed", "failed", "timed_out"]
                    .iter()
                    .map(|k| s[k].as_u64().unwrap())
                    .sum::<u64>();
                ended == REQUESTS
            });
            if done {
                break stats;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every copy ends");

    let answer = admin(&admin_url, "GET", "/metrics").await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(answer.body.to_vec()).unwrap();
    let samples = samples(&text);
    for (mirror, outcome) in [
        (fast_server.url(), "completed"),
        (failing.clone(), "failed"),
        (hung.url.clone(), "timed_out"),
    ] {
        let series = |name: &str, label: &str| format!("{name}{{mirror=\"{mirror}\",{label}}}");
        let stat = |name: &str| {
            let m = stats["mirrors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == mirror.as_str())
                .unwrap();
            m["stats"][name].as_u64().unwrap() as f64
        };
        assert_eq!(stat(outcome), REQUESTS as f64, "{mirror}: {stats}");
        for name in ["completed", "failed", "timed_out"] {
            let key = series("tower_mirror_copies_total", &format!("outcome=\"{name}\""));
            let value = samples.get(&key).copied().unwrap_or(0.0);
            assert_eq!(value, stat(name), "{key}: {text}");
        }
        let key = series("tower_mirror_requests_total", "decision=\"mirrored\"");
        assert_eq!(
            samples.get(&key).copied(),
            Some(stat("mirrored")),
            "{key}: {text}"
        );
        let gauge = format!("tower_mirror_in_flight{{mirror=\"{mirror}\"}}");
        assert_eq!(samples.get(&gauge).copied(), Some(0.0), "{gauge}: {text}");
    }
    let answered = format!(
        "tower_mirror_shadow_responses_total{{mirror=\"{}\",status_class=\"2xx\"}}",
        fast_server.url()
    );
    assert_eq!(
        samples.get(&answered).copied(),
        Some(REQUESTS as f64),
        "{text}"
    );
}
