//! Files as people have them: other kinds beside the Istio routing resources are skipped
//! with one warning each, in file order; a `List` (what `kubectl get -o yaml` prints) is
//! read item by item.

use tower_mirror::istio::Config;

/// Bookinfo's `bookinfo-gateway.yaml`, verbatim: a `Gateway` and the `VirtualService`
/// bound to it. From istio/istio, `samples/bookinfo/networking/bookinfo-gateway.yaml` at
/// commit 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c.
const BOOKINFO_GATEWAY: &str = r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: bookinfo-gateway
spec:
  # The selector matches the ingress gateway pod labels.
  # If you installed Istio using Helm following the standard documentation, this would be "istio=ingress"
  selector:
    istio: ingressgateway # use istio default controller
  servers:
  - port:
      number: 8080
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bookinfo
spec:
  hosts:
  - "*"
  gateways:
  - bookinfo-gateway
  http:
  - match:
    - uri:
        exact: /productpage
    - uri:
        prefix: /static
    - uri:
        exact: /login
    - uri:
        exact: /logout
    - uri:
        prefix: /api/v1/products
    route:
    - destination:
        host: productpage
        port:
          number: 9080
"#;

#[test]
fn a_gateway_beside_a_virtual_service_is_skipped_with_a_warning() {
    let config = Config::from_yaml(BOOKINFO_GATEWAY).unwrap();
    let [rule] = config.rules() else {
        panic!("{:?}", config.rules());
    };
    assert_eq!(rule.name, "bookinfo/0");
    assert_eq!(rule.destination, "productpage");
    assert_eq!(rule.matches.len(), 5);
    let skipped: Vec<&String> = config
        .warnings()
        .iter()
        .filter(|w| w.contains("skipped"))
        .collect();
    assert_eq!(
        skipped,
        [
            "document 1, kind at line 2, column 7: skipped: tower-mirror does not read kind \
             `Gateway` (networking.istio.io/v1) \"bookinfo-gateway\"; supported: RouteRule \
             (config.istio.io/v1alpha2); VirtualService and DestinationRule \
             (networking.istio.io/v1alpha3, v1beta1 or v1)"
        ]
    );
}

/// One of each kind a deployment file holds next to its routing, then a route.
const MIXED: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: httpbin}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin}
spec:
  ports: [{name: http, port: 8000, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin-v1}
spec: {replicas: 1}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external}
spec: {hosts: [api.example.com], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec: {egress: [{hosts: ["./*"]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: http}
spec: {parentRefs: [{name: gateway}]}
---
apiVersion: config.istio.io/v1alpha2
kind: DestinationPolicy
metadata: {name: httpbin-circuit-breaker}
spec: {destination: {name: httpbin}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http: [{route: [{destination: {host: httpbin}}]}]
"#;

#[test]
fn every_foreign_kind_is_skipped_once_in_file_order() {
    let config = Config::from_yaml(MIXED).unwrap();
    assert_eq!(config.rules().len(), 1);
    let skipped: Vec<(usize, &str)> = config
        .warnings()
        .iter()
        .map(|w| {
            let document = w
                .strip_prefix("document ")
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap();
            let kind = w.split('`').nth(1).unwrap();
            (document, kind)
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (1, "ServiceAccount"),
            (2, "Service"),
            (3, "Deployment"),
            (4, "ServiceEntry"),
            (5, "Sidecar"),
            (6, "HTTPRoute"),
            (7, "DestinationPolicy"),
        ],
        "{:#?}",
        config.warnings()
    );
}

#[test]
fn only_foreign_kinds_is_an_input_without_istio_resources() {
    let err = Config::from_yaml(
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n\
         apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\n",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no Istio resource in the input (skipped: Service, Gateway); supported:"),
        "{err}"
    );
}

#[test]
fn a_known_kind_with_an_unknown_api_version_is_still_an_error() {
    let err = Config::from_yaml(
        "apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: {name: a}\nspec: {}\n",
    )
    .unwrap_err();
    assert_eq!(err.path(), "apiVersion");
    assert!(
        err.message()
            .starts_with("apiVersion `networking.istio.io/v2` has no kind `VirtualService`")
    );
}

/// What `kubectl get virtualservices,destinationrules,services -o yaml` prints.
const LIST: &str = r#"apiVersion: v1
items:
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata:
    name: reviews
    namespace: default
    resourceVersion: "1234"
    uid: 6a1d0b43-2f2e-4b6c-8a55-0b5d7e0e1a11
  spec:
    hosts: [reviews]
    http:
    - route:
      - destination: {host: reviews, subset: v1}
      mirror: {host: reviews, subset: v2}
      mirrorPercentage: {value: 25}
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: reviews, namespace: default}
  spec:
    host: reviews
    subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
- apiVersion: v1
  kind: Service
  metadata: {name: reviews}
  spec: {ports: [{port: 9080}]}
kind: List
metadata:
  resourceVersion: ""
"#;

#[test]
fn a_list_is_read_item_by_item() {
    let config = Config::from_yaml(LIST).unwrap();
    let [rule] = config.rules() else {
        panic!("{:?}", config.rules());
    };
    assert_eq!(rule.name, "reviews/0");
    assert_eq!(rule.mirrors[0].percent, 25.0);
    assert_eq!(rule.mirrors[0].labels.get("version"), Some("v2"));
    assert_eq!(config.warnings().len(), 1, "{:?}", config.warnings());
    assert!(
        config.warnings()[0]
            .starts_with("document 1, items[2].kind at line 26, column 9: skipped: tower-mirror does not read kind `Service` (v1) \"reviews\""),
        "{}",
        config.warnings()[0]
    );

    // Errors in an item name it by its path in the list.
    let err = Config::from_yaml(&LIST.replace("value: 25", "value: 250")).unwrap_err();
    assert_eq!(err.path(), "items[0].spec.http[0].mirrorPercentage.value");
    assert_eq!((err.line(), err.column()), (Some(16), Some(33)));
    assert_eq!(err.resource(), Some("VirtualService \"reviews\""));

    // A typed list (`VirtualServiceList`) reads the same.
    let typed = LIST.replace("kind: List", "kind: VirtualServiceList");
    assert_eq!(Config::from_yaml(&typed).unwrap().rules().len(), 1);

    // A list of nothing Istio reads is refused like any such input.
    let err = Config::from_yaml("apiVersion: v1\nkind: List\nitems: []\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no Istio resource in the input;"),
        "{err}"
    );
}
