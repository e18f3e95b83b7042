//! `istio::Router`: a stack built from Istio YAML routes, splits and mirrors requests as the
//! rules say, with mock backends and no network.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use support::get;
use support::versions::{COPY_HEADER, HTTPBIN_RULE, Version, VersionLog, count};
use tower::ServiceExt;
use tower_mirror::istio::{BuildError, Config, Router};
use tower_mirror::route::{Backends, Labels};

/// `destination` with one backend per version, each labeled `version: <name>`.
fn backends(destination: &str, versions: &[&'static str], log: &VersionLog) -> Backends<Version> {
    versions
        .iter()
        .fold(Backends::new(destination), |b, &name| {
            b.with(
                Labels::from([("version", name)]),
                Version {
                    name,
                    log: log.clone(),
                },
            )
        })
}

fn build(yaml: &str, backends: Backends<Version>, seed: u64) -> Router {
    let config = Config::from_yaml(yaml).unwrap();
    Router::builder(&config)
        .backends(backends)
        // Copies of these instant mocks pile up until the test yields: no overload drops.
        .configure_mirrors(|layer| layer.header(COPY_HEADER, "1").max_in_flight(1 << 20))
        .seed(seed)
        .build()
        .unwrap()
}

/// Sends `req` and returns the status and the body (the name of the version that served it).
async fn send(router: &Router, req: Request<Full<Bytes>>) -> (StatusCode, String) {
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Asserts `observed` is within 5 standard deviations of a binomial(n, p) mean.
#[track_caller]
fn assert_binomial(observed: usize, n: usize, p: f64, what: &str) {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (observed as f64 - mean).abs() <= 5.0 * sigma,
        "{what}: {observed} out of {n}, expected {mean} ± {:.0}",
        5.0 * sigma
    );
}

#[tokio::test]
async fn the_httpbin_rule_routes_everything_to_v1_and_copies_everything_to_v2() {
    let log = VersionLog::default();
    let router = build(HTTPBIN_RULE, backends("httpbin", &["v1", "v2"], &log), 7);

    const N: usize = 300;
    for i in 0..N {
        let req = Request::post(format!("/anything/{i}"))
            .body(Full::from(format!("request {i}")))
            .unwrap();
        assert_eq!(send(&router, req).await, (StatusCode::OK, "v1".to_owned()));
    }
    router.wait_idle().await;

    assert_eq!(count(&log, "v1", false), N, "v1 serves every request");
    assert_eq!(count(&log, "v2", true), N, "v2 gets every copy");
    assert_eq!(count(&log, "v2", false), 0, "v2 never serves a request");
    assert_eq!(count(&log, "v1", true), 0, "v1 gets no copy");

    let [mirror] = &router.mirrors()[..] else {
        panic!(
            "the httpbin mirroring rule has one mirror: {:?}",
            router.mirrors()
        );
    };
    assert_eq!(mirror.rule, "mirror-traffic-to-httbin-v2");
    assert_eq!(mirror.destination, "httpbin");
    assert_eq!(mirror.labels, "version=v2");
    assert_eq!(mirror.percent, 100.0);
    let stats = mirror.handle.stats();
    assert_eq!(
        (stats.seen, stats.mirrored, stats.completed),
        (N as u64, N as u64, N as u64)
    );
}

/// Two routes: `/one` mirrored to v3 at 25% (`mirror` + `mirrorPercentage`); everything
/// else split 70/30 between v1 and v2 and copied to v3 (50%) and v4 (10%) (`mirrors[]`).
const PERCENTAGES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - name: one
    match: [{uri: {prefix: /one}}]
    route:
    - destination: {host: reviews, subset: v1}
    mirror: {host: reviews, subset: v3}
    mirrorPercentage: {value: 25}
  - name: rest
    route:
    - destination: {host: reviews, subset: v1}
      weight: 70
    - destination: {host: reviews, subset: v2}
      weight: 30
    mirrors:
    - destination: {host: reviews, subset: v3}
      percentage: {value: 50}
    - destination: {host: reviews, subset: v4}
      percentage: {value: 10.0}
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
  - {name: v3, labels: {version: v3}}
  - {name: v4, labels: {version: v4}}
"#;

#[tokio::test]
async fn mirror_percentages_and_weights_hold_per_mirror() {
    const N: usize = 4000;
    let log = VersionLog::default();
    let router = build(
        PERCENTAGES,
        backends("reviews", &["v1", "v2", "v3", "v4"], &log),
        42,
    );

    let mirrors = router.mirrors();
    let described: Vec<_> = mirrors
        .iter()
        .map(|m| (m.rule.as_str(), m.labels.as_str(), m.percent))
        .collect();
    assert_eq!(
        described,
        [
            ("reviews/one", "version=v3", 25.0),
            ("reviews/rest", "version=v3", 50.0),
            ("reviews/rest", "version=v4", 10.0),
        ]
    );

    for i in 0..N {
        let (status, _) = send(&router, get(&format!("/one/{i}"))).await;
        assert_eq!(status, StatusCode::OK);
    }
    router.wait_idle().await;
    assert_eq!(count(&log, "v1", false), N, "/one is routed to v1 only");
    let one_copies = count(&log, "v3", true);
    assert_binomial(one_copies, N, 0.25, "copies of /one (mirrorPercentage 25)");
    let one = mirrors[0].handle.stats();
    assert_eq!(one.seen, N as u64);
    assert_eq!(one.mirrored, one_copies as u64);
    assert_eq!(one.skipped_sampling, (N - one_copies) as u64);
    for m in &mirrors[1..] {
        assert_eq!(
            m.handle.stats().seen,
            0,
            "/one never reaches the other rule"
        );
    }

    log.lock().unwrap().clear();
    for i in 0..N {
        let (status, body) = send(&router, get(&format!("/rest/{i}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == "v1" || body == "v2", "served by {body}");
    }
    router.wait_idle().await;
    let v1 = count(&log, "v1", false);
    assert_eq!(v1 + count(&log, "v2", false), N);
    assert_binomial(v1, N, 0.7, "requests routed to v1 (weight 70)");
    let v3 = count(&log, "v3", true);
    let v4 = count(&log, "v4", true);
    assert_binomial(v3, N, 0.5, "copies to v3 (percentage 50)");
    assert_binomial(v4, N, 0.1, "copies to v4 (percentage 10)");

    // Each mirror counts its own copies.
    assert_eq!(mirrors[0].handle.stats().seen, N as u64, "unchanged");
    let (to_v3, to_v4) = (mirrors[1].handle.stats(), mirrors[2].handle.stats());
    assert_eq!((to_v3.seen, to_v4.seen), (N as u64, N as u64));
    assert_eq!((to_v3.mirrored, to_v4.mirrored), (v3 as u64, v4 as u64));
    assert_eq!((to_v3.completed, to_v4.completed), (v3 as u64, v4 as u64));
    assert_eq!(to_v3.dropped_overload + to_v4.dropped_overload, 0);
}

/// With `.seed(..)`, the weighted pick and each mirror's sampling must still be
/// independent draws: a copy to v4 (10%) says nothing about a copy to v3 (50%), nor about
/// which version served the request.
#[tokio::test]
async fn seeded_route_and_mirrors_draw_independently() {
    const N: usize = 4000;
    let log = VersionLog::default();
    let router = build(
        PERCENTAGES,
        backends("reviews", &["v1", "v2", "v3", "v4"], &log),
        42,
    );
    for i in 0..N {
        send(&router, get(&format!("/rest/{i}"))).await;
    }
    router.wait_idle().await;

    let log = log.lock().unwrap();
    let mut served_by_v1 = vec![false; N];
    let mut copied_to = |name: &str| {
        let mut copied = vec![false; N];
        for (n, path, copy) in log.iter() {
            let i: usize = path.trim_start_matches("/rest/").parse().unwrap();
            if *n == name && *copy {
                copied[i] = true;
            }
            if *n == "v1" && !*copy {
                served_by_v1[i] = true;
            }
        }
        copied
    };
    let (v3, v4) = (copied_to("v3"), copied_to("v4"));
    let both = |a: &[bool], b: &[bool]| a.iter().zip(b).filter(|(a, b)| **a && **b).count();
    let not_v3: Vec<bool> = v3.iter().map(|c| !c).collect();
    assert_binomial(both(&v4, &not_v3), N, 0.1 * 0.5, "copies to v4 but not v3");
    assert_binomial(
        both(&v3, &served_by_v1),
        N,
        0.5 * 0.7,
        "copies to v3 of v1's requests",
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_picks() {
    let run = |seed| async move {
        let log = VersionLog::default();
        let router = build(
            PERCENTAGES,
            backends("reviews", &["v1", "v2", "v3", "v4"], &log),
            seed,
        );
        for i in 0..200 {
            send(&router, get(&format!("/rest/{i}"))).await;
        }
        router.wait_idle().await;
        let mut entries = log.lock().unwrap().clone();
        entries.sort();
        entries
    };
    assert_eq!(run(5).await, run(5).await);
}

/// A catch-all with low precedence written first, and a header-matched rule with higher
/// precedence after it: the higher precedence wins whatever the file order.
const PRECEDENCE: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata:
  name: catch-all
spec:
  destination:
    name: httpbin
  precedence: 1
  route:
  - labels: {version: v1}
---
apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata:
  name: canary-users
spec:
  destination:
    name: httpbin
  precedence: 10
  match:
    request:
      headers:
        x-canary: {exact: "yes"}
  route:
  - labels: {version: v2}
"#;

#[tokio::test]
async fn higher_precedence_wins_over_a_lower_catch_all() {
    let log = VersionLog::default();
    let router = build(PRECEDENCE, backends("httpbin", &["v1", "v2"], &log), 1);

    let canary = Request::get("/status")
        .header("x-canary", "yes")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(&router, canary).await.1, "v2");
    let other_value = Request::get("/status")
        .header("x-canary", "no")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(&router, other_value).await.1, "v1");
    assert_eq!(send(&router, get("/status")).await.1, "v1");
    assert!(router.mirrors().is_empty());
}

/// Routes matched by method and uri prefix, by header, by uri prefix; no catch-all.
const MATCHING: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: api
spec:
  hosts: [api]
  http:
  - name: writes
    match: [{method: {exact: POST}, uri: {prefix: /api}}]
    route: [{destination: {host: api, subset: v3}}]
  - name: alice
    match: [{headers: {x-user: {exact: alice}}}]
    route: [{destination: {host: api, subset: v2}}]
  - name: reads
    match: [{uri: {prefix: /api}}]
    route: [{destination: {host: api, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: api
spec:
  host: api
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
"#;

#[tokio::test]
async fn matching_by_uri_prefix_method_and_header_then_404() {
    let log = VersionLog::default();
    let router = build(MATCHING, backends("api", &["v1", "v2", "v3"], &log), 1);
    let request = |method: Method, path: &str, user: Option<&str>| {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(user) = user {
            builder = builder.header("x-user", user);
        }
        builder.body(Full::default()).unwrap()
    };

    let cases = [
        (Method::POST, "/api/items", None, "v3"),
        (Method::POST, "/api/items", Some("alice"), "v3"), // first match wins
        (Method::GET, "/api/items", Some("alice"), "v2"),
        (Method::GET, "/elsewhere", Some("alice"), "v2"),
        (Method::GET, "/api/items", None, "v1"),
        (Method::GET, "/api", Some("bob"), "v1"),
        (Method::DELETE, "/api/items/1", None, "v1"),
    ];
    for (method, path, user, expected) in cases {
        let what = format!("{method} {path} x-user={user:?}");
        let (status, body) = send(&router, request(method, path, user)).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, expected),
            "{what}"
        );
    }

    log.lock().unwrap().clear();
    for (method, path) in [(Method::GET, "/elsewhere"), (Method::POST, "/ap")] {
        let (status, body) = send(&router, request(method, path, Some("bob"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, "no rule matches this request\n");
    }
    assert!(log.lock().unwrap().is_empty(), "no backend saw the 404s");
}

#[test]
fn a_destination_without_backends_is_a_build_error() {
    let config = Config::from_yaml(HTTPBIN_RULE).unwrap();
    let err = Router::builder::<Version>(&config).build().unwrap_err();
    assert!(
        matches!(
            &err,
            BuildError::UnknownDestination { rule, destination }
                if rule == "mirror-traffic-to-httbin-v2" && destination == "httpbin"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "rule `mirror-traffic-to-httbin-v2`: no backends for destination `httpbin`; \
         add `Backends::new(\"httpbin\")` to the router builder"
    );

    // Backends for another destination do not help.
    let log = VersionLog::default();
    let err = Router::builder(&config)
        .backends(backends("reviews", &["v1", "v2"], &log))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::UnknownDestination { .. }),
        "{err}"
    );
}

#[test]
fn a_mirror_selecting_no_backend_is_a_route_error() {
    let config = Config::from_yaml(HTTPBIN_RULE).unwrap();
    let log = VersionLog::default();
    let err = Router::builder(&config)
        .backends(backends("httpbin", &["v1"], &log))
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::Route { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "rule `mirror-traffic-to-httbin-v2`: no backend of `httpbin` matches the selector \
         `version=v2`: add one with `Backends::with` or fix the selector's labels"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_split_selecting_no_backend_is_a_route_error() {
    let config = Config::from_yaml(HTTPBIN_RULE).unwrap();
    let log = VersionLog::default();
    let err = Router::builder(&config)
        .backends(backends("httpbin", &["v2"], &log))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rule `mirror-traffic-to-httbin-v2`: no backend of `httpbin` matches the selector \
         `version=v1`: add one with `Backends::with` or fix the selector's labels"
    );
}
