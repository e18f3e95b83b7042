//! `istio::Router` selects rules by host first, as Istio does: exact names (and the
//! forms of a short name in its namespace), then the longest wildcard, then `*`; no
//! falling through to another host; a default host for the rest.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceExt};
use tower_mirror::istio::{BuildError, Config, Router, RouterBuilder};
use tower_mirror::route::{Backends, Labels};

/// Bookinfo's `virtual-service-all-v1.yaml`, verbatim: every service routed to its `v1`
/// subset. From istio/istio, `samples/bookinfo/networking/virtual-service-all-v1.yaml`
/// at commit 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c.
const BOOKINFO_ALL_V1: &str = r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: productpage
spec:
  hosts:
  - productpage
  http:
  - route:
    - destination:
        host: productpage
        subset: v1
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - route:
    - destination:
        host: ratings
        subset: v1
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: details
spec:
  hosts:
  - details
  http:
  - route:
    - destination:
        host: details
        subset: v1
---
"#;

/// Bookinfo's `destination-rule-all.yaml`, verbatim: the subsets of every service. From
/// istio/istio, `samples/bookinfo/networking/destination-rule-all.yaml` at commit
/// 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c.
const BOOKINFO_DESTINATION_RULES: &str = r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: productpage
spec:
  host: productpage
  subsets:
  - name: v1
    labels:
      version: v1
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
  - name: v3
    labels:
      version: v3
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
  - name: v2-mysql
    labels:
      version: v2-mysql
  - name: v2-mysql-vm
    labels:
      version: v2-mysql-vm
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: details
spec:
  host: details
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
---
"#;

/// What backends received: (destination, version, path, whether it was a mirror's copy).
type Log = Arc<Mutex<Vec<(String, String, String, bool)>>>;

const COPY_HEADER: &str = "x-copy";

/// One instance of a destination: records what it gets, answers `<destination> <version>`.
#[derive(Clone)]
struct Instance {
    destination: String,
    version: String,
    log: Log,
}

type InstanceFuture =
    Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl<B> Service<Request<B>> for Instance
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = InstanceFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let copy = req.headers().contains_key(COPY_HEADER);
        self.log.lock().unwrap().push((
            self.destination.clone(),
            self.version.clone(),
            req.uri().path().to_owned(),
            copy,
        ));
        let answer = format!("{} {}", self.destination, self.version);
        Box::pin(async move {
            let _ = req.into_body().collect().await;
            Ok(Response::new(Full::from(answer)))
        })
    }
}

/// `destination` with one instance per version, labeled `version: <v>`.
fn backends(destination: &str, versions: &[&str], log: &Log) -> Backends<Instance> {
    versions.iter().fold(Backends::new(destination), |b, v| {
        b.with(
            Labels::from([("version", *v)]),
            Instance {
                destination: destination.to_owned(),
                version: (*v).to_owned(),
                log: log.clone(),
            },
        )
    })
}

fn builder<'a>(
    config: &'a Config,
    destinations: &[(&str, &[&str])],
    log: &Log,
) -> RouterBuilder<'a, Instance> {
    destinations.iter().fold(
        Router::builder(config)
            .configure_mirrors(|layer| layer.header(COPY_HEADER, "1"))
            .seed(1),
        |builder, (destination, versions)| builder.backends(backends(destination, versions, log)),
    )
}

/// Sends a GET for `path` with `Host: host` (none when `None`); returns status and body.
async fn send(router: &Router, host: Option<&str>, path: &str) -> (StatusCode, String) {
    let mut req = Request::get(path);
    if let Some(host) = host {
        req = req.header("host", host);
    }
    let response = router
        .clone()
        .oneshot(req.body(Full::<Bytes>::default()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn bookinfo(log: &Log) -> RouterBuilder<'static, Instance> {
    static CONFIG: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        Config::from_yaml(&format!(
            "{BOOKINFO_ALL_V1}---\n{BOOKINFO_DESTINATION_RULES}"
        ))
        .unwrap()
    });
    builder(
        config,
        &[
            ("productpage", &["v1"]),
            ("reviews", &["v1", "v2", "v3"]),
            ("ratings", &["v1", "v2", "v2-mysql", "v2-mysql-vm"]),
            ("details", &["v1", "v2"]),
        ],
        log,
    )
}

