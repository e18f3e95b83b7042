//! What the Istio reader says: refusals point at the refused field's key, a JWT-claim
//! match says what it needs, a parser limit is told in words, warnings come in file order.

use tower_mirror::istio::Config;

const BASE: &str = "apiVersion: networking.istio.io/v1
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
";

#[test]
fn a_refused_block_field_is_located_at_its_key() {
    // The value of a block mapping starts on the next line; the error must not point there.
    let yaml = format!("{BASE}    redirect:\n      uri: /v2\n      authority: example.com\n");
    let err = Config::from_yaml(&yaml).unwrap_err();
    assert_eq!(err.path(), "spec.http[0].redirect");
    assert_eq!((err.line(), err.column()), (Some(12), Some(5)), "{err}");

    // A refused match condition in block style too.
    let yaml = BASE.replace(
        "  - route:\n",
        "  - match:\n    - queryParams:\n        id:\n          exact: \"1\"\n    route:\n",
    );
    let err = Config::from_yaml(&yaml).unwrap_err();
    assert_eq!(err.path(), "spec.http[0].match[0].queryParams");
    assert_eq!((err.line(), err.column()), (Some(10), Some(7)), "{err}");

    // A missing field is reported at the key of the mapping that lacks it.
    let yaml = BASE.replace("        host: reviews\n", "        subset: v1\n");
    let err = Config::from_yaml(&yaml).unwrap_err();
    assert_eq!(err.path(), "spec.http[0].route[0].destination.host");
    assert_eq!((err.line(), err.column()), (Some(10), Some(7)), "{err}");
}

#[test]
fn an_ignored_block_field_is_warned_at_its_key() {
    let yaml = format!("{BASE}    retries:\n      attempts: 3\n      perTryTimeout: 2s\n");
    let config = Config::from_yaml(&yaml).unwrap();
    assert_eq!(config.warnings().len(), 1);
    assert!(
        config.warnings()[0].contains("spec.http[0].retries at line 12, column 5: ignored:"),
        "{}",
        config.warnings()[0]
    );
}

#[test]
fn a_jwt_claim_match_says_it_needs_request_authentication() {
    let yaml = BASE.replace(
        "  - route:\n",
        "  - match:\n    - headers:\n        \"@request.auth.claims.groups\":\n          exact: admin\n    route:\n",
    );
    let err = Config::from_yaml(&yaml).unwrap_err();
    assert_eq!(
        err.path(),
        "spec.http[0].match[0].headers.@request.auth.claims.groups"
    );
    assert_eq!((err.line(), err.column()), (Some(11), Some(9)));
    assert_eq!(
        err.message(),
        "`@request.auth.claims.groups` matches a claim of the request's JWT, which needs Istio's \
         request authentication (a RequestAuthentication validating the token, on a gateway); \
         tower-mirror does not validate tokens: match on a header instead"
    );
}

#[test]
fn the_node_limit_is_told_in_words() {
    let huge = format!("[{}]", "1,".repeat(250_001));
    let err = Config::from_yaml(&huge).unwrap_err();
    assert_eq!(
        err.message(),
        "invalid YAML: the document has more than 250000 values (mappings, lists and scalars); \
         split it into several documents"
    );
    assert!(
        !err.to_string().contains('{'),
        "no Rust debug output: {err}"
    );
}

#[test]
fn warnings_come_in_file_order() {
    // Found in another order: `retries` once its route is read, `mirrorPercent` while
    // reading the mirror, the `Gateway` in a later document, the repeated subset when the
    // DestinationRules merge.
    let yaml = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  gateways: [mesh]
  http:
  - retries: {attempts: 3}
    route: [{destination: {host: reviews, subset: v1}, weight: 7}]
    mirror: {host: reviews, subset: v2}
    mirrorPercent: 5
    corsPolicy: {allowOrigins: [{exact: \"https://example.com\"}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gateway}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-again}
spec:
  host: reviews
  subsets: [{name: v2, labels: {version: v3}}]
";
    let config = Config::from_yaml(yaml).unwrap();
    let located: Vec<&str> = config
        .warnings()
        .iter()
        .map(|w| {
            let start = w.find(", spec").or_else(|| w.find(", kind")).unwrap() + 2;
            let end = w.find(": ").unwrap();
            &w[start..end]
        })
        .collect();
    assert_eq!(
        located,
        [
            "spec.gateways at line 6, column 3",
            "spec.http[0].retries at line 8, column 5",
            "spec.http[0].route[0].weight at line 9, column 56",
            "spec.http[0].mirrorPercent at line 11, column 5",
            "spec.http[0].corsPolicy at line 12, column 5",
            "kind at line 15, column 7",
            "spec.subsets[0].name at line 30, column 20",
        ],
        "{:#?}",
        config.warnings()
    );
}
