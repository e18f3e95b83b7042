//! Valid Istio configs parse to the expected rules, in match order.

use support::versions::{HTTPBIN_RULE, version};
use tower_mirror::istio::{Config, MirrorTarget, RouteMatch, Split, StringMatch};
use tower_mirror::route::Labels;

#[test]
fn httpbin_mirroring_rule() {
    let config = Config::from_yaml(HTTPBIN_RULE).unwrap();
    assert_eq!(config.rules().len(), 1);
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    let rule = &config.rules()[0];
    assert_eq!(rule.name, "mirror-traffic-to-httbin-v2");
    assert_eq!(rule.destination, "httpbin");
    assert_eq!(rule.hosts, ["httpbin"]);
    assert_eq!(rule.precedence, 11);
    assert!(rule.matches.is_empty());
    assert_eq!(
        rule.splits,
        [Split::new(version("v1"), 100), Split::new(version("v2"), 0)]
    );
    assert_eq!(
        rule.mirrors,
        [MirrorTarget::new("httpbin", version("v2"), 100.0)]
    );
}

#[test]
fn httpbin_mirroring_rule_parses_through_from_str() {
    let config: Config = HTTPBIN_RULE.parse().unwrap();
    assert_eq!(config, Config::from_yaml(HTTPBIN_RULE).unwrap());
}

#[test]
fn route_rule_defaults() {
    let config = Config::from_yaml(
        "apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {name: all-v1}
spec:
  destination: {name: reviews}
  route:
  - labels: {version: v1}
",
    )
    .unwrap();
    let rule = &config.rules()[0];
    assert_eq!(rule.precedence, 0);
    assert_eq!(rule.splits, [Split::new(version("v1"), 100)]);
    assert!(rule.mirrors.is_empty());

    // No route at all: everything to every backend of the destination.
    let config = Config::from_yaml(
        "apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {name: shadow-only}
spec:
  destination: {name: reviews}
  mirror: {name: reviews-next}
",
    )
    .unwrap();
    let rule = &config.rules()[0];
    assert_eq!(rule.splits, [Split::new(Labels::default(), 100)]);
    assert_eq!(
        rule.mirrors,
        [MirrorTarget::new("reviews-next", Labels::default(), 100.0)]
    );
}

#[test]
fn route_rule_header_match() {
    let config = Config::from_yaml(
        r#"apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata:
  name: jason-to-v2
spec:
  destination:
    name: reviews
  precedence: 2
  match:
    request:
      headers:
        uri:
          prefix: /api
        method:
          exact: GET
        cookie:
          regex: "^(.*?;)?(user=jason)(;.*)?$"
  route:
  - labels:
      version: v2
"#,
    )
    .unwrap();
    let rule = &config.rules()[0];
    assert_eq!(rule.matches.len(), 1);
    let m = &rule.matches[0];
    assert_eq!(m.uri, Some(StringMatch::Prefix("/api".into())));
    assert_eq!(m.method, Some(StringMatch::Exact("GET".into())));
    assert_eq!(m.headers.len(), 1);
    assert_eq!(m.headers[0].0, "cookie");
    let StringMatch::Regex(re) = &m.headers[0].1 else {
        panic!("expected a regex, got {:?}", m.headers[0].1);
    };
    assert_eq!(re.as_str(), "^(.*?;)?(user=jason)(;.*)?$");
}

const VS_WITH_DR: &str = r#"
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - httpbin.default.svc.cluster.local
  http:
  - name: canary
    match:
    - headers:
        x-canary:
          exact: "1"
    - uri:
        prefix: /beta
    route:
    - destination:
        host: httpbin
        subset: v2
    mirrors:
    - destination:
        host: httpbin
        subset: v3
      percentage:
        value: 25.5
    - destination:
        host: httpbin-shadow
  - route:
    - destination:
        host: httpbin
        subset: v1
      weight: 90
    - destination:
        host: httpbin
        subset: v2
      weight: 10
    mirror:
      host: httpbin
      subset: v2
    mirrorPercentage:
      value: 12.5
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
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
      zone: a
"#;

#[test]
fn virtual_service_with_destination_rule() {
    let config = Config::from_yaml(VS_WITH_DR).unwrap();
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    let rules = config.rules();
    assert_eq!(rules.len(), 2);

    let canary = &rules[0];
    assert_eq!(canary.name, "httpbin/canary");
    assert_eq!(canary.hosts, ["httpbin.default.svc.cluster.local"]);
    assert_eq!(canary.destination, "httpbin");
    assert_eq!(canary.precedence, 0);
    let mut by_header = RouteMatch::default();
    by_header
        .headers
        .push(("x-canary".into(), StringMatch::Exact("1".into())));
    let mut by_uri = RouteMatch::default();
    by_uri.uri = Some(StringMatch::Prefix("/beta".into()));
    assert_eq!(canary.matches, [by_header, by_uri]);
    assert_eq!(canary.splits, [Split::new(version("v2"), 100)]);
    assert_eq!(
        canary.mirrors,
        [
            MirrorTarget::new(
                "httpbin",
                Labels::from([("version", "v3"), ("zone", "a")]),
                25.5
            ),
            MirrorTarget::new("httpbin-shadow", Labels::default(), 100.0),
        ]
    );

    let default = &rules[1];
    assert_eq!(default.name, "httpbin/1");
    assert!(default.matches.is_empty());
    assert_eq!(
        default.splits,
        [Split::new(version("v1"), 90), Split::new(version("v2"), 10)]
    );
    assert_eq!(
        default.mirrors,
        [MirrorTarget::new("httpbin", version("v2"), 12.5)]
    );
}

