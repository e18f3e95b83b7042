//! Which requests a rule takes: Istio's match semantics over `http::request::Parts`.

use http::request::Parts;
use tower_mirror::istio::{AnchoredRegex, Config, RouteMatch, StringMatch};

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut req = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(()).unwrap().into_parts().0
}

fn get(uri: &str) -> Parts {
    parts("GET", uri, &[])
}

fn uri(m: StringMatch) -> RouteMatch {
    let mut r = RouteMatch::default();
    r.uri = Some(m);
    r
}

fn regex(pattern: &str) -> StringMatch {
    StringMatch::Regex(AnchoredRegex::new(pattern).unwrap())
}

#[test]
fn empty_match_takes_everything() {
    assert!(RouteMatch::default().matches(&parts("DELETE", "/x?y=1", &[("a", "b")])));
}

#[test]
fn uri_exact_ignores_the_query() {
    let m = uri(StringMatch::Exact("/productpage".into()));
    assert!(m.matches(&get("/productpage")));
    assert!(m.matches(&get("/productpage?u=1")));
    assert!(!m.matches(&get("/productpage/")));
    assert!(!m.matches(&get("/Productpage")));
}

#[test]
fn uri_prefix() {
    let m = uri(StringMatch::Prefix("/api/v1".into()));
    assert!(m.matches(&get("/api/v1")));
    assert!(m.matches(&get("/api/v1/users?x=1")));
    assert!(m.matches(&get("/api/v10")));
    assert!(!m.matches(&get("/api")));
    assert!(!m.matches(&get("/other/api/v1")));
}

#[test]
fn uri_regex_must_match_the_whole_path() {
    let m = uri(regex("/users/[0-9]+"));
    assert!(m.matches(&get("/users/42")));
    assert!(m.matches(&get("/users/42?full=1")));
    assert!(!m.matches(&get("/users/42/edit")));
    assert!(!m.matches(&get("/v2/users/42")));
    // Alternation stays inside the anchors.
    let m = uri(regex("/a|/b"));
    assert!(m.matches(&get("/b")));
    assert!(!m.matches(&get("/bx")));
    assert!(!m.matches(&get("/xa")));
}

#[test]
fn ignore_uri_case() {
    let mut m = uri(StringMatch::Prefix("/API".into()));
    assert!(!m.matches(&get("/api/x")));
    m.ignore_uri_case = true;
    assert!(m.matches(&get("/api/x")));
    assert!(m.matches(&get("/Api/x")));
    assert!(!m.matches(&get("/ap")));
    let mut m = uri(StringMatch::Exact("/Login".into()));
    m.ignore_uri_case = true;
    assert!(m.matches(&get("/LOGIN")));
    assert!(!m.matches(&get("/LOGIN/x")));
}

#[test]
fn method() {
    let mut m = RouteMatch::default();
    m.method = Some(StringMatch::Exact("POST".into()));
    assert!(m.matches(&parts("POST", "/", &[])));
    assert!(!m.matches(&parts("GET", "/", &[])));
    m.method = Some(regex("GET|HEAD"));
    assert!(m.matches(&parts("HEAD", "/", &[])));
    assert!(!m.matches(&parts("PATCH", "/", &[])));
}

#[test]
fn headers() {
    let mut m = RouteMatch::default();
    m.headers
        .push(("end-user".into(), StringMatch::Exact("jason".into())));
    assert!(m.matches(&parts("GET", "/", &[("end-user", "jason")])));
    assert!(m.matches(&parts("GET", "/", &[("End-User", "jason")])));
    assert!(!m.matches(&parts("GET", "/", &[("end-user", "Jason")])));
    assert!(!m.matches(&get("/")));

    m.headers
        .push(("cookie".into(), regex("^(.*?;)?(user=jason)(;.*)?$")));
    assert!(m.matches(&parts(
        "GET",
        "/",
        &[("end-user", "jason"), ("cookie", "a=1;user=jason")]
    )));
    // Every condition must hold.
    assert!(!m.matches(&parts(
        "GET",
        "/",
        &[("end-user", "jason"), ("cookie", "user=bob")]
    )));
}

