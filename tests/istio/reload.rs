//! `istio::Router::reload`: new rules go in force for every clone in one swap while
//! requests flow (none lost, none copied twice), a mirror of the same identity keeps its
//! handle and counters and takes the new percentage, and a config that fails to build
//! changes nothing.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceExt};
use tower_mirror::istio::{BuildError, Config, Router};
use tower_mirror::route::{Backends, Labels};

/// (version, path, whether it was a copy)
type Log = Arc<Mutex<Vec<(&'static str, String, bool)>>>;

/// A backend usable as primary and shadow: logs what it got, answers with its name.
#[derive(Clone)]
struct Version {
    name: &'static str,
    log: Log,
}

impl<B> Service<Request<B>> for Version
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let copy = req.headers().contains_key("x-copy");
        let path = req.uri().path().to_owned();
        self.log.lock().unwrap().push((self.name, path, copy));
        let name = self.name;
        Box::pin(async move {
            let _ = req.into_body().collect().await;
            Ok(Response::new(Full::from(name)))
        })
    }
}

fn rule(mirror: &str, percent: f64) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts: [httpbin]
  http:
  - name: main
    route:
    - destination: {{host: httpbin, subset: v1}}
    mirror: {{host: httpbin, subset: {mirror}}}
    mirrorPercentage: {{value: {percent}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
  - {{name: v3, labels: {{version: v3}}}}
"#
    )
}

fn config(yaml: &str) -> Config {
    Config::from_yaml(yaml).unwrap()
}

fn router(config: &Config, log: &Log) -> Router {
    let backends = ["v1", "v2", "v3"]
        .into_iter()
        .fold(Backends::new("httpbin"), |b, name| {
            b.with(
                Labels::from([("version", name)]),
                Version {
                    name,
                    log: log.clone(),
                },
            )
        });
    Router::builder(config)
        .backends(backends)
        .configure_mirrors(|layer| layer.header("x-copy", "1").max_in_flight(1 << 20))
        .seed(3)
        .build()
        .unwrap()
}

async fn get(router: &Router, path: &str) -> (StatusCode, String) {
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Full::<Bytes>::default()).unwrap())
        .await
        .expect("no client error");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn copies_to(log: &Log, name: &str) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(n, _, copy)| *n == name && *copy)
        .count()
}

const BEFORE: u8 = 0;
const RELOADING: u8 = 1;
const AFTER: u8 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn v2_to_v3_while_requests_flow_loses_no_copy() {
    const TASKS: usize = 32;
    const PER_TASK: usize = 150;
    let log = Log::default();
    let router = router(&config(&rule("v2", 100.0)), &log);
    let before_handle = router.mirrors()[0].handle.clone();
    let phase = Arc::new(AtomicU8::new(BEFORE));
    // (path, phase when sent, phase when answered)
    let sent: Arc<Mutex<Vec<(String, u8, u8)>>> = Arc::default();

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (router, phase, sent) = (router.clone(), Arc::clone(&phase), Arc::clone(&sent));
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let path = format!("/{t}/{i}");
                let at_send = phase.load(Ordering::SeqCst);
                assert_eq!(get(&router, &path).await, (StatusCode::OK, "v1".into()));
                let at_answer = phase.load(Ordering::SeqCst);
                sent.lock().unwrap().push((path, at_send, at_answer));
                if i % 8 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    // Reload once some requests have gone through the old rules.
    while sent.lock().unwrap().len() < TASKS * PER_TASK / 3 {
        tokio::task::yield_now().await;
    }
    phase.store(RELOADING, Ordering::SeqCst);
    router.reload(&config(&rule("v3", 100.0))).unwrap();
    phase.store(AFTER, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    before_handle.wait_idle().await;
    router.wait_idle().await;

    let log = log.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), TASKS * PER_TASK);
    let mut copied_to = std::collections::HashMap::new();
    for (name, path, copy) in &log {
        if *copy {
            assert!(
                copied_to.insert(path.clone(), *name).is_none(),
                "{path} copied twice"
            );
        } else {
            assert_eq!(*name, "v1", "{path}: v1 serves every request");
        }
    }
    let (mut old, mut new) = (0, 0);
    for (path, at_send, at_answer) in &sent {
        let to = copied_to
            .get(path)
            .unwrap_or_else(|| panic!("{path}: copy lost"));
        if *at_answer == BEFORE {
            assert_eq!(*to, "v2", "{path} was answered before the reload began");
            old += 1;
        }
        if *at_send == AFTER {
            assert_eq!(*to, "v3", "{path} was sent after the reload returned");
            new += 1;
        }
    }
    assert!(
        old > 0 && new > 0,
        "both sides exercised: {old} before, {new} after"
    );
    assert_eq!(
        copied_to.len(),
        TASKS * PER_TASK,
        "every request mirrored once"
    );

    // v2 -> v3 is another mirror: a new handle; the old one kept its counts.
    let after = router.mirrors();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].name, "httpbin/main->httpbin{version=v3}");
    let (old_stats, new_stats) = (before_handle.stats(), after[0].handle.stats());
    assert_eq!(
        old_stats.completed + new_stats.completed,
        (TASKS * PER_TASK) as u64
    );
    assert_eq!(old_stats.completed as usize, copies_to_name(&log, "v2"));
    assert_eq!(new_stats.completed as usize, copies_to_name(&log, "v3"));
}

