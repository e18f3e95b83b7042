//! Turning mirrors up and down from the admin address while requests flow, and a rules
//! reload that keeps a mirror's counters and controls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http::Request;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use support::loopback::{Backend, Reply, client};
use support::versions::httpbin_rule_path;

use crate::{TempDir, admin, admin_url, get_json, httpbin_endpoints, start};

/// Clients sending requests through the proxy until stopped, counting what went wrong.
struct Load {
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(url: &str, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicUsize::new(0));
        let tasks = (0..clients)
            .map(|c| {
                let (url, stop, errors) = (url.to_owned(), stop.clone(), errors.clone());
                tokio::spawn(async move {
                    let client = client();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let req = Request::post(format!("{url}/load/{c}/{i}"))
                            .body(Full::from(format!("{c}-{i}")))
                            .unwrap();
                        let served = tokio::time::timeout(Duration::from_secs(10), async {
                            let res = client.request(req).await.ok()?;
                            let ok = res.status() == 200;
                            res.into_body().collect().await.ok()?;
                            ok.then_some(())
                        })
                        .await;
                        if !matches!(served, Ok(Some(()))) {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        Self {
            stop,
            errors,
            tasks,
        }
    }

    /// Stops the clients; returns how many requests failed.
    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("the clients stop")
                .unwrap();
        }
        self.errors.load(Ordering::Relaxed)
    }
}

/// The first mirror's counter `name`.
async fn counter(admin_url: &str, name: &str) -> u64 {
    get_json(admin_url, "/stats").await["mirrors"][0]["stats"][name]
        .as_u64()
        .unwrap()
}

/// Waits until the first mirror's counter `name` has grown by `by` from now.
async fn grows(admin_url: &str, name: &str, by: u64) {
    let from = counter(admin_url, name).await;
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while counter(admin_url, name).await < from + by {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{name} did not grow by {by}");
}

async fn post(admin_url: &str, path: &str) -> Value {
    let answer = admin(admin_url, "POST", path).await;
    assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
    serde_json::from_slice(&answer.body).unwrap()
}

#[tokio::test]
async fn pause_resume_and_percent_take_effect_while_requests_flow() {
    let primary = Backend::new("primary", Reply::Now);
    let shadow = Backend::new("shadow", Reply::Now);
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
    ]);
    let url = proxy.listening().await;
    let admin_url = admin_url(&mut proxy).await;
    const CLIENTS: u64 = 32;
    let load = Load::start(&url, CLIENTS as usize);

    grows(&admin_url, "mirrored", 20).await;
    let paused = post(&admin_url, "/mirrors/pause").await;
    assert_eq!(paused["mirrors"][0]["paused"], true);
    grows(&admin_url, "skipped_paused", 20).await;
    let mirrored_while_paused = counter(&admin_url, "mirrored").await;

    let set = post(&admin_url, "/mirrors/percent?value=0").await;
    assert_eq!(set["mirrors"][0]["sample_percent"], 0.0);
    assert_eq!(set["mirrors"][0]["paused"], true, "a share does not resume");
    let resumed = post(&admin_url, "/mirrors/resume").await;
    assert_eq!(resumed["mirrors"][0]["paused"], false);
    grows(&admin_url, "skipped_sampling", 20).await;
    // Only requests sampled before the pause (one per client at most) may still have been
    // mirrored since.
    let mirrored_at_zero = counter(&admin_url, "mirrored").await;
    assert!(mirrored_at_zero - mirrored_while_paused <= CLIENTS);

    post(&admin_url, "/mirrors/percent?value=100").await;
    grows(&admin_url, "mirrored", 20).await;
    assert_eq!(
        load.stop().await,
        0,
        "client errors while the mirror changed"
    );

    for (path, status, says) in [
        ("/mirrors/percent?value=150", 400, "value \"150\""),
        ("/mirrors/percent?value=abc", 400, "not a number"),
        ("/mirrors/percent", 400, "?value=P"),
        (
            "/mirrors/pause?mirror=nope",
            404,
            "no mirror named \"nope\"",
        ),
    ] {
        let answer = admin(&admin_url, "POST", path).await;
        assert_eq!(answer.status, status, "{path}");
        let body = String::from_utf8_lossy(&answer.body);
        assert!(body.contains(says), "{path}: {body}");
    }
    assert_eq!(admin(&admin_url, "GET", "/mirrors/pause").await.status, 405);
    let stats = get_json(&admin_url, "/stats").await;
    assert_eq!(
        stats["mirrors"][0]["sample_percent"], 100.0,
        "a refused value changes nothing"
    );

    proxy.terminate();
    let (status, stdout, stderr) = proxy.exit().await;
    assert!(status.success(), "{stderr}");
    let field = |name: &str| -> u64 {
        let key = format!(" {name}=");
        let at = stdout
            .find(&key)
            .unwrap_or_else(|| panic!("{name}: {stdout}"))
            + key.len();
        stdout[at..].split(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        field("completed"),
        shadow.received().len() as u64,
        "{stdout}"
    );
    assert_eq!(field("mirrored"), field("completed"), "{stdout}");
    assert_eq!(
        primary.received().len() as u64,
        field("mirrored") + field("skipped_paused") + field("skipped_sampling"),
        "every request was mirrored, or skipped as paused or not sampled: {stdout}"
    );
}

/// One mirror controlled by name, beside another left alone.
#[tokio::test]
async fn a_mirror_named_in_the_query_is_the_only_one_changed() {
    let primary = Backend::new("primary", Reply::Now);
    let (a, b) = (Backend::new("a", Reply::Now), Backend::new("b", Reply::Now));
    let servers = (primary.start().await, a.start().await, b.start().await);
    let mut proxy = start([
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--primary",
        &servers.0.url(),
        "--shadow",
        &servers.1.url(),
        "--shadow",
        &servers.2.url(),
    ]);
    proxy.listening().await;
    let admin_url = admin_url(&mut proxy).await;
    let named = servers.2.url().replace(':', "%3A").replace('/', "%2F");
    let changed = post(&admin_url, &format!("/mirrors/pause?mirror={named}")).await;
    assert_eq!(changed["mirrors"].as_array().unwrap().len(), 1);
    assert_eq!(changed["mirrors"][0]["name"], servers.2.url());
    let stats = get_json(&admin_url, "/stats").await;
    assert_eq!(stats["mirrors"][0]["paused"], false);
    assert_eq!(stats["mirrors"][1]["paused"], true);
}

#[tokio::test]
async fn a_rules_reload_keeps_the_counters_and_the_pause_of_a_mirror_that_stays() {
    let (v1, v2) = (
        Backend::new("v1", Reply::Now),
        Backend::new("v2", Reply::Now),
    );
    let (v1_server, v2_server) = (v1.start().await, v2.start().await);
    let dir = TempDir::new("controls-reload");
    let endpoints = dir.write(
        "endpoints.yaml",
        &httpbin_endpoints(&v1_server.url(), &v2_server.url()),
    );
    let rule = std::fs::read_to_string(httpbin_rule_path()).unwrap();
    let rules = dir.write("rules.yaml", &rule);
    let mut proxy = start([
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--admin".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--rules".as_ref(),
        rules.as_os_str(),
        "--endpoints".as_ref(),
        endpoints.as_os_str(),
    ]);
    let url = proxy.listening().await;
    let admin_url = admin_url(&mut proxy).await;
    send(&url, 3).await;
    post(&admin_url, "/mirrors/pause").await;

    // The same mirror (rule, destination, labels), another rule priority.
    std::fs::write(&rules, rule.replace("precedence: 11", "precedence: 12")).unwrap();
    proxy.stderr_line("reloaded: 1 rules, 1 mirrors").await;
    send(&url, 2).await;
    let mirror = &get_json(&admin_url, "/stats").await["mirrors"][0];
    assert_eq!(
        mirror["name"],
        "mirror-traffic-to-httbin-v2->httpbin{version=v2}"
    );
    assert_eq!(mirror["paused"], true, "{mirror}");
    assert_eq!(mirror["stats"]["seen"], 5, "{mirror}");
    assert_eq!(mirror["stats"]["skipped_paused"], 2, "{mirror}");
    let config = get_json(&admin_url, "/config").await;
    assert_eq!(config["reload"]["reloaded"], 1);
    drop(proxy);
}

async fn send(url: &str, n: usize) {
    for i in 0..n {
        let req = Request::get(format!("{url}/n/{i}"))
            .body(Full::default())
            .unwrap();
        let answer = support::loopback::fetch(&client(), req).await;
        assert_eq!(answer.status, 200);
    }
}
