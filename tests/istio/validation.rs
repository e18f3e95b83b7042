//! Validation as current Istio does it: weights are relative, DestinationRules for one host
//! merge, names are unique per namespace (a repeated resource replaces the earlier one),
//! `mirrorPercentage` wins over the deprecated `mirrorPercent`, and a VirtualService
//! without hosts is named for what it is.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower_mirror::istio::{Config, Router, Split};
use tower_mirror::route::{Backends, Labels};

fn version(v: &str) -> Labels {
    Labels::from([("version", v)])
}

const SUBSETS: &str = "---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
";

fn weighted(weights: &[Option<i64>]) -> String {
    let mut routes = String::new();
    for (i, weight) in weights.iter().enumerate() {
        routes.push_str(&format!(
            "    - destination: {{host: reviews, subset: v{}}}\n",
            i + 1
        ));
        if let Some(weight) = weight {
            routes.push_str(&format!("      weight: {weight}\n"));
        }
    }
    format!(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  http:
  - route:
{routes}{SUBSETS}"
    )
}

#[test]
fn weights_are_relative() {
    let cases: [(&[Option<i64>], &[u32]); 5] = [
        (&[Some(1), Some(3)], &[1, 3]),
        (&[Some(90), Some(40)], &[90, 40]),
        (&[Some(300), Some(100), Some(0)], &[300, 100, 0]),
        // A missing weight is 0 beside others.
        (&[Some(5), None], &[5, 0]),
        (
            &[Some(i64::from(i32::MAX)), Some(i64::from(i32::MAX))],
            &[i32::MAX as u32, i32::MAX as u32],
        ),
    ];
    for (weights, expected) in cases {
        let config = Config::from_yaml(&weighted(weights)).unwrap();
        let got: Vec<u32> = config.rules()[0].splits.iter().map(|s| s.weight).collect();
        assert_eq!(got, expected, "{weights:?}");
    }
    // A single destination takes everything, whatever its weight.
    let config = Config::from_yaml(&weighted(&[Some(0)])).unwrap();
    assert_eq!(config.rules()[0].splits, [Split::new(version("v1"), 100)]);
}

#[test]
fn only_negative_weights_and_a_zero_total_are_refused() {
    let err = Config::from_yaml(&weighted(&[Some(-1), Some(3)])).unwrap_err();
    assert_eq!(
        (err.path(), err.message()),
        (
            "spec.http[0].route[0].weight",
            "weight must not be negative, got -1"
        )
    );
    for weights in [
        &[Some(0), Some(0)][..],
        &[None, None],
        &[Some(0), None, Some(0)],
    ] {
        let err = Config::from_yaml(&weighted(weights)).unwrap_err();
        assert!(
            err.message()
                .starts_with("the weights are all 0, so no destination would receive traffic"),
            "{weights:?}: {err}"
        );
    }
    let err = Config::from_yaml(&weighted(&[Some(1 << 31), Some(1)])).unwrap_err();
    assert_eq!(
        err.message(),
        "weight must fit in a 32-bit integer, got 2147483648"
    );
}

#[tokio::test]
async fn relative_weights_split_traffic_in_proportion() {
    let config = Config::from_yaml(&weighted(&[Some(1), Some(3)])).unwrap();
    let reviews = Backends::new("reviews")
        .with(version("v1"), Named("v1"))
        .with(version("v2"), Named("v2"));
    let router = Router::builder(&config)
        .backends(reviews)
        .seed(3)
        .build()
        .unwrap();
    const N: usize = 4000;
    let mut v1 = 0;
    for _ in 0..N {
        let req = Request::get("/").body(Full::<Bytes>::default()).unwrap();
        let body = router.clone().oneshot(req).await.unwrap().into_body();
        if body.collect().await.unwrap().to_bytes() == "v1" {
            v1 += 1;
        }
    }
    // 1 in 4; five standard deviations of a binomial(4000, 0.25) is about 137.
    assert!(
        (v1 as f64 - N as f64 / 4.0).abs() < 137.0,
        "v1 served {v1} of {N}"
    );
}

