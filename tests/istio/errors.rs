//! Every refused config says where (document, path, line, column) and what to fix.

use support::versions::HTTPBIN_RULE;
use tower_mirror::istio::{Config, ConfigError};

const VS: &str = "\
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
      weight: 50
    - destination:
        host: reviews
        subset: v2
      weight: 50
    mirror:
      host: reviews
      subset: v3
    mirrorPercentage:
      value: 10
";

const DR: &str = "\
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
  - name: v3
    labels: {version: v3}
";

fn replace(base: &str, from: &str, to: &str) -> String {
    assert!(
        base.contains(from),
        "test bug: {from:?} not in the base config"
    );
    base.replacen(from, to, 1)
}

fn vs(from: &str, to: &str) -> String {
    format!("{}{DR}", replace(VS, from, to))
}

/// Asserts where the error is and that its message says `message`.
#[track_caller]
fn refused(
    yaml: &str,
    document: usize,
    path: &str,
    line: usize,
    column: usize,
    message: &str,
) -> ConfigError {
    let err = match Config::from_yaml(yaml) {
        Ok(config) => panic!("accepted: {config:#?}\n{yaml}"),
        Err(err) => err,
    };
    assert_eq!(
        (err.document(), err.path(), err.line(), err.column()),
        (Some(document), path, Some(line), Some(column)),
        "{err}"
    );
    assert!(
        err.message().contains(message),
        "{err}\nexpected message: {message}"
    );
    assert!(err.to_string().ends_with(err.message()));
    err
}

#[test]
fn display_names_document_resource_path_line_and_column() {
    let err = refused(
        &replace(HTTPBIN_RULE, "weight: 100", "weight: 90"),
        1,
        "spec.route[1].weight",
        15,
        13,
        "weights must sum to 100, got 90",
    );
    assert_eq!(
        err.resource(),
        Some("RouteRule \"mirror-traffic-to-httbin-v2\"")
    );
    assert_eq!(
        err.to_string(),
        "document 1 (RouteRule \"mirror-traffic-to-httbin-v2\"), spec.route[1].weight \
         at line 15, column 13: weights must sum to 100, got 90"
    );
    let source: &dyn std::error::Error = &err;
    assert!(source.source().is_none());
}

#[test]
fn yaml_syntax_errors_have_line_and_column() {
    let err = refused(
        "spec: [1, 2\n",
        1,
        "",
        1,
        7,
        "invalid YAML: unclosed bracket",
    );
    assert_eq!(err.resource(), None);
    assert!(
        err.to_string()
            .starts_with("document 1 at line 1, column 7: invalid YAML"),
        "{err}"
    );
    refused("a: 1\n  b: 2\n", 1, "", 2, 4, "invalid YAML");
    refused("a: 1\na: 2\n", 1, "", 2, 1, "duplicate mapping key");
    refused("a: *nowhere\n", 1, "", 1, 4, "unknown anchor");
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    refused(&deep, 1, "", 1, 33, "nested deeper than 32 levels");
}

#[test]
fn error_in_second_document_names_it() {
    let two = format!(
        "{HTTPBIN_RULE}---\n{}",
        replace(HTTPBIN_RULE, "weight: 100", "weight: 90")
    );
    let err = refused(
        &two,
        2,
        "spec.route[1].weight",
        35,
        13,
        "weights must sum to 100, got 90",
    );
    assert!(
        err.to_string().starts_with("document 2 (RouteRule "),
        "{err}"
    );

    // Syntax errors too, with the line counted in the whole file.
    refused(
        &format!("{HTTPBIN_RULE}---\nkind: [\n"),
        2,
        "",
        21,
        7,
        "invalid YAML",
    );
    // Empty documents count: this is the third.
    refused(
        &format!("{HTTPBIN_RULE}---\n---\nkind: [\n"),
        3,
        "",
        22,
        7,
        "invalid YAML",
    );
    // Windows line endings, directives and end markers do not shift lines.
    let crlf = two.replace('\n', "\r\n");
    refused(
        &crlf,
        2,
        "spec.route[1].weight",
        35,
        13,
        "weights must sum to 100, got 90",
    );
    let marked = format!(
        "%YAML 1.2\n---\n{HTTPBIN_RULE}...\n%YAML 1.2\n---\n{}",
        replace(HTTPBIN_RULE, "weight: 100", "weight: 90")
    );
    refused(
        &marked,
        2,
        "spec.route[1].weight",
        39,
        13,
        "weights must sum to 100, got 90",
    );
}