#[tokio::test]
async fn bookinfo_all_v1_routes_each_host_to_its_own_v1() {
    let log = Log::default();
    let router = bookinfo(&log).build().unwrap();
    for service in ["productpage", "reviews", "ratings", "details"] {
        let names = [
            service.to_owned(),
            format!("{service}:9080"),
            format!("{service}.default"),
            format!("{service}.default.svc"),
            format!("{service}.default.svc.cluster.local"),
            format!("{}.Default.svc.cluster.local.:9080", service.to_uppercase()),
        ];
        for host in names {
            assert_eq!(
                send(&router, Some(&host), "/any").await,
                (StatusCode::OK, format!("{service} v1")),
                "Host: {host}"
            );
        }
    }
    assert!(router.mirrors().is_empty());
}

#[tokio::test]
async fn with_several_hosts_an_unknown_host_is_404_unless_a_default_is_set() {
    let log = Log::default();
    let router = bookinfo(&log).build().unwrap();
    for host in [Some("example.com"), Some("reviews.other"), None] {
        assert_eq!(
            send(&router, host, "/").await,
            (
                StatusCode::NOT_FOUND,
                "no rule serves this host\n".to_owned()
            ),
            "Host: {host:?}"
        );
    }
    assert!(log.lock().unwrap().is_empty());

    let router = bookinfo(&log).default_host("ratings").build().unwrap();
    for host in [Some("example.com"), None] {
        assert_eq!(
            send(&router, host, "/").await,
            (StatusCode::OK, "ratings v1".to_owned()),
            "Host: {host:?}"
        );
    }
    // Known hosts keep their own rules.
    assert_eq!(send(&router, Some("details"), "/").await.1, "details v1");

    // A full name selects the host too.
    let router = bookinfo(&log)
        .default_host("details.default.svc.cluster.local")
        .build()
        .unwrap();
    assert_eq!(send(&router, None, "/").await.1, "details v1");

    let err = bookinfo(&log).default_host("nowhere").build().unwrap_err();
    assert!(
        matches!(&err, BuildError::UnknownDefaultHost { host, .. } if host == "nowhere"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "default host `nowhere`: no rule serves it; the rules serve [productpage, reviews, ratings, details]"
    );
}

#[tokio::test]
async fn the_uri_authority_names_the_host_without_a_host_header() {
    let log = Log::default();
    let router = bookinfo(&log).build().unwrap();
    // As HTTP/2 requests arrive: `:authority` in the URI, no `Host` header.
    let req = Request::get("http://details.default.svc.cluster.local:9080/details/0")
        .body(Full::<Bytes>::default())
        .unwrap();
    let response = router.clone().oneshot(req).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "details v1");
}

/// Two hosts mirroring differently: each must keep its own mirror.
const TWO_HOSTS: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front}
spec:
  hosts: [front]
  http:
  - route: [{destination: {host: front, subset: v1}}]
    mirror: {host: front, subset: v2}
    mirrorPercentage: {value: 100}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: back}
spec:
  hosts: [back]
  http:
  - route: [{destination: {host: back, subset: v1}}]
    mirror: {host: back, subset: v2}
    mirrorPercentage: {value: 0}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: front}
spec:
  host: front
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: back}
spec:
  host: back
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"#;

