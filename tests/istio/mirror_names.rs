//! `istio::Router`: each mirror is named `<rule>-><destination>{<labels>}`, the
//! configuration hook is told which mirror it tunes, and (feature `metrics`) each mirror
//! records under its name.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceExt};
use tower_mirror::istio::{Config, MirrorId, Router, RouterBuilder};
use tower_mirror::route::{Backends, Labels};

/// Serves as a primary and as a shadow: reads the body, answers 200, or 500 when named
/// `broken`.
#[derive(Clone)]
struct Version(&'static str);

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
        let name = self.0;
        Box::pin(async move {
            let _ = req.into_body().collect().await;
            let mut response = Response::new(Full::from(name));
            if name == "broken" {
                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            }
            Ok(response)
        })
    }
}

const TWO_MIRRORS: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - name: api
    match:
    - uri: {prefix: /api}
    route:
    - destination: {host: reviews, subset: v1}
    mirrors:
    - destination: {host: reviews, subset: v2}
    - destination: {host: reviews, subset: broken}
      percentage: {value: 50}
  - route:
    - destination: {host: reviews, subset: v1}
    mirror: {host: reviews, subset: v2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: broken, labels: {version: broken, zone: a}}
"#;

const NAMES: [&str; 3] = [
    "reviews/api->reviews{version=v2}",
    "reviews/api->reviews{version=broken,zone=a}",
    "reviews/1->reviews{version=v2}",
];

fn builder(config: &Config) -> RouterBuilder<'_, Version> {
    let backends = Backends::new("reviews")
        .with(Labels::from([("version", "v1")]), Version("v1"))
        .with(Labels::from([("version", "v2")]), Version("v2"))
        .with(
            Labels::from([("version", "broken"), ("zone", "a")]),
            Version("broken"),
        );
    Router::builder(config).backends(backends).seed(5)
}

async fn get(router: &Router, path: &str) {
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Full::<Bytes>::default()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
}

#[test]
fn each_mirror_is_named_by_rule_destination_and_labels() {
    let config = Config::from_yaml(TWO_MIRRORS).unwrap();
    let router = builder(&config).build().unwrap();
    let names: Vec<String> = router.mirrors().iter().map(|m| m.name.clone()).collect();
    assert_eq!(names, NAMES);
}

#[test]
fn configure_each_mirror_is_told_which_mirror_it_tunes() {
    let config = Config::from_yaml(TWO_MIRRORS).unwrap();
    let seen: Arc<Mutex<Vec<MirrorId>>> = Arc::default();
    let log = Arc::clone(&seen);
    let router = builder(&config)
        .configure_each_mirror(move |id, layer| {
            log.lock().unwrap().push(id.clone());
            // Mirrors of the broken subset are turned off from the start.
            let off = id.labels.get("version") == Some("broken");
            layer.sample_percent(if off { 0.0 } else { 100.0 })
        })
        .build()
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let shown: Vec<String> = seen.iter().map(ToString::to_string).collect();
    assert_eq!(shown, NAMES);
    assert_eq!(seen[1].rule, "reviews/api");
    assert_eq!(seen[1].destination, "reviews");
    assert_eq!(
        seen[1].labels,
        Labels::from([("version", "broken"), ("zone", "a")])
    );
    let percents: Vec<f64> = router
        .mirrors()
        .iter()
        .map(|m| m.handle.sample_percent())
        .collect();
    assert_eq!(percents, [100.0, 0.0, 100.0]);
}

#[tokio::test]
async fn configure_mirrors_keeps_working() {
    let config = Config::from_yaml(TWO_MIRRORS).unwrap();
    let router = builder(&config)
        .configure_mirrors(|layer| layer.sample_percent(0.0))
        .build()
        .unwrap();
    get(&router, "/api/x").await;
    router.wait_idle().await;
    let skipped: Vec<u64> = router
        .mirrors()
        .iter()
        .map(|m| m.handle.stats().skipped_sampling)
        .collect();
    assert_eq!(skipped, [1, 1, 0], "the `/api` rule's two mirrors, at 0 %");
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn router_metrics_records_each_mirror_under_its_name() {
    use std::collections::BTreeMap;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let config = Config::from_yaml(TWO_MIRRORS).unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The handles are registered while the router is built: with the recorder in place.
    let router = metrics::with_local_recorder(&recorder, || {
        builder(&config)
            .configure_mirrors(|layer| layer.sample_percent(100.0))
            .metrics()
            .build()
            .unwrap()
    });
    for _ in 0..4 {
        get(&router, "/api/x").await;
    }
    get(&router, "/other").await;
    router.wait_idle().await;

    let mut copies: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        if key.name() != "tower_mirror_copies_total" {
            continue;
        }
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
                .unwrap()
        };
        if let DebugValue::Counter(n) = value
            && n > 0
        {
            copies.insert((label("mirror"), label("outcome")), n);
        }
    }
    let want: BTreeMap<(String, String), u64> = [
        ((NAMES[0], "completed"), 4),
        ((NAMES[1], "completed"), 4),
        ((NAMES[2], "completed"), 1),
    ]
    .into_iter()
    .map(|((m, o), n)| ((m.to_owned(), o.to_owned()), n))
    .collect();
    assert_eq!(copies, want);
}