#[test]
fn document_shape() {
    refused(
        "- a\n- b\n",
        1,
        "",
        1,
        1,
        "a document must be a mapping with apiVersion, kind, metadata and spec",
    );
    refused(
        "kind: RouteRule\n",
        1,
        "apiVersion",
        1,
        1,
        "missing required field `apiVersion`",
    );
    refused(
        "apiVersion: v1\n",
        1,
        "kind",
        1,
        1,
        "missing required field `kind`",
    );
    // Other kinds are skipped with a warning (tests/istio_kinds.rs), not refused.
    let config = Config::from_yaml(&format!(
        "{HTTPBIN_RULE}---\napiVersion: networking.istio.io/v1\nkind: Gateway\n"
    ))
    .unwrap();
    assert_eq!(config.rules().len(), 1);
    assert!(
        config.warnings()[0].starts_with(
            "document 2, kind at line 22, column 7: skipped: tower-mirror does not read kind `Gateway`"
        ),
        "{:?}",
        config.warnings()
    );
    let err = refused(
        &format!(
            "{HTTPBIN_RULE}---\n{HTTPBIN_RULE}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        ),
        3,
        "metadata",
        41,
        1,
        "missing required field `metadata`",
    );
    assert_eq!(err.resource(), Some("VirtualService"));
    refused(
        &replace(
            HTTPBIN_RULE,
            "config.istio.io/v1alpha2",
            "networking.istio.io/v1",
        ),
        1,
        "apiVersion",
        1,
        13,
        "apiVersion `networking.istio.io/v1` has no kind `RouteRule`; expected config.istio.io/v1alpha2",
    );
    refused(
        &replace(VS, "networking.istio.io/v1", "config.istio.io/v1alpha2"),
        1,
        "apiVersion",
        1,
        13,
        "expected networking.istio.io/v1alpha3, networking.istio.io/v1beta1, networking.istio.io/v1",
    );
    refused(
        &replace(
            HTTPBIN_RULE,
            "  name: mirror-traffic-to-httbin-v2\n",
            "  namespace: default\n",
        ),
        1,
        "metadata.name",
        3,
        1,
        "missing required field `name`",
    );
    refused(
        &replace(
            HTTPBIN_RULE,
            "name: mirror-traffic-to-httbin-v2",
            "name: \"\"",
        ),
        1,
        "metadata.name",
        4,
        9,
        "must not be empty",
    );
    refused(
        &format!("{HTTPBIN_RULE}extra: 1\n"),
        1,
        "extra",
        20,
        1,
        "unknown field `extra`; expected one of: apiVersion, kind, metadata, spec, status",
    );
    refused(
        &replace(HTTPBIN_RULE, "spec:\n", "spec: []\nx:\n"),
        1,
        "spec",
        5,
        7,
        "expected a mapping, got a list",
    );
}

#[test]
fn route_rule_weights() {
    refused(
        &replace(HTTPBIN_RULE, "weight: 0", "weight: 101"),
        1,
        "spec.route[1].weight",
        15,
        13,
        "weight must be between 0 and 100, got 101",
    );
    refused(
        &replace(HTTPBIN_RULE, "weight: 0", "weight: -5"),
        1,
        "spec.route[1].weight",
        15,
        13,
        "weight must be between 0 and 100, got -5",
    );
    refused(
        &replace(HTTPBIN_RULE, "weight: 0", "weight: \"0\""),
        1,
        "spec.route[1].weight",
        15,
        13,
        "expected an integer, got the string \"0\"",
    );
    refused(
        &replace(HTTPBIN_RULE, "weight: 0", "weight: 0.5"),
        1,
        "spec.route[1].weight",
        15,
        13,
        "expected an integer, got the number 0.5",
    );
    // A missing weight among several counts as 0, as in Istio.
    refused(
        &replace(HTTPBIN_RULE, "    weight: 100\n", ""),
        1,
        "spec.route[1].weight",
        14,
        13,
        "weights must sum to 100, got 0",
    );
    let no_last_weight = replace(
        &replace(HTTPBIN_RULE, "    weight: 0\n", ""),
        "weight: 100",
        "weight: 60",
    );
    refused(
        &no_last_weight,
        1,
        "spec.route[1]",
        13,
        5,
        "weights must sum to 100, got 60",
    );
}

#[test]
fn route_rule_fields() {
    refused(
        &replace(HTTPBIN_RULE, "name: httpbin", "name: \"\""),
        1,
        "spec.destination.name",
        7,
        11,
        "must not be empty",
    );
    refused(
        &replace(HTTPBIN_RULE, "name: httpbin", "name: 42"),
        1,
        "spec.destination.name",
        7,
        11,
        "expected a string, got the integer 42; quote it",
    );
    refused(
        &replace(HTTPBIN_RULE, "  destination:\n    name: httpbin\n", ""),
        1,
        "spec.destination",
        5,
        1,
        "missing required field `destination`",
    );
    refused(
        &replace(HTTPBIN_RULE, "precedence: 11", "precedence: 4294967296"),
        1,
        "spec.precedence",
        8,
        15,
        "precedence must fit in 32 bits, got 4294967296",
    );
    refused(
        &replace(HTTPBIN_RULE, "precedence: 11", "precedance: 11"),
        1,
        "spec.precedance",
        8,
        3,
        "unknown field `precedance`; expected one of: appendHeaders, corsPolicy, destination, httpFault",
    );
    refused(
        &replace(HTTPBIN_RULE, "version: v1", "version: 1.10"),
        1,
        "spec.route[0].labels.version",
        11,
        16,
        "expected a string, got the number 1.1; quote it",
    );
    refused(
        &replace(HTTPBIN_RULE, "version: v1", "version:"),
        1,
        "spec.route[0].labels.version",
        11,
        14,
        "a label needs a value",
    );
    refused(
        &replace(
            HTTPBIN_RULE,
            "  mirror:\n    name: httpbin\n",
            "  mirror:\n",
        ),
        1,
        "spec.mirror.name",
        16,
        3,
        "missing required field `name`",
    );
    refused(
        &replace(
            HTTPBIN_RULE,
            "  mirror:\n",
            "  redirect: {uri: /v1}\n  mirror:\n",
        ),
        1,
        "spec.redirect",
        16,
        3,
        "`redirect` is not supported",
    );
    refused(
        &replace(
            HTTPBIN_RULE,
            "  precedence: 11\n",
            "  precedence: 11\n  match:\n    source:\n      name: productpage\n",
        ),
        1,
        "spec.match.source",
        10,
        5,
        "`source` is not supported: tower-mirror runs inside one service and does not know the caller",
    );
    refused(
        &replace(
            HTTPBIN_RULE,
            "  precedence: 11\n",
            "  precedence: 11\n  match:\n    request:\n      headers:\n        cookie: {contains: jason}\n",
        ),
        1,
        "spec.match.request.headers.cookie.contains",
        12,
        18,
        "unknown field `contains`; expected one of: exact, prefix, regex",
    );
    refused(
        &replace(
            HTTPBIN_RULE,
            "  precedence: 11\n",
            "  precedence: 11\n  match:\n    request:\n      headers:\n        cookie: {}\n",
        ),
        1,
        "spec.match.request.headers.cookie",
        12,
        17,
        "needs one of `exact`, `prefix` or `regex`",
    );
    refused(
        &replace(
            HTTPBIN_RULE,
            "  route:\n",
            "  route:\n  - destination: {name: ratings}\n    weight: 0\n",
        ),
        1,
        "spec.route[0].destination",
        10,
        5,
        "routing to another service (`ratings`) is not supported",
    );
}

#[test]
fn duplicate_rule_names() {
    // The same resource twice: the later replaces the earlier (tests/istio_validation.rs).
    let two_routes = replace(
        VS,
        "  http:\n",
        "  http:\n  - name: same\n    route: [{destination: {host: reviews}}]\n  - name: same\n    route: [{destination: {host: reviews}}]\n",
    );
    refused(
        &format!("{two_routes}{DR}"),
        1,
        "spec.http[1].name",
        11,
        11,
        "duplicate rule name `reviews/same` (also in document 1)",
    );
}

#[test]
fn virtual_service_subsets() {
    let err = refused(
        &vs("subset: v2", "subset: v9"),
        1,
        "spec.http[0].route[1].destination.subset",
        16,
        17,
        "unknown subset `v9`: the DestinationRule for `reviews` (document 2) defines [v1, v2, v3]",
    );
    assert_eq!(err.resource(), Some("VirtualService \"reviews\""));
    refused(
        VS,
        1,
        "spec.http[0].route[0].destination.subset",
        12,
        17,
        "unknown subset `v1`: no DestinationRule in this config has `host: reviews`",
    );
    refused(
        &vs("subset: v3", "subset: nope"),
        1,
        "spec.http[0].mirror.subset",
        20,
        15,
        "unknown subset `nope`",
    );
    // A second DestinationRule for the host merges (tests/istio_validation.rs).
    refused(
        &format!("{VS}{}", replace(DR, "name: v3", "name: v1")),
        2,
        "spec.subsets[2].name",
        35,
        11,
        "duplicate subset `v1`",
    );
    refused(
        &format!("{VS}{}", replace(DR, "  host: reviews\n", "")),
        2,
        "spec.host",
        28,
        1,
        "missing required field `host`",
    );
}

#[test]
fn virtual_service_weights_and_percentages() {
    // Weights are relative (tests/istio_validation.rs): only negative ones and an all-zero
    // total are refused.
    refused(
        &format!("{}{DR}", VS.replace("weight: 50", "weight: 0")),
        1,
        "spec.http[0].route[1].weight",
        17,
        15,
        "the weights are all 0",
    );
    refused(
        &vs(
            "weight: 50\n    - destination",
            "weight: -40\n    - destination",
        ),
        1,
        "spec.http[0].route[0].weight",
        13,
        15,
        "weight must not be negative, got -40",
    );
    refused(
        &vs("value: 10", "value: 150"),
        1,
        "spec.http[0].mirrorPercentage.value",
        22,
        14,
        "must be between 0 and 100, got 150",
    );
    refused(
        &vs("value: 10", "value: -0.5"),
        1,
        "spec.http[0].mirrorPercentage.value",
        22,
        14,
        "must be between 0 and 100, got -0.5",
    );
    // YAML's non-finite numbers are not numbers to Istio either.
    refused(
        &vs("value: 10", "value: .nan"),
        1,
        "spec.http[0].mirrorPercentage.value",
        22,
        14,
        "expected a number",
    );
    refused(
        &vs("value: 10", "value: .inf"),
        1,
        "spec.http[0].mirrorPercentage.value",
        22,
        14,
        "expected a number",
    );
    refused(
        &vs("value: 10", "value: ten"),
        1,
        "spec.http[0].mirrorPercentage.value",
        22,
        14,
        "expected a number, got the string \"ten\"",
    );
    refused(
        &vs(
            "    mirrorPercentage:\n      value: 10\n",
            "    mirrorPercentage: {}\n",
        ),
        1,
        "spec.http[0].mirrorPercentage.value",
        21,
        5,
        "missing required field `value`",
    );
    refused(
        &vs(
            "    mirrorPercentage:\n",
            "    mirrorPercent: 101\n    mirror_percentage:\n",
        ),
        1,
        "spec.http[0].mirrorPercent",
        21,
        20,
        "must be between 0 and 100, got 101",
    );
    refused(
        &vs(
            "    mirrorPercentage:\n      value: 10\n",
            "    mirrorPercent: 101\n",
        ),
        1,
        "spec.http[0].mirrorPercent",
        21,
        20,
        "must be between 0 and 100, got 101",
    );
    refused(
        &vs(
            "    mirrorPercentage:\n      value: 10\n",
            "    mirrorPercent: 10\n    mirror_percent: 10\n",
        ),
        1,
        "spec.http[0].mirror_percent",
        22,
        5,
        "`mirrorPercent` and `mirror_percent` are the same field; keep one",
    );
    refused(
        &vs(
            "    mirrorPercentage:\n      value: 10\n",
            "    mirrors:\n    - destination: {host: reviews}\n      percentage: {value: 100.5}\n",
        ),
        1,
        "spec.http[0].mirrors",
        21,
        5,
        "set only one of `mirror` or `mirrors`",
    );
}

#[test]
fn virtual_service_fields() {
    refused(
        &vs("  hosts:\n  - reviews\n", "  hosts: []\n"),
        1,
        "spec.hosts",
        6,
        10,
        "a VirtualService without `hosts` is a delegate",
    );
    refused(
        &vs("  hosts:\n  - reviews\n", ""),
        1,
        "spec.hosts",
        5,
        1,
        "a VirtualService without `hosts` is a delegate",
    );
    refused(
        &vs("  - reviews\n", "  - \"\"\n"),
        1,
        "spec.hosts[0]",
        7,
        5,
        "must not be empty",
    );
    refused(
        &vs(
            "host: reviews\n        subset: v2",
            "host: ratings\n        subset: v2",
        ),
        1,
        "spec.http[0].route[1].destination.host",
        15,
        15,
        "all destinations of one route must be the same host, got `reviews` and `ratings`",
    );
    refused(
        &vs("  - route:\n", "  - rout:\n"),
        1,
        "spec.http[0].route",
        9,
        5,
        "missing required field `route`",
    );
    refused(
        &vs("  - route:\n", "  - redirect: {uri: /v1}\n    route:\n"),
        1,
        "spec.http[0].redirect",
        9,
        5,
        "`redirect` is not supported",
    );
    refused(
        &vs("  http:\n", "  tcp:\n  - route: []\n  http:\n"),
        1,
        "spec.tcp",
        8,
        3,
        "`tcp` routes are not supported",
    );
    refused(
        &vs(
            "    mirror:\n      host: reviews\n",
            "    mirror:\n      hots: reviews\n",
        ),
        1,
        "spec.http[0].mirror.host",
        18,
        5,
        "missing required field `host`",
    );
}

#[test]
fn virtual_service_matches() {
    let with_match = |m: &str| {
        vs(
            "  - route:\n",
            &format!("  - match:\n    - {m}\n    route:\n"),
        )
    };
    refused(
        &with_match("uri: {regex: \"([\"}"),
        1,
        "spec.http[0].match[0].uri.regex",
        10,
        20,
        "invalid regex: unclosed character class",
    );
    refused(
        &with_match("uri: {prefix: /a, exact: /b}"),
        1,
        "spec.http[0].match[0].uri.prefix",
        10,
        21,
        "set only one of `exact`, `prefix` or `regex` (got `exact` and `prefix`)",
    );
    refused(
        &with_match("uri: {}"),
        1,
        "spec.http[0].match[0].uri",
        10,
        12,
        "needs one of `exact`, `prefix` or `regex`",
    );
    refused(
        &with_match("uri: /a"),
        1,
        "spec.http[0].match[0].uri",
        10,
        12,
        "expected a mapping, got the string \"/a\"",
    );
    refused(
        &with_match("headers: {\"bad header\": {exact: x}}"),
        1,
        "spec.http[0].match[0].headers.bad header",
        10,
        17,
        "`bad header` is not a valid header name",
    );
    refused(
        &with_match("headers: {uri: {exact: /x}}"),
        1,
        "spec.http[0].match[0].headers.uri",
        10,
        17,
        "Istio ignores `uri` in headers; match on it with `uri` instead",
    );
    refused(
        &with_match("queryParams: {id: {exact: \"1\"}}"),
        1,
        "spec.http[0].match[0].queryParams",
        10,
        7,
        "`queryParams` is not supported",
    );
    refused(
        &with_match("sourceLabels: {app: web}"),
        1,
        "spec.http[0].match[0].sourceLabels",
        10,
        7,
        "`sourceLabels` is not supported",
    );
    refused(
        &with_match("ignoreUriCase: yes"),
        1,
        "spec.http[0].match[0].ignoreUriCase",
        10,
        22,
        "expected `true` or `false`, got the string \"yes\"",
    );
    refused(
        &with_match("url: {prefix: /}"),
        1,
        "spec.http[0].match[0].url",
        10,
        7,
        "unknown field `url`",
    );
}