fn copies_to_name(log: &[(&'static str, String, bool)], name: &str) -> usize {
    log.iter().filter(|(n, _, c)| *n == name && *c).count()
}

#[tokio::test]
async fn the_same_mirror_keeps_its_handle_counters_and_pause_and_takes_the_new_percent() {
    let log = Log::default();
    let router = router(&config(&rule("v2", 100.0)), &log);
    let clone = router.clone();
    let handle = router.mirrors()[0].handle.clone();
    for i in 0..10 {
        get(&router, &format!("/a/{i}")).await;
    }
    router.wait_idle().await;
    assert_eq!(handle.stats().completed, 10);

    router.reload(&config(&rule("v2", 0.0))).unwrap();
    let mirrors = clone.mirrors();
    assert_eq!(mirrors[0].percent, 0.0);
    assert_eq!(handle.sample_percent(), 0.0, "the new config's percentage");
    for i in 0..10 {
        get(&clone, &format!("/b/{i}")).await;
    }
    clone.wait_idle().await;
    let stats = mirrors[0].handle.stats();
    assert_eq!(
        (stats.seen, stats.completed, stats.skipped_sampling),
        (20, 10, 10),
        "one set of counters across the reload"
    );
    assert_eq!(stats, handle.stats(), "the same handle");

    handle.pause();
    router.reload(&config(&rule("v2", 100.0))).unwrap();
    assert!(
        router.mirrors()[0].handle.is_paused(),
        "a paused mirror stays paused"
    );
    get(&router, "/c").await;
    router.wait_idle().await;
    assert_eq!(handle.stats().skipped_paused, 1);
    handle.resume();
    get(&router, "/d").await;
    router.wait_idle().await;
    assert_eq!(copies_to(&log, "v2"), 11);
}

#[tokio::test]
async fn a_config_that_fails_to_build_changes_nothing() {
    let log = Log::default();
    let router = router(&config(&rule("v2", 100.0)), &log);
    let handle = router.mirrors()[0].handle.clone();
    handle.set_sample_percent(40.0);

    // The first rule is the same mirror at another share; the second names a destination
    // with no backends.
    let broken = format!(
        "{}---\n{}",
        rule("v2", 5.0),
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings}
"#
    );
    let error = router.reload(&config(&broken)).unwrap_err();
    assert!(
        matches!(error, BuildError::UnknownDestination { ref destination, .. } if destination == "ratings"),
        "{error}"
    );
    assert_eq!(handle.sample_percent(), 40.0, "the share is left as it was");
    let mirrors = router.mirrors();
    assert_eq!(mirrors.len(), 1);
    assert_eq!(mirrors[0].name, "httpbin/main->httpbin{version=v2}");
    assert_eq!(mirrors[0].percent, 100.0);
    assert_eq!(get(&router, "/still").await, (StatusCode::OK, "v1".into()));
    router.wait_idle().await;
    assert_eq!(handle.stats().seen, 1, "the old rules still route");
}

#[tokio::test]
async fn rules_come_and_go() {
    let log = Log::default();
    let only_api = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: api
spec:
  hosts: [httpbin]
  http:
  - name: api
    match: [{uri: {prefix: /api}}]
    route:
    - destination: {host: httpbin, subset: v3}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  subsets:
  - {name: v3, labels: {version: v3}}
"#;
    let router = router(&config(&rule("v2", 100.0)), &log);
    assert_eq!(get(&router, "/x").await, (StatusCode::OK, "v1".into()));
    router.reload(&config(only_api)).unwrap();
    assert!(router.mirrors().is_empty());
    assert_eq!(get(&router, "/api/x").await, (StatusCode::OK, "v3".into()));
    assert_eq!(get(&router, "/x").await.0, StatusCode::NOT_FOUND);
}
