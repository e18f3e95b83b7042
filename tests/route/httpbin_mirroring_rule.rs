//! The httpbin mirroring rule (Istio's `mirror-traffic-to-httbin-v2`) composed in code:
//! route `version: v1` weight 100, `version: v2` weight 0, mirror to `version: v2`, with
//! mock backends and no network.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use support::versions::{Version, VersionLog};
use tower::{ServiceBuilder, ServiceExt};
use tower_mirror::MirrorLayer;
use tower_mirror::route::{Backends, Labels, WeightedRoute};

#[tokio::test]
async fn v1_answers_every_request_and_v2_gets_every_copy() {
    let log = VersionLog::default();
    let v1 = Version {
        name: "v1",
        log: log.clone(),
    };
    let v2 = Version {
        name: "v2",
        log: log.clone(),
    };
    let backends = Backends::new("httpbin")
        .with(Labels::from([("version", "v1")]), v1)
        .with(Labels::from([("version", "v2")]), v2);
    let route = WeightedRoute::builder()
        .split(Labels::from([("version", "v1")]), 100)
        .split(Labels::from([("version", "v2")]), 0)
        .seed(7)
        .build(&backends)
        .unwrap();
    let shadow = backends.select(&Labels::from([("version", "v2")])).unwrap();
    let layer = MirrorLayer::new(shadow);
    let handle = layer.handle();
    let svc = ServiceBuilder::new().layer(layer).service(route);

    const N: usize = 500;
    for i in 0..N {
        let req = Request::get(format!("/r/{i}"))
            .body(Full::<Bytes>::default())
            .unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "v1", "request {i} must be served by v1");
    }
    handle.wait_idle().await;

    let log = log.lock().unwrap();
    let served_by = |name| log.iter().filter(|(n, _, _)| *n == name).count();
    assert_eq!(served_by("v1"), N, "v1 serves every primary request");
    assert_eq!(
        served_by("v2"),
        N,
        "v2 receives exactly one copy per request, never a primary"
    );
    let stats = handle.stats();
    assert_eq!(
        (stats.seen, stats.mirrored, stats.completed),
        (N as u64, N as u64, N as u64)
    );
    // Each copy is the copy of its request: the same paths reach v2 as reach v1.
    let mut v1_paths: Vec<_> = log
        .iter()
        .filter(|(n, _, _)| *n == "v1")
        .map(|(_, p, _)| p)
        .collect();
    let mut v2_paths: Vec<_> = log
        .iter()
        .filter(|(n, _, _)| *n == "v2")
        .map(|(_, p, _)| p)
        .collect();
    v1_paths.sort();
    v2_paths.sort();
    assert_eq!(v1_paths, v2_paths);
}