#[tokio::test]
async fn each_host_gets_its_own_mirror() {
    let log = Log::default();
    let config = Config::from_yaml(TWO_HOSTS).unwrap();
    let router = builder(
        &config,
        &[("front", &["v1", "v2"]), ("back", &["v1", "v2"])],
        &log,
    )
    .build()
    .unwrap();
    const N: usize = 50;
    for i in 0..N {
        assert_eq!(
            send(&router, Some("back"), &format!("/b{i}")).await.1,
            "back v1"
        );
        assert_eq!(
            send(&router, Some("front"), &format!("/f{i}")).await.1,
            "front v1"
        );
    }
    router.wait_idle().await;
    let log = log.lock().unwrap();
    let copies = |destination: &str| {
        log.iter()
            .filter(|(d, v, _, copy)| d == destination && v == "v2" && *copy)
            .count()
    };
    assert_eq!(copies("front"), N, "front mirrors every request");
    assert_eq!(copies("back"), 0, "back mirrors none");
    let seen: Vec<(String, u64)> = router
        .mirrors()
        .iter()
        .map(|m| (m.rule.clone(), m.handle.stats().seen))
        .collect();
    assert_eq!(
        seen,
        [
            ("front/0".to_owned(), N as u64),
            ("back/0".to_owned(), N as u64)
        ]
    );
}

#[tokio::test]
async fn two_hosts_mirror_each_at_its_own_percentage() {
    let yaml = TWO_HOSTS
        .replace(
            "mirrorPercentage: {value: 100}",
            "mirrorPercentage: {value: 20}",
        )
        .replace(
            "mirrorPercentage: {value: 0}",
            "mirrorPercentage: {value: 70}",
        );
    let config = Config::from_yaml(&yaml).unwrap();
    let log = Log::default();
    let router = builder(
        &config,
        &[("front", &["v1", "v2"]), ("back", &["v1", "v2"])],
        &log,
    )
    .build()
    .unwrap();
    const N: usize = 2000;
    for i in 0..N {
        assert_eq!(
            send(&router, Some("front"), &format!("/f{i}")).await.1,
            "front v1"
        );
        assert_eq!(
            send(&router, Some("back"), &format!("/b{i}")).await.1,
            "back v1"
        );
        // Copies beyond the in-flight limit are shed; wait so every sampled one lands.
        router.wait_idle().await;
    }
    let log = log.lock().unwrap();
    let copies = |destination: &str, prefix: &str| {
        log.iter()
            .filter(|(d, v, path, copy)| {
                d == destination && v == "v2" && *copy && path.starts_with(prefix)
            })
            .count()
    };
    // Each host's requests are copied to its own mirror only.
    assert_eq!(copies("front", "/b") + copies("back", "/f"), 0);
    // Five standard deviations of a binomial(2000, p): about 89 at 20%, 102 at 70%.
    for (host, prefix, percent, bound) in [("front", "/f", 0.2, 89.0), ("back", "/b", 0.7, 102.0)] {
        let got = copies(host, prefix);
        assert!(
            (got as f64 - N as f64 * percent).abs() < bound,
            "{host}: {got} copies of {N} at {percent}"
        );
    }
    let mirrored: Vec<(String, u64, u64)> = router
        .mirrors()
        .iter()
        .map(|m| {
            (
                m.rule.clone(),
                m.handle.stats().seen,
                m.handle.stats().mirrored,
            )
        })
        .collect();
    assert_eq!(
        mirrored,
        [
            ("front/0".to_owned(), N as u64, copies("front", "/f") as u64),
            ("back/0".to_owned(), N as u64, copies("back", "/b") as u64)
        ]
    );
}