#[tokio::test]
async fn equal_weights_that_do_not_add_up_to_100_split_evenly() {
    // 30 and 30 are relative: half each, as Istio routes them.
    let config = Config::from_yaml(&weighted(&[Some(30), Some(30)])).unwrap();
    let got: Vec<u32> = config.rules()[0].splits.iter().map(|s| s.weight).collect();
    assert_eq!(got, [30, 30]);
    let reviews = Backends::new("reviews")
        .with(version("v1"), Named("v1"))
        .with(version("v2"), Named("v2"));
    let router = Router::builder(&config)
        .backends(reviews)
        .seed(5)
        .build()
        .unwrap();
    const N: usize = 4000;
    let mut v1 = 0;
    for _ in 0..N {
        let req = Request::get("/").body(Full::<Bytes>::default()).unwrap();
        let body = router.clone().oneshot(req).await.unwrap().into_body();
        if body.collect().await.unwrap().to_bytes() == "v1" {
            v1 += 1;
        }
    }
    // Five standard deviations of a binomial(4000, 0.5) is about 158.
    assert!(
        (v1 as f64 - N as f64 / 2.0).abs() < 158.0,
        "v1 served {v1} of {N}"
    );
}

/// A backend that answers with its name, for primaries and copies alike.
#[derive(Clone, Copy)]
struct Named(&'static str);

impl<B> tower::Service<Request<B>> for Named {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::from(self.0))))
    }
}

const ROUTES_V1_AND_V3: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 50
    - destination: {host: reviews, subset: v3}
      weight: 50
";

#[test]
fn destination_rules_for_one_host_merge() {
    // As Istio merges them: subsets add up; for a name defined twice, the first wins.
    let yaml = format!(
        "{ROUTES_V1_AND_V3}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews-v1}}
spec:
  host: reviews
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews-v3}}
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - {{name: v1, labels: {{version: v1-second}}}}
  - {{name: v3, labels: {{version: v3}}}}
"
    );
    let config = Config::from_yaml(&yaml).unwrap();
    assert_eq!(
        config.rules()[0].splits,
        [Split::new(version("v1"), 50), Split::new(version("v3"), 50)]
    );
    assert_eq!(
        config.warnings(),
        [
            "document 3 (DestinationRule \"reviews-v3\"), spec.subsets[0].name at line 27, column 12: \
          ignored: subset `v1` of host `reviews` is already defined in document 2 (Istio keeps \
          the first definition)"
        ]
    );

    // An unknown subset names every rule that defines the host's subsets.
    let err = Config::from_yaml(&yaml.replace("subset: v3}", "subset: v9}")).unwrap_err();
    assert_eq!(
        err.message(),
        "unknown subset `v9`: the DestinationRules for `reviews` (documents 2, 3) define [v1, v3]"
    );
}

#[test]
fn subsets_resolve_in_the_namespace_of_the_route() {
    let route = ROUTES_V1_AND_V3.replace("{name: reviews}", "{name: reviews, namespace: prod}");
    let rule = |host: &str, namespace: &str| {
        format!(
            "---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews, namespace: {namespace}}}
spec:
  host: {host}
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v3, labels: {{version: v3}}}}]
"
        )
    };
    // `reviews` in `prod` is `reviews.prod.svc.cluster.local`, wherever the rule for it is.
    for (host, namespace) in [
        ("reviews", "prod"),
        ("reviews.prod.svc.cluster.local", "default"),
        ("reviews.prod.svc", "istio-system"),
    ] {
        let config = Config::from_yaml(&format!("{route}{}", rule(host, namespace))).unwrap();
        assert_eq!(config.rules()[0].splits.len(), 2, "{host} in {namespace}");
    }
    // Another namespace's `reviews` is another service.
    let err = Config::from_yaml(&format!("{route}{}", rule("reviews", "default"))).unwrap_err();
    assert!(
        err.message().starts_with(
            "unknown subset `v1`: no DestinationRule in this config has `host: reviews`"
        ),
        "{err}"
    );
}