#[test]
fn destination_rule_may_come_first() {
    let (vs, dr) = VS_WITH_DR.split_once("---\n").unwrap();
    let swapped = format!("{dr}---\n{vs}");
    let a = Config::from_yaml(VS_WITH_DR).unwrap();
    let b = Config::from_yaml(&swapped).unwrap();
    assert_eq!(a.rules(), b.rules());
}

#[test]
fn legacy_mirror_percent_spellings() {
    for field in ["mirrorPercent: 30", "mirror_percent: 30"] {
        let yaml = format!(
            "apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {{name: r}}
spec:
  hosts: [reviews]
  http:
  - route: [{{destination: {{host: reviews}}}}]
    mirror: {{host: reviews-next}}
    {field}
"
        );
        let config = Config::from_yaml(&yaml).unwrap();
        assert_eq!(
            config.rules()[0].mirrors,
            [MirrorTarget::new("reviews-next", Labels::default(), 30.0)],
            "{field}"
        );
    }
}

#[test]
fn mirror_without_percentage_copies_everything() {
    let config = Config::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
    mirror: {host: reviews}
",
    )
    .unwrap();
    let rule = &config.rules()[0];
    assert_eq!(rule.splits, [Split::new(Labels::default(), 100)]);
    assert_eq!(
        rule.mirrors,
        [MirrorTarget::new("reviews", Labels::default(), 100.0)]
    );
}

#[test]
fn match_order_precedence_then_virtual_services() {
    let config = Config::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs-a}
spec:
  hosts: [ratings]
  http:
  - {name: first, route: [{destination: {host: ratings}}]}
  - {name: second, route: [{destination: {host: ratings}}]}
---
apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {name: low}
spec: {destination: {name: reviews}, precedence: -3}
---
apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {name: b-high}
spec: {destination: {name: reviews}, precedence: 5}
---
apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {name: default}
spec: {destination: {name: reviews}}
---
apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {name: a-high}
spec: {destination: {name: reviews}, precedence: 5}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs-b}
spec:
  hosts: [details]
  http:
  - route: [{destination: {host: details}}]
",
    )
    .unwrap();
    let names: Vec<&str> = config.rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a-high",
            "b-high",
            "default",
            "low",
            "vs-a/first",
            "vs-a/second",
            "vs-b/0"
        ]
    );
    let precedences: Vec<i32> = config.rules().iter().map(|r| r.precedence).collect();
    assert_eq!(precedences, [5, 5, 0, -3, 0, 0, 0]);
}

#[test]
fn ignored_fields_become_warnings() {
    let config = Config::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  gateways: [mesh]
  http:
  - route:
    - destination: {host: reviews, port: {number: 9080}}
    timeout: 2s
    retries: {attempts: 3}
status: {}
",
    )
    .unwrap();
    assert_eq!(config.rules().len(), 1);
    assert_eq!(
        config.rules()[0].timeout,
        Some(std::time::Duration::from_secs(2)),
        "`timeout` is applied (tests/istio_actions.rs), not warned"
    );
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    // In file order.
    assert!(
        warnings[0].starts_with(
            "document 1 (VirtualService \"reviews\"), spec.gateways at line 6, column 3: ignored:"
        ),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1]
            .contains("spec.http[0].route[0].destination.port at line 9, column 36: ignored:"),
        "{}",
        warnings[1]
    );
    assert!(
        warnings[2].contains("spec.http[0].retries at line 11, column 5: ignored:"),
        "{}",
        warnings[2]
    );
}

#[test]
fn empty_documents_and_comments_are_skipped() {
    let yaml = format!("# routing for httpbin\n---\n---\n{HTTPBIN_RULE}---\n# nothing\n...\n");
    let config = Config::from_yaml(&yaml).unwrap();
    assert_eq!(config.rules().len(), 1);
    // Without any resource, the input is refused (see tests/istio_input.rs).
    assert!(Config::from_yaml("# only a comment\n").is_err());
}

#[test]
fn settings_without_effect_are_warnings() {
    let config = Config::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}, weight: 30}]
    mirrorPercentage: {value: 50}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: empty}
spec:
  hosts: [ratings]
",
    )
    .unwrap();
    let rule = &config.rules()[0];
    // A single destination takes all traffic, as in Istio.
    assert_eq!(rule.splits, [Split::new(Labels::default(), 100)]);
    assert!(rule.mirrors.is_empty());
    assert_eq!(config.rules().len(), 1);
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    assert!(warnings[0].contains("spec.http[0].route[0].weight at line 7, column 44: ignored: a single destination receives all traffic, not 30%"), "{}", warnings[0]);
    assert!(
        warnings[1].contains(
            "spec.http[0].mirrorPercentage at line 8, column 5: ignored: there is no `mirror`"
        ),
        "{}",
        warnings[1]
    );
    assert!(
        warnings[2].starts_with(
            "document 2 (VirtualService \"empty\"), spec at line 13, column 1: no `http` routes"
        ),
        "{}",
        warnings[2]
    );
}