#[test]
fn header_presence_and_repeated_values() {
    let mut m = RouteMatch::default();
    m.headers.push(("x-debug".into(), StringMatch::Present));
    assert!(m.matches(&parts("GET", "/", &[("x-debug", "")])));
    assert!(!m.matches(&get("/")));

    let mut m = RouteMatch::default();
    m.headers
        .push(("x-tag".into(), StringMatch::Exact("a,b".into())));
    assert!(m.matches(&parts("GET", "/", &[("x-tag", "a"), ("x-tag", "b")])));
    assert!(!m.matches(&parts("GET", "/", &[("x-tag", "a")])));
}

#[test]
fn non_utf8_header_only_matches_presence() {
    let mut req = http::Request::get("/").body(()).unwrap();
    req.headers_mut()
        .insert("x-bin", http::HeaderValue::from_bytes(b"\xffab").unwrap());
    let (parts, ()) = req.into_parts();
    let mut m = RouteMatch::default();
    m.headers.push(("x-bin".into(), regex(".*")));
    assert!(!m.matches(&parts));
    m.headers[0].1 = StringMatch::Present;
    assert!(m.matches(&parts));
}

#[test]
fn authority_from_uri_or_host_header() {
    let mut m = RouteMatch::default();
    m.authority = Some(StringMatch::Prefix("reviews".into()));
    assert!(m.matches(&get("http://reviews:9080/")));
    assert!(m.matches(&parts("GET", "/", &[("host", "reviews.default")])));
    assert!(!m.matches(&parts("GET", "/", &[("host", "ratings")])));
    assert!(!m.matches(&get("/")));
}

#[test]
fn rules_from_yaml_first_match_wins() {
    let config = Config::from_yaml(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match:
    - headers:
        end-user: {exact: jason}
      uri: {prefix: /reviews}
    - method: {exact: DELETE}
    route: [{destination: {host: reviews, subset: v2}}]
  - name: debug
    match:
    - headers: {x-debug: {}}
      ignoreUriCase: true
      uri: {exact: /Reviews/1}
    route: [{destination: {host: reviews, subset: v3}}]
  - name: default
    route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
"#,
    )
    .unwrap();
    let pick = |p: &Parts| -> &str {
        config
            .rules()
            .iter()
            .find(|r| r.matches(p))
            .map(|r| r.name.as_str())
            .unwrap()
    };
    assert_eq!(
        pick(&parts("GET", "/reviews/1", &[("end-user", "jason")])),
        "reviews/jason"
    );
    // Both conditions of the first entry must hold...
    assert_eq!(
        pick(&parts("GET", "/ratings", &[("end-user", "jason")])),
        "reviews/default"
    );
    // ...or the second entry alone.
    assert_eq!(pick(&parts("DELETE", "/x", &[])), "reviews/jason");
    assert_eq!(
        pick(&parts("GET", "/reviews/1", &[("x-debug", "1")])),
        "reviews/debug"
    );
    assert_eq!(pick(&parts("GET", "/reviews/1", &[])), "reviews/default");
}

#[test]
fn route_rule_pseudo_headers_match_the_request() {
    let config = Config::from_yaml(
        r#"
apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {name: api-posts}
spec:
  destination: {name: api}
  match:
    request:
      headers:
        uri: {regex: "/posts/[0-9]+"}
        method: {exact: PUT}
        authority: {exact: api.example.com}
        x-version: {prefix: "2."}
"#,
    )
    .unwrap();
    let rule = &config.rules()[0];
    let ok = parts(
        "PUT",
        "/posts/7",
        &[("host", "api.example.com"), ("x-version", "2.1")],
    );
    assert!(rule.matches(&ok));
    assert!(!rule.matches(&parts("PUT", "/posts/7", &[("host", "api.example.com")])));
    assert!(!rule.matches(&parts(
        "GET",
        "/posts/7",
        &[("host", "api.example.com"), ("x-version", "2.1")]
    )));
    assert!(!rule.matches(&parts(
        "PUT",
        "/posts/x",
        &[("host", "api.example.com"), ("x-version", "2.1")]
    )));
}

#[test]
fn string_match_equality_and_display() {
    assert_eq!(regex("a+"), regex("a+"));
    assert_ne!(regex("a+"), regex("a*"));
    assert_ne!(regex("a"), StringMatch::Exact("a".into()));
    assert_eq!(regex("a+").to_string(), "regex \"a+\"");
    assert_eq!(
        StringMatch::Prefix("/x".into()).to_string(),
        "prefix \"/x\""
    );
    assert!(AnchoredRegex::new("(").is_err());
}