/// One destination per host pattern, to see which one serves a request.
const SPECIFICITY: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: any}
spec:
  hosts: ["*"]
  http: [{route: [{destination: {host: any}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: example}
spec:
  hosts: ["*.example.com"]
  http: [{route: [{destination: {host: example}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: ["*.api.example.com"]
  http: [{route: [{destination: {host: api}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: www}
spec:
  hosts: [www.example.com]
  http:
  - match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: www}}]
"#;

#[tokio::test]
async fn the_most_specific_host_wins_and_never_falls_through() {
    let log = Log::default();
    let config = Config::from_yaml(SPECIFICITY).unwrap();
    let router = builder(
        &config,
        &[
            ("any", &["v1"]),
            ("example", &["v1"]),
            ("api", &["v1"]),
            ("www", &["v1"]),
        ],
        &log,
    )
    .build()
    .unwrap();
    let cases = [
        ("www.example.com", "/admin/x", "www v1"),
        ("v1.api.example.com", "/", "api v1"),
        ("a.b.api.example.com", "/", "api v1"),
        ("api.example.com", "/", "example v1"),
        ("shop.example.com", "/", "example v1"),
        ("example.com", "/", "any v1"),
        ("other.org", "/", "any v1"),
    ];
    for (host, path, expected) in cases {
        assert_eq!(
            send(&router, Some(host), path).await,
            (StatusCode::OK, expected.to_owned()),
            "Host: {host}"
        );
    }
    // No request without a host is lost either: `*` serves it.
    assert_eq!(send(&router, None, "/").await.1, "any v1");

    // `www.example.com` only routes /admin: anything else is 404, not `*.example.com`'s.
    log.lock().unwrap().clear();
    assert_eq!(
        send(&router, Some("www.example.com"), "/shop").await,
        (
            StatusCode::NOT_FOUND,
            "no rule matches this request\n".to_owned()
        )
    );
    assert!(log.lock().unwrap().is_empty(), "no backend saw it");
}

/// The same short name in two namespaces: each answers to its own qualified names.
const NAMESPACES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: prod}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews-prod}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-staging, namespace: staging}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews-staging}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings.prod.svc.cluster.local]
  http: [{route: [{destination: {host: ratings}}]}]
"#;

#[tokio::test]
async fn short_names_resolve_in_their_namespace() {
    let log = Log::default();
    let config = Config::from_yaml(NAMESPACES).unwrap();
    assert_eq!(config.rules()[0].namespace, "prod");
    assert_eq!(config.rules()[2].namespace, "default");
    let router = builder(
        &config,
        &[
            ("reviews-prod", &["v1"]),
            ("reviews-staging", &["v1"]),
            ("ratings", &["v1"]),
        ],
        &log,
    )
    .build()
    .unwrap();
    let cases = [
        ("reviews.prod", StatusCode::OK, "reviews-prod v1"),
        (
            "reviews.prod.svc.cluster.local",
            StatusCode::OK,
            "reviews-prod v1",
        ),
        ("reviews.staging.svc", StatusCode::OK, "reviews-staging v1"),
        // The bare short name: the first resource to name it keeps it.
        ("reviews", StatusCode::OK, "reviews-prod v1"),
        (
            "reviews.default",
            StatusCode::NOT_FOUND,
            "no rule serves this host\n",
        ),
        // A full name also answers to its shorter qualified forms.
        ("ratings.prod", StatusCode::OK, "ratings v1"),
        ("ratings.prod.svc", StatusCode::OK, "ratings v1"),
        (
            "ratings",
            StatusCode::NOT_FOUND,
            "no rule serves this host\n",
        ),
    ];
    for (host, status, body) in cases {
        assert_eq!(
            send(&router, Some(host), "/").await,
            (status, body.to_owned()),
            "Host: {host}"
        );
    }
}

use support::versions::HTTPBIN_RULE;

#[tokio::test]
async fn a_config_with_one_host_serves_every_host() {
    let log = Log::default();
    let config = Config::from_yaml(HTTPBIN_RULE).unwrap();
    let router = builder(&config, &[("httpbin", &["v1", "v2"])], &log)
        .build()
        .unwrap();
    for host in [
        Some("httpbin"),
        Some("127.0.0.1:8080"),
        Some("example.org"),
        None,
    ] {
        assert_eq!(
            send(&router, host, "/get").await,
            (StatusCode::OK, "httpbin v1".to_owned()),
            "Host: {host:?}"
        );
    }
    router.wait_idle().await;
    assert_eq!(router.mirrors()[0].handle.stats().mirrored, 4);
}