#[test]
fn names_are_unique_per_namespace_and_a_repeated_resource_replaces_the_earlier() {
    let in_namespace = |namespace: &str, host: &str| {
        format!(
            "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web, namespace: {namespace}}}
spec:
  hosts: [{host}]
  http: [{{route: [{{destination: {{host: {host}}}}}]}}]
"
        )
    };
    let config = Config::from_yaml(&format!(
        "{}{}",
        in_namespace("a", "web"),
        in_namespace("b", "web")
    ))
    .unwrap();
    let names: Vec<(&str, &str)> = config
        .rules()
        .iter()
        .map(|r| (r.namespace.as_str(), r.name.as_str()))
        .collect();
    assert_eq!(names, [("a", "web/0"), ("b", "web/0")]);

    // Within one namespace, the same name is the same resource: as with `kubectl apply`
    // of the files in turn, the later one replaces the earlier.
    let config = Config::from_yaml(&format!(
        "{}{}",
        in_namespace("a", "web"),
        in_namespace("a", "www")
    ))
    .unwrap();
    let [rule] = config.rules() else {
        panic!("{:?}", config.rules());
    };
    assert_eq!(
        (rule.name.as_str(), rule.hosts.as_slice()),
        ("web/0", &["www".to_owned()][..])
    );
    assert_eq!(
        config.warnings(),
        [
            "document 2 (VirtualService \"web\"), metadata.name at line 11, column 18: replaces \
          VirtualService \"web\" of document 1 (a later resource of the same kind, namespace \
          and name wins, as with `kubectl apply`)"
        ]
    );

    // Two routes of one VirtualService with the same name are an error.
    let err = Config::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - {name: same, route: [{destination: {host: web}}]}
  - {name: same, route: [{destination: {host: web}}]}
",
    )
    .unwrap_err();
    assert_eq!(
        err.message(),
        "duplicate rule name `web/same` (also in document 1); names must be unique within namespace `default`"
    );
}

const MIRRORED: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: reviews, subset: v2}
    PERCENT
";

#[test]
fn mirror_percentage_wins_over_the_deprecated_mirror_percent() {
    let yaml = MIRRORED.replace(
        "PERCENT",
        "mirrorPercent: 30\n    mirrorPercentage: {value: 12.5}",
    ) + SUBSETS;
    let config = Config::from_yaml(&yaml).unwrap();
    assert_eq!(config.rules()[0].mirrors[0].percent, 12.5);
    assert_eq!(
        config.warnings(),
        [
            "document 1 (VirtualService \"reviews\"), spec.http[0].mirrorPercent at line 9, column 5: \
          ignored: `mirrorPercentage` is set and takes precedence over the deprecated \
          `mirrorPercent`; remove `mirrorPercent`"
        ]
    );
    // Alone, the deprecated field still applies, with a warning.
    let yaml = MIRRORED.replace("PERCENT", "mirrorPercent: 30") + SUBSETS;
    let config = Config::from_yaml(&yaml).unwrap();
    assert_eq!(config.rules()[0].mirrors[0].percent, 30.0);
    assert_eq!(config.warnings().len(), 1);
    assert!(
        config.warnings()[0].ends_with(
            "deprecated: use `mirrorPercentage: {value: ...}` instead of `mirrorPercent`"
        )
    );
}

#[test]
fn a_virtual_service_without_hosts_is_called_a_delegate() {
    let delegate = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: productpage, namespace: nsA}
spec:
  http:
  - route:
    - destination: {host: productpage.nsA.svc.cluster.local}
";
    let err = Config::from_yaml(delegate).unwrap_err();
    assert_eq!(err.path(), "spec.hosts");
    assert_eq!(
        err.message(),
        "a VirtualService without `hosts` is a delegate, whose routes another VirtualService \
         includes with `delegate`; delegate VirtualServices are not supported: give it the \
         hosts it serves"
    );
}
